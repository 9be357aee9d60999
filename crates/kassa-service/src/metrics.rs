//! Prometheus metrics, kept in memory and rendered as text on `/metrics`.
//!
//! HTTP requests are labelled by route template (`/pay/{id}`, never the raw path) so that
//! label sets stay bounded. Job queue depth is read from the database at scrape time, so every
//! instance reports the shared queue; job outcomes are counted per process.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use kassa_core::Timestamp;

/// Upper bounds of the latency histogram buckets, in microseconds.
const BUCKETS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS_US.len()],
    count: u64,
    sum_us: u64,
}

impl Histogram {
    fn observe(&mut self, us: u64) {
        for (i, bound) in BUCKETS_US.iter().enumerate() {
            if us <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
    jobs: BTreeMap<(String, &'static str), u64>,
    chains: BTreeMap<String, ChainHealth>,
}

/// What a network's watcher last found out about its node and itself (for `/readyz` and
/// `/metrics`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainHealth {
    /// The node's best height at the last answer.
    pub node_height: Option<u64>,
    /// The height the watcher has processed.
    pub watcher_height: Option<i64>,
    /// The node says it is syncing.
    pub syncing: bool,
    /// The node is behind the watcher (re-indexing, restored from a backup): the watcher waits.
    pub waiting: bool,
    /// The last round reached the node.
    pub reachable: bool,
    /// When the last round succeeded.
    pub last_success: Option<Timestamp>,
    /// Since when rounds fail (none while they succeed).
    pub failing_since: Option<Timestamp>,
    /// The last round's error.
    pub last_error: Option<String>,
    /// Rounds that failed.
    pub errors: u64,
    /// Withdrawals found spending a payment that left the chain.
    pub unfunded_withdrawals: u64,
}

impl ChainHealth {
    /// Blocks the watcher is behind the node.
    pub fn lag(&self) -> Option<u64> {
        let node = self.node_height?;
        let ours = u64::try_from(self.watcher_height?).unwrap_or(0);
        Some(node.saturating_sub(ours))
    }
}

/// The process's metric registry.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// How a job attempt ended, for the `kassa_job_runs_total` counter.
#[derive(Clone, Copy, Debug)]
pub enum JobOutcome {
    /// Succeeded.
    Ok,
    /// Failed and will be retried.
    Retry,
    /// Failed for good.
    Failed,
    /// Not run: its lane was full; back in the queue uncounted.
    Deferred,
}

impl Metrics {
    /// Records one HTTP request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *inner
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        inner
            .latency
            .entry((method.to_owned(), route.to_owned()))
            .or_default()
            .observe(us);
    }

    /// Records one finished job attempt.
    pub fn observe_job(&self, kind: &str, outcome: JobOutcome) {
        let outcome = match outcome {
            JobOutcome::Ok => "ok",
            JobOutcome::Retry => "retry",
            JobOutcome::Failed => "failed",
            JobOutcome::Deferred => "deferred",
        };
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *inner.jobs.entry((kind.to_owned(), outcome)).or_default() += 1;
    }

    /// A watcher round of `network` succeeded.
    pub fn chain_round_ok(
        &self,
        network: &str,
        node_height: u64,
        syncing: bool,
        watcher_height: i64,
        waiting: bool,
        now: Timestamp,
    ) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let h = inner.chains.entry(network.to_owned()).or_default();
        h.node_height = Some(node_height);
        h.watcher_height = Some(watcher_height);
        h.syncing = syncing;
        h.waiting = waiting;
        h.reachable = true;
        h.last_success = Some(now);
        h.failing_since = None;
        h.last_error = None;
    }

    /// A watcher round of `network` failed (`unreachable`: the node did not answer).
    pub fn chain_round_failed(
        &self,
        network: &str,
        error: &str,
        unreachable: bool,
        now: Timestamp,
    ) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let h = inner.chains.entry(network.to_owned()).or_default();
        h.reachable = !unreachable;
        h.failing_since = h.failing_since.or(Some(now));
        h.last_error = Some(error.chars().take(300).collect());
        h.errors += 1;
    }

    /// A withdrawal of `network` spends a payment that left the chain.
    pub fn withdrawal_unfunded(&self, network: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .chains
            .entry(network.to_owned())
            .or_default()
            .unfunded_withdrawals += 1;
    }

    /// The health of `network`'s watcher (`None` before its first round).
    pub fn chain(&self, network: &str) -> Option<ChainHealth> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.chains.get(network).cloned()
    }

    /// Renders everything in the Prometheus text format. `queue` is the current
    /// (state, kind, count) of unfinished jobs, read by the caller from the database.
    pub fn render(&self, queue: &[(&str, &str, i64)]) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP kassa_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE kassa_http_requests_total counter\n");
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "kassa_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        out.push_str("# HELP kassa_http_request_duration_seconds HTTP request latency by method and route.\n");
        out.push_str("# TYPE kassa_http_request_duration_seconds histogram\n");
        for ((method, route), h) in &inner.latency {
            let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
            for (bound, n) in BUCKETS_US.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "kassa_http_request_duration_seconds_bucket{{{labels},le=\"{}\"}} {n}",
                    seconds(*bound)
                );
            }
            let _ = writeln!(
                out,
                "kassa_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "kassa_http_request_duration_seconds_sum{{{labels}}} {}",
                seconds(h.sum_us)
            );
            let _ = writeln!(
                out,
                "kassa_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP kassa_job_runs_total Job attempts finished by this process, by kind and outcome.\n");
        out.push_str("# TYPE kassa_job_runs_total counter\n");
        for ((kind, outcome), n) in &inner.jobs {
            let _ = writeln!(
                out,
                "kassa_job_runs_total{{kind=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(kind)
            );
        }
        out.push_str("# HELP kassa_jobs Unfinished jobs in the shared queue, by state and kind.\n");
        out.push_str("# TYPE kassa_jobs gauge\n");
        for state in ["queued", "running", "failed"] {
            let total: i64 = queue.iter().filter(|q| q.0 == state).map(|q| q.2).sum();
            let _ = writeln!(out, "kassa_jobs{{state=\"{state}\",kind=\"all\"}} {total}");
        }
        for (state, kind, n) in queue {
            let _ = writeln!(
                out,
                "kassa_jobs{{state=\"{state}\",kind=\"{}\"}} {n}",
                escape(kind)
            );
        }
        render_chains(&mut out, &inner.chains);
        out
    }
}

