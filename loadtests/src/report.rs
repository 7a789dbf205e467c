//! The run's report: JSON for machines, a text summary for people.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::checks::{Check, Ledger};
use crate::client::Fleet;
use crate::config::RunConfig;
use crate::stats::{Endpoint, EndpointStats, Snapshot};
use crate::threshold::ThresholdResult;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    /// Fastest.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// One endpoint's numbers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointReport {
    /// Method and route.
    pub route: String,
    /// Requests sent.
    pub requests: u64,
    /// Requests per second over the run.
    pub throughput: f64,
    /// Latency of answered requests.
    pub latency_ms: Latency,
    /// Answers by class: `2xx`, `404`, `409`, `410`, `422`, `429`, `other_4xx`, `5xx`, `transport_error`.
    pub statuses: BTreeMap<String, u64>,
    /// Answers by exact status code.
    pub status_codes: BTreeMap<u16, u64>,
}

/// What the simulator counted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counters {
    /// Distinct detections answered 2xx.
    pub detections_ok: u64,
    /// Distinct detections with no answer or a 5xx.
    pub detections_uncertain: u64,
    /// New prompts.
    pub prompts: u64,
    /// Intents accepted (2xx).
    pub accepted: u64,
    /// Intents declined (2xx).
    pub rejected: u64,
    /// Acceptances refused for budget (422).
    pub budget_exceeded: u64,
    /// Decisions on expired intents (410).
    pub expired: u64,
    /// Duplicate event ids compared / mismatched.
    pub duplicates_compared: u64,
    /// Duplicates whose answer differed.
    pub duplicate_mismatches: u64,
    /// Retries compared.
    pub retries_compared: u64,
    /// Retries whose answer differed.
    pub retry_mismatches: u64,
    /// A few mismatching answers.
    pub examples: Vec<String>,
}

/// Requests, errors and latency of one second of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecondReport {
    /// Seconds since the start.
    pub t: u64,
    /// Detections sent in this second.
    pub detections: u64,
    /// Decisions sent in this second.
    pub decisions: u64,
    /// Not-2xx answers and transport errors.
    pub errors: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// The target URL.
    pub target: String,
    /// Tenant created for the run (none when an existing tenant's key was used).
    pub tenant: Option<String>,
    /// Devices simulated.
    pub devices: usize,
    /// The run's settings.
    pub config: serde_json::Value,
    /// When the load started.
    pub started_at: DateTime<Utc>,
    /// From the first arrival to the last answer, seconds.
    pub duration_s: f64,
    /// Per endpoint.
    pub endpoints: Vec<EndpointReport>,
    /// The simulator's own counts.
    pub counters: Counters,
    /// Correctness checks read back through the API.
    pub checks: Vec<Check>,
    /// Per-second timeline.
    pub timeline: Vec<SecondReport>,
    /// The `--threshold` criteria and how they fared.
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    /// What became of the tenant the run created: `deactivated`, `kept`, or why deactivating failed.
    #[serde(default)]
    pub cleanup: Option<String>,
    /// With `--webhooks`: what the local receiver got, against the events listed for the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<crate::webhooks::WebhookReport>,
    /// Per-window percentiles of the timeline (`--window-secs`) and how many windows broke the bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<crate::windows::Windows>,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        404 => "404",
        409 => "409",
        410 => "410",
        422 => "422",
        429 => "429",
        400..=499 => "other_4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

fn endpoint_report(endpoint: Endpoint, stats: &EndpointStats, seconds: f64) -> EndpointReport {
    let h = &stats.latency;
    let q = |q: f64| if h.is_empty() { 0.0 } else { ms(h.value_at_quantile(q)) };
    let mut statuses = BTreeMap::new();
    for (status, n) in &stats.statuses {
        *statuses.entry(class(*status).to_owned()).or_insert(0) += n;
    }
    if stats.transport_errors > 0 {
        statuses.insert("transport_error".to_owned(), stats.transport_errors);
    }
    EndpointReport {
        route: endpoint.route().to_owned(),
        requests: stats.requests(),
        throughput: stats.requests() as f64 / seconds.max(1e-9),
        latency_ms: Latency {
            min: if h.is_empty() { 0.0 } else { ms(h.min()) },
            p50: q(0.50),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: ms(h.max()),
            mean: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
        },
        statuses,
        status_codes: stats.statuses.clone(),
    }
}

