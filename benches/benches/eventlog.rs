//! Event-log benchmarks on both backends: append throughput (single events and batches of
//! 100, with 1 and 16 concurrent writers) and subscription catch-up throughput.
//!
//! `cargo bench -p benches --bench eventlog`

use std::time::{Duration, Instant};

use benches::{fresh_log, request, Kind};
use criterion::{criterion_main, Criterion, Throughput};
use uuid::Uuid;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// `writers` tasks, each appending `iters` requests of `batch` events to its own stream.
fn append(c: &mut Criterion, kind: Kind, writers: usize, batch: usize) {
    let rt = runtime();
    let bench = rt.block_on(fresh_log(kind)).expect("a fresh log opens");
    let mut group = c.benchmark_group(format!("append/{}", kind.name()));
    group.throughput(Throughput::Elements((writers * batch) as u64));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function(format!("{writers}_writers_x_{batch}_events"), |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let log = bench.log.clone();
            async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..writers)
                    .map(|_| {
                        let log = log.clone();
                        tokio::spawn(async move {
                            let stream = Uuid::new_v4();
                            for i in 0..iters {
                                log.append(request(stream, (i as i64) * batch as i64, batch))
                                    .await
                                    .expect("append succeeds");
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("writer finishes");
                }
                start.elapsed()
            }
        });
    });
    group.finish();
}

/// Reading `total` stored events through a subscription from position 0.
fn catch_up(c: &mut Criterion, kind: Kind) {
    const TOTAL: usize = 200_000;
    let rt = runtime();
    let bench = rt.block_on(fresh_log(kind)).expect("a fresh log opens");
    rt.block_on(async {
        for _ in 0..TOTAL / 1_000 {
            bench
                .log
                .append(request(Uuid::new_v4(), 0, 1_000))
                .await
                .expect("append succeeds");
        }
    });
    let mut group = c.benchmark_group(format!("catch_up/{}", kind.name()));
    group.throughput(Throughput::Elements(TOTAL as u64));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    group.bench_function("subscribe_from_0", |b| {
        b.to_async(&rt).iter(|| {
            let log = bench.log.clone();
            async move {
                let mut subscription = log.subscribe(0);
                let mut read = 0;
                while read < TOTAL {
                    read += subscription
                        .next_batch(2_000)
                        .await
                        .expect("read succeeds")
                        .len();
                }
                read
            }
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let kinds: Vec<Kind> = match std::env::var("CALLCORE_BENCH_BACKENDS") {
        Ok(list) => list.split(',').filter_map(Kind::parse).collect(),
        Err(_) => vec![Kind::Sqlite, Kind::Postgres],
    };
    for kind in kinds {
        append(c, kind, 1, 1);
        append(c, kind, 16, 1);
        append(c, kind, 1, 100);
        append(c, kind, 16, 100);
        catch_up(c, kind);
    }
}

// The macro generates an undocumented function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(eventlog, super::benches);
}
criterion_main!(group::eventlog);
