//! One dispatch decision (`domain::policy::acd::choose`) for the call at the head of a queue
//! of 1,000 waiting calls with 500 member agents: the goal is under 50 µs.
//!
//! `cargo bench -p benches --bench acd`

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use criterion::{criterion_main, Criterion};
use domain::agent::WorkState;
use domain::policy::acd::{choose, Candidate, Placing};
use domain::queue::DistributionRule;
use uuid::Uuid;

/// 500 members: a third busy, some on break, the rest free with varied idle times and counts.
fn members() -> Vec<Candidate> {
    let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_else(Utc::now);
    (0..500u32)
        .map(|n| Candidate {
            extension_id: Uuid::from_u128(u128::from(n) + 1),
            order: n as usize,
            free: n % 3 != 0,
            state: if n % 17 == 0 {
                WorkState::Break
            } else {
                WorkState::Working
            },
            idle_since: start + chrono::Duration::seconds(i64::from((n * 7_919) % 3_600)),
            calls: (n * 31) % 40,
            talk_seconds: u64::from((n * 104_729) % 20_000),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let members = members();
    let excluded = BTreeSet::from([WorkState::Break, WorkState::Away]);
    // The head of 1,000 waiting calls: FIFO, so the decision is about it alone; it already
    // rang ten members.
    let waiting: Vec<Placing> = (0..1_000u32)
        .map(|n| Placing {
            tried: (0..10u128).map(|t| Uuid::from_u128(t * 3 + 2)).collect(),
            last_order: Some(250),
            random: u64::from(n) * 2_654_435_761,
        })
        .collect();
    let head = &waiting[0];
    let mut group = c.benchmark_group("acd_choose_500_agents_1000_waiting");
    for rule in [
        DistributionRule::LongestIdle,
        DistributionRule::RoundRobin,
        DistributionRule::FewestCalls,
        DistributionRule::LeastTalkTime,
        DistributionRule::RingAll,
        DistributionRule::Sequential,
        DistributionRule::Random,
    ] {
        group.bench_function(format!("{rule:?}"), |b| {
            b.iter(|| choose(rule, &members, &excluded, head))
        });
    }
    group.finish();
}

// The macro generates an undocumented function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(acd, super::bench);
}
criterion_main!(group::acd);