impl Report {
    /// Builds the report from what was recorded and checked.
    pub fn build(
        config: &RunConfig,
        fleet: &Fleet,
        started_at: DateTime<Utc>,
        elapsed: Duration,
        stats: &Snapshot,
        ledger: &Ledger,
        checks: Vec<Check>,
    ) -> Self {
        let seconds = elapsed.as_secs_f64();
        let endpoints: Vec<EndpointReport> =
            Endpoint::ALL.iter().zip(&stats.endpoints).map(|(e, s)| endpoint_report(*e, s, seconds)).collect();
        let endpoints_for_thresholds = endpoints.clone();
        let timeline = stats
            .timeline
            .iter()
            .enumerate()
            .map(|(t, s)| SecondReport {
                t: t as u64,
                detections: s.requests[0],
                decisions: s.requests[1],
                errors: s.errors,
                p50_ms: ms(s.latency.value_at_quantile(0.5)),
                p99_ms: ms(s.latency.value_at_quantile(0.99)),
                max_ms: ms(s.latency.max()),
            })
            .collect();
        let counters = Counters {
            detections_ok: ledger.detections_ok,
            detections_uncertain: ledger.detections_uncertain,
            prompts: ledger.prompts,
            accepted: ledger.accepted.len() as u64,
            rejected: ledger.rejected.len() as u64,
            budget_exceeded: ledger.budget_exceeded,
            expired: ledger.expired,
            duplicates_compared: ledger.duplicates_compared,
            duplicate_mismatches: ledger.duplicate_mismatches,
            retries_compared: ledger.retries_compared,
            retry_mismatches: ledger.retry_mismatches,
            examples: ledger.examples.clone(),
        };
        Self {
            target: config.target.url.clone(),
            tenant: fleet.tenant.clone(),
            devices: fleet.devices.len(),
            config: serde_json::to_value(config).unwrap_or_default(),
            started_at,
            duration_s: seconds,
            endpoints,
            counters,
            checks,
            timeline,
            thresholds: config.thresholds.iter().map(|t| t.evaluate(&endpoints_for_thresholds)).collect(),
            cleanup: None,
            webhooks: None,
            windows: Some(crate::windows::compute(&stats.timeline, config.windows)),
        }
    }

    /// Whether every correctness check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// Whether every `--threshold` held (true when there were none).
    pub fn thresholds_passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }

    /// The check named `name`, if it ran.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The endpoint report for `endpoint`.
    pub fn endpoint(&self, endpoint: Endpoint) -> Option<&EndpointReport> {
        self.endpoints.iter().find(|e| e.route == endpoint.route())
    }

    /// A summary for a terminal.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let tenant = self.tenant.as_deref().unwrap_or("(existing)");
        let _ = writeln!(out, "Replenish load run against {} — tenant {tenant}, {} devices", self.target, self.devices);
        let _ = writeln!(out, "{:.1} s from the first arrival to the last answer\n", self.duration_s);
        let _ = writeln!(
            out,
            "{:<26} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  statuses",
            "endpoint", "requests", "req/s", "min ms", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms"
        );
        for e in &self.endpoints {
            let l = &e.latency_ms;
            let statuses: Vec<String> = e.statuses.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            let _ = writeln!(
                out,
                "{:<26} {:>9} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {}",
                e.route,
                e.requests,
                e.throughput,
                l.min,
                l.p50,
                l.p90,
                l.p95,
                l.p99,
                l.p999,
                l.max,
                statuses.join(", ")
            );
        }
        let c = &self.counters;
        let _ = writeln!(
            out,
            "\n{} detections ok ({} unanswered), {} prompts, {} accepted, {} declined, {} over budget, {} expired",
            c.detections_ok, c.detections_uncertain, c.prompts, c.accepted, c.rejected, c.budget_exceeded, c.expired
        );
        let _ = writeln!(
            out,
            "{} duplicate event ids and {} retries compared\n\nChecks:",
            c.duplicates_compared, c.retries_compared
        );
        for check in &self.checks {
            let mark = if check.passed { "PASS" } else { "FAIL" };
            let _ = writeln!(out, "  {mark} {:<30} {}", check.name, check.detail);
        }
        if let Some(w) = &self.webhooks {
            let _ = writeln!(
                out,
                "  webhooks: endpoint {} at {}: {} deliveries ({} retries), highest attempt {}, {} events outside the window",
                w.endpoint, w.url, w.deliveries, w.retries, w.max_attempt, w.outside_window
            );
            for example in &w.examples {
                let _ = writeln!(out, "  webhooks: {example}");
            }
        }
        for example in &c.examples {
            let _ = writeln!(out, "  mismatch: {example}");
        }
        if let Some(windows) = &self.windows {
            out.push_str(&windows.human());
        }
        if !self.thresholds.is_empty() {
            let _ = writeln!(out, "\nThresholds:");
            for threshold in &self.thresholds {
                let _ = writeln!(out, "  {threshold}");
            }
        }
        if let (Some(tenant), Some(cleanup)) = (&self.tenant, &self.cleanup) {
            let _ = writeln!(out, "\nTenant {tenant}: {cleanup}");
        }
        out
    }
}
