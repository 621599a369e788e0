//! Append load generator: `writers` concurrent writers append requests of `batch` events for
//! `seconds`, either as fast as they can or paced to a total `rate` of events per second, and
//! the tool reports throughput and the latency distribution of acknowledged appends.
//!
//! `cargo run --release -p benches --bin append_load -- --backend sqlite --writers 16 --batch 1 --seconds 10`
//! `cargo run --release -p benches --bin append_load -- --backend sqlite --writers 16 --rate 5000 --seconds 10`

use std::time::{Duration, Instant};

use benches::{fresh_log, request, Kind};
use clap::Parser;
use hdrhistogram::Histogram;
use uuid::Uuid;

/// Options.
#[derive(Debug, Parser)]
struct Options {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Concurrent writers.
    #[arg(long, default_value_t = 16)]
    writers: usize,
    /// Events per append request.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Duration of the run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Target total events per second (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let kind = Kind::parse(&options.backend)
        .ok_or_else(|| anyhow::anyhow!("--backend must be sqlite or postgres"))?;
    let bench = fresh_log(kind).await?;
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    // Each writer sends one request every `interval` when paced.
    let interval = (options.rate > 0).then(|| {
        Duration::from_secs_f64(options.writers as f64 * options.batch as f64 / options.rate as f64)
    });
    let started = Instant::now();
    let tasks: Vec<_> = (0..options.writers)
        .map(|w| {
            let log = bench.log.clone();
            let batch = options.batch;
            tokio::spawn(async move {
                let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                let stream = Uuid::new_v4();
                let mut version = 0;
                let mut ticker = interval.map(|i| {
                    let mut t = tokio::time::interval_at(
                        tokio::time::Instant::now() + i.mul_f64(w as f64 / 16.0),
                        i,
                    );
                    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                    t
                });
                while Instant::now() < deadline {
                    if let Some(ticker) = ticker.as_mut() {
                        ticker.tick().await;
                    }
                    let sent = Instant::now();
                    log.append(request(stream, version, batch)).await?;
                    latencies.record(sent.elapsed().as_micros().max(1) as u64)?;
                    version += batch as i64;
                }
                anyhow::Ok((latencies, version))
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut events = 0i64;
    for task in tasks {
        let (latencies, written) = task.await??;
        all.add(latencies)?;
        events += written;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "backend={} writers={} batch={} rate={} seconds={:.1}: {} events, {:.0} events/s, {} appends; latency p50={:.2} ms p99={:.2} ms p99.9={:.2} ms max={:.2} ms",
        kind.name(),
        options.writers,
        options.batch,
        if options.rate == 0 { "max".to_owned() } else { options.rate.to_string() },
        elapsed,
        events,
        events as f64 / elapsed,
        all.len(),
        all.value_at_quantile(0.50) as f64 / 1000.0,
        all.value_at_quantile(0.99) as f64 / 1000.0,
        all.value_at_quantile(0.999) as f64 / 1000.0,
        all.max() as f64 / 1000.0,
    );
    bench.log.shutdown().await;
    Ok(())
}
