//! Prometheus metrics: reconciles, failures and durations by kind, leadership and build.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::Error;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
}

/// The commit the binary was built from: `REPLENISH_GIT_COMMIT` at build time (the
/// images pass it), else `unknown`.
const GIT_COMMIT: &str = match option_env!("REPLENISH_GIT_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    kind: &'static str,
    error: String,
}

/// The operator's metrics and the registry they are exposed from.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    reconciles: Family<KindLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    duration: Family<KindLabels, Histogram>,
    leader: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        // No registry prefix: `replenish_build_info` has the same name in the app and here.
        let mut registry = Registry::default();
        let reconciles = Family::<KindLabels, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        let duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        let leader = Gauge::default();
        let build = Family::<BuildLabels, Gauge>::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION"), commit: GIT_COMMIT }).set(1);
        registry.register("replenish_operator_reconciles", "Reconciliations started", reconciles.clone());
        registry.register(
            "replenish_operator_reconcile_failures",
            "Reconciliations that failed, by error kind",
            failures.clone(),
        );
        registry.register("replenish_operator_reconcile_duration_seconds", "Time spent reconciling", duration.clone());
        registry.register("replenish_operator_leader", "1 while this replica holds the leader Lease", leader.clone());
        registry.register("replenish_build_info", "Version and commit of the running binary (always 1)", build);
        Self { registry: Arc::new(registry), reconciles, failures, duration, leader }
    }
}

impl Metrics {
    /// Counts a reconcile of `kind` and returns a timer that records its duration when dropped.
    pub fn reconcile(&self, kind: &'static str) -> ReconcileTimer {
        self.reconciles.get_or_create(&KindLabels { kind }).inc();
        ReconcileTimer { start: Instant::now(), histogram: self.duration.get_or_create(&KindLabels { kind }).clone() }
    }

    /// Counts a failed reconcile of `kind`.
    pub fn failure(&self, kind: &'static str, error: &Error) {
        self.failures.get_or_create(&FailureLabels { kind, error: error.metric_label() }).inc();
    }

    /// Whether this replica holds the leader Lease (and so runs the controllers).
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Records the time since its creation when dropped, so early returns are measured too.
#[derive(Debug)]
pub struct ReconcileTimer {
    start: Instant,
    histogram: Histogram,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reconciles_failures_and_durations_by_kind() {
        let metrics = Metrics::default();
        drop(metrics.reconcile("tenant"));
        drop(metrics.reconcile("tenant"));
        metrics.failure("device", &Error::AppUnavailable("down".into()));
        let text = metrics.encode();
        assert!(text.contains("replenish_operator_reconciles_total{kind=\"tenant\"} 2"), "{text}");
        assert!(
            text.contains("replenish_operator_reconcile_failures_total{kind=\"device\",error=\"app_unavailable\"} 1"),
            "{text}"
        );
        assert!(text.contains("replenish_operator_reconcile_duration_seconds_count{kind=\"tenant\"} 2"), "{text}");
    }

    #[test]
    fn reports_leadership_and_build() {
        let metrics = Metrics::default();
        assert!(metrics.encode().contains("replenish_operator_leader 0\n"));
        metrics.set_leader(true);
        let text = metrics.encode();
        assert!(text.contains("replenish_operator_leader 1\n"), "{text}");
        let version =
            format!("replenish_build_info{{version=\"{}\",commit=\"{GIT_COMMIT}\"}} 1", env!("CARGO_PKG_VERSION"));
        assert!(text.contains(&version), "{text}");
    }
}