fn render_chains(out: &mut String, chains: &BTreeMap<String, ChainHealth>) {
    let gauge = |out: &mut String,
                 name: &str,
                 help: &str,
                 kind: &str,
                 v: &dyn Fn(&ChainHealth) -> Option<String>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (net, h) in chains {
            if let Some(v) = v(h) {
                let _ = writeln!(out, "{name}{{network=\"{}\"}} {v}", escape(net));
            }
        }
    };
    gauge(
        out,
        "kassa_chain_node_height",
        "The node's best height at its last answer.",
        "gauge",
        &|h| h.node_height.map(|v| v.to_string()),
    );
    gauge(
        out,
        "kassa_chain_watcher_height",
        "The height the watcher has processed.",
        "gauge",
        &|h| h.watcher_height.map(|v| v.to_string()),
    );
    gauge(
        out,
        "kassa_chain_lag_blocks",
        "Blocks the watcher is behind the node.",
        "gauge",
        &|h| h.lag().map(|v| v.to_string()),
    );
    gauge(
        out,
        "kassa_chain_node_up",
        "1 when the last watcher round reached the node.",
        "gauge",
        &|h| Some(u8::from(h.reachable).to_string()),
    );
    gauge(
        out,
        "kassa_chain_node_syncing",
        "1 while the node says it is syncing.",
        "gauge",
        &|h| Some(u8::from(h.syncing).to_string()),
    );
    gauge(
        out,
        "kassa_chain_waiting",
        "1 while the node is behind the watcher (the watcher waits).",
        "gauge",
        &|h| Some(u8::from(h.waiting).to_string()),
    );
    gauge(
        out,
        "kassa_chain_last_success_timestamp_seconds",
        "When the last watcher round succeeded.",
        "gauge",
        &|h| {
            h.last_success
                .map(|t| seconds(u64::try_from(t.as_micros()).unwrap_or(0)))
        },
    );
    gauge(
        out,
        "kassa_chain_round_errors_total",
        "Watcher rounds that failed.",
        "counter",
        &|h| Some(h.errors.to_string()),
    );
    gauge(
        out,
        "kassa_withdrawals_unfunded_total",
        "Withdrawals found spending a payment that left the chain.",
        "counter",
        &|h| Some(h.unfunded_withdrawals.to_string()),
    );
}

/// Microseconds as decimal seconds, without going through floating point.
fn seconds(us: u64) -> String {
    let s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    let s = s.trim_end_matches('0');
    s.strip_suffix('.')
        .map_or_else(|| s.to_owned(), str::to_owned)
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.observe_request("GET", "/healthz", 200, Duration::from_micros(700));
        m.observe_request("GET", "/healthz", 200, Duration::from_millis(30));
        m.observe_job("mail.send", JobOutcome::Retry);
        let text = m.render(&[("queued", "mail.send", 3), ("failed", "mail.send", 1)]);
        assert!(text.contains(
            "kassa_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(text.contains("kassa_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.0005\"} 0"));
        assert!(text.contains("kassa_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.001\"} 1"));
        assert!(text.contains("kassa_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.05\"} 2"));
        assert!(text.contains(
            "kassa_http_request_duration_seconds_sum{method=\"GET\",route=\"/healthz\"} 0.0307"
        ));
        assert!(text.contains("kassa_job_runs_total{kind=\"mail.send\",outcome=\"retry\"} 1"));
        assert!(text.contains("kassa_jobs{state=\"queued\",kind=\"all\"} 3"));
        assert!(text.contains("kassa_jobs{state=\"running\",kind=\"all\"} 0"));
    }

    #[test]
    fn chain_health_is_exported() {
        let m = Metrics::default();
        let t = Timestamp::from_micros(1_700_000_000_000_000);
        m.chain_round_ok("LTC", 120, false, 118, false, t);
        m.chain_round_failed("LTC", "connection refused", true, t);
        let text = m.render(&[]);
        assert!(
            text.contains("kassa_chain_node_height{network=\"LTC\"} 120"),
            "{text}"
        );
        assert!(text.contains("kassa_chain_lag_blocks{network=\"LTC\"} 2"));
        assert!(text.contains("kassa_chain_node_up{network=\"LTC\"} 0"));
        assert!(text.contains("kassa_chain_round_errors_total{network=\"LTC\"} 1"));
        assert!(
            text.contains("kassa_chain_last_success_timestamp_seconds{network=\"LTC\"} 1700000000")
        );
        let h = m.chain("LTC").unwrap();
        assert_eq!((h.failing_since, h.last_success), (Some(t), Some(t)));
    }

    #[test]
    fn seconds_are_exact() {
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(2_500_000), "2.5");
        assert_eq!(seconds(1), "0.000001");
    }
}
