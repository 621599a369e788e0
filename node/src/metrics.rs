//! Counters served at `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    http_requests: AtomicU64,
    graphql_requests: AtomicU64,
    events_appended: AtomicU64,
    login_failures: AtomicU64,
    rtp_refused: AtomicU64,
    errors: DashMap<&'static str, u64>,
    /// IVR prompt starts: counts at or under each bound of [`PROMPT_START_BOUNDS_US`].
    prompt_start_buckets: [AtomicU64; PROMPT_START_BOUNDS_US.len()],
    prompt_start_count: AtomicU64,
    prompt_start_sum_us: AtomicU64,
}

/// Bucket bounds (microseconds) of the time from an IVR node being recorded to its prompt's
/// first packet.
pub const PROMPT_START_BOUNDS_US: [u64; 12] = [
    250, 500, 1_000, 2_000, 3_000, 5_000, 10_000, 20_000, 30_000, 50_000, 100_000, 250_000,
];

/// The prompt-start histogram at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptStarts {
    /// `(bound in µs, starts at or under it)`, cumulative.
    pub buckets: Vec<(u64, u64)>,
    /// Starts in all.
    pub count: u64,
    /// Their sum in µs.
    pub sum_us: u64,
}

impl Metrics {
    /// Counts an HTTP request.
    pub fn http_request(&self) {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a GraphQL request.
    pub fn graphql_request(&self) {
        self.graphql_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts appended events.
    pub fn events_appended(&self, n: usize) {
        self.events_appended.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts a failed login.
    pub fn login_failure(&self) {
        self.login_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts RTP packets a call's relay refused: they came from a source that was not the
    /// leg's (a stranger spraying the relay's ports).
    pub fn rtp_refused(&self, n: u64) {
        self.rtp_refused.fetch_add(n, Ordering::Relaxed);
    }

    /// Notes how long an IVR prompt took to start after its node was recorded.
    pub fn prompt_started(&self, after: std::time::Duration) {
        let us = u64::try_from(after.as_micros()).unwrap_or(u64::MAX);
        for (bucket, bound) in self.prompt_start_buckets.iter().zip(PROMPT_START_BOUNDS_US) {
            if us <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.prompt_start_count.fetch_add(1, Ordering::Relaxed);
        self.prompt_start_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The prompt-start histogram now.
    pub fn prompt_starts(&self) -> PromptStarts {
        PromptStarts {
            buckets: PROMPT_START_BOUNDS_US
                .iter()
                .zip(&self.prompt_start_buckets)
                .map(|(bound, n)| (*bound, n.load(Ordering::Relaxed)))
                .collect(),
            count: self.prompt_start_count.load(Ordering::Relaxed),
            sum_us: self.prompt_start_sum_us.load(Ordering::Relaxed),
        }
    }

    /// Counts an error by code.
    pub fn error(&self, code: &'static str) {
        *self.errors.entry(code).or_default() += 1;
    }

    /// The text exposition, with the log head and read-model positions.
    pub fn render(&self, log_head: i64, models: &[(&'static str, i64)]) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "callcore_http_requests_total",
            "HTTP requests served.",
            self.http_requests.load(Ordering::Relaxed),
        );
        counter(
            "callcore_graphql_requests_total",
            "GraphQL requests served.",
            self.graphql_requests.load(Ordering::Relaxed),
        );
        counter(
            "callcore_events_appended_total",
            "Events appended by this node.",
            self.events_appended.load(Ordering::Relaxed),
        );
        counter(
            "callcore_login_failures_total",
            "Failed logins.",
            self.login_failures.load(Ordering::Relaxed),
        );
        counter(
            "callcore_rtp_refused_total",
            "RTP packets refused by ended calls' relays: not from the leg's source.",
            self.rtp_refused.load(Ordering::Relaxed),
        );
        let _ = writeln!(out, "# HELP callcore_errors_total API errors by code.\n# TYPE callcore_errors_total counter");
        let mut errors: Vec<_> = self.errors.iter().map(|e| (*e.key(), *e.value())).collect();
        errors.sort_unstable();
        for (code, n) in errors {
            let _ = writeln!(out, "callcore_errors_total{{code=\"{code}\"}} {n}");
        }
        let name = "callcore_ivr_prompt_start_seconds";
        let _ = writeln!(out, "# HELP {name} Time from an IVR node being recorded to its prompt's first RTP packet.\n# TYPE {name} histogram");
        for (bucket, bound) in self.prompt_start_buckets.iter().zip(PROMPT_START_BOUNDS_US) {
            let le = bound as f64 / 1e6;
            let n = bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
        }
        let count = self.prompt_start_count.load(Ordering::Relaxed);
        let sum = self.prompt_start_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
        );
        let _ = writeln!(out, "# HELP callcore_log_head_position Highest committed log position.\n# TYPE callcore_log_head_position gauge\ncallcore_log_head_position {log_head}");
        let _ = writeln!(out, "# HELP callcore_read_model_position Checkpoint of each read model.\n# TYPE callcore_read_model_position gauge");
        for (model, position) in models {
            let _ = writeln!(
                out,
                "callcore_read_model_position{{model=\"{model}\"}} {position}"
            );
        }
        out
    }
}
