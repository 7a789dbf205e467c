//! The chaos run's report: JSON, a text summary and a self-contained HTML page.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::checker::{CheckResult, NOT_YET_CHECKED};
use super::faults::FaultRecord;
use super::history::History;
use crate::html::{Series, chart, escape};

/// Requests of one second of the run, by outcome class.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Second {
    /// 2xx.
    pub ok: u64,
    /// 4xx.
    pub refused: u64,
    /// 5xx, timeouts, broken connections.
    pub unknown: u64,
    /// Never connected (the app was down).
    pub not_sent: u64,
}

/// Everything a chaos run found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChaosReport {
    /// The seed: the same one replays the fault schedule and the request sequence.
    pub seed: u64,
    /// The command that replays this run.
    pub replay: String,
    /// When the load started.
    pub started_at: DateTime<Utc>,
    /// From the first request to the last check, seconds.
    pub duration_s: f64,
    /// App processes.
    pub apps: usize,
    /// Devices simulated.
    pub devices: usize,
    /// The run's settings.
    pub config: serde_json::Value,
    /// Faults injected by kind.
    pub faults_by_kind: BTreeMap<String, u64>,
    /// Every fault, when it began and how it went.
    pub faults: Vec<FaultRecord>,
    /// Requests by kind (`detection`, `decision`), then by outcome (`2xx`, a status, `timeout`, `not_sent`).
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Calls the merchant's webhook receiver got.
    pub merchant_calls: u64,
    /// Event deliveries the merchant's event receiver accepted (signature verified), retries included.
    #[serde(default)]
    pub webhook_deliveries: u64,
    /// Orders stored at the end.
    pub orders: u64,
    /// Orders still without a definite merchant answer when the checks ran (allowed: unknown outcomes).
    pub unsettled_orders: u64,
    /// Each check's counts.
    pub checks: Vec<CheckResult>,
    /// Checks the issue names that cannot run yet, and why.
    pub not_yet_checked: Vec<(String, String)>,
    /// Requests per second by outcome class.
    pub timeline: Vec<Second>,
}

/// The parts of a report that come from the run itself.
pub struct Parts {
    /// The seed.
    pub seed: u64,
    /// The replay command.
    pub replay: String,
    /// When the load started.
    pub started_at: DateTime<Utc>,
    /// Seconds the run took.
    pub duration_s: f64,
    /// App processes.
    pub apps: usize,
    /// Devices.
    pub devices: usize,
    /// Settings.
    pub config: serde_json::Value,
    /// Faults carried out.
    pub faults: Vec<FaultRecord>,
    /// Merchant calls.
    pub merchant_calls: u64,
    /// Event deliveries accepted.
    pub webhook_deliveries: u64,
    /// Orders stored.
    pub orders: u64,
    /// Orders unsettled at the end.
    pub unsettled_orders: u64,
}

impl ChaosReport {
    /// Builds the report.
    pub fn build(parts: Parts, history: &History, checks: Vec<CheckResult>) -> Self {
        let mut faults_by_kind = BTreeMap::new();
        for record in &parts.faults {
            let name = serde_json::to_value(record.fault.kind).ok().and_then(|v| v.as_str().map(str::to_owned));
            *faults_by_kind.entry(name.unwrap_or_default()).or_insert(0) += 1;
        }
        let mut requests: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut timeline: Vec<Second> = Vec::new();
        for op in &history.ops {
            *requests.entry(op.kind.name().to_owned()).or_default().entry(op.outcome.label()).or_insert(0) += 1;
            let t = (op.at_ms / 1000) as usize;
            if timeline.len() <= t {
                timeline.resize(t + 1, Second::default());
            }
            let second = &mut timeline[t];
            match &op.outcome {
                super::history::Outcome::Ok { .. } => second.ok += 1,
                super::history::Outcome::Refused { .. } => second.refused += 1,
                super::history::Outcome::NotSent => second.not_sent += 1,
                _ => second.unknown += 1,
            }
        }
        Self {
            seed: parts.seed,
            replay: parts.replay,
            started_at: parts.started_at,
            duration_s: parts.duration_s,
            apps: parts.apps,
            devices: parts.devices,
            config: parts.config,
            faults_by_kind,
            faults: parts.faults,
            requests,
            merchant_calls: parts.merchant_calls,
            webhook_deliveries: parts.webhook_deliveries,
            orders: parts.orders,
            unsettled_orders: parts.unsettled_orders,
            checks,
            not_yet_checked: NOT_YET_CHECKED.iter().map(|(n, w)| ((*n).to_owned(), (*w).to_owned())).collect(),
            timeline,
        }
    }

    /// Whether no check found a violation.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.violated == 0)
    }

    /// The check named `name`.
    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// A summary for a terminal.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Replenish chaos run — seed {}, {} apps, {} devices, {:.1} s\nreplay: {}\n",
            self.seed, self.apps, self.devices, self.duration_s, self.replay
        );
        let failed = self.faults.iter().filter(|f| f.result != "ok").count();
        let _ = writeln!(out, "Faults injected ({} in all, {failed} could not be carried out):", self.faults.len());
        for (kind, n) in &self.faults_by_kind {
            let _ = writeln!(out, "  {kind:<26} {n}");
        }
        let _ = writeln!(out, "\nRequests by outcome:");
        for (kind, outcomes) in &self.requests {
            let list: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o}: {n}")).collect();
            let _ = writeln!(out, "  {kind:<10} {}", list.join(", "));
        }
        let _ = writeln!(
            out,
            "\n{} orders stored, {} still without a definite merchant answer; the merchant got {} calls; \
             its event receiver accepted {} deliveries\n\nChecks:",
            self.orders, self.unsettled_orders, self.merchant_calls, self.webhook_deliveries
        );
        for c in &self.checks {
            let mark = if c.violated == 0 { "PASS" } else { "FAIL" };
            let retries = c.retries.map(|r| format!(" ({r} retries)")).unwrap_or_default();
            let _ = writeln!(out, "  {mark} {:<36} checked {:>6}, violated {}{retries}", c.name, c.checked, c.violated);
            for example in &c.examples {
                let _ = writeln!(out, "       {example}");
            }
        }
        for (name, why) in &self.not_yet_checked {
            let _ = writeln!(out, "  n/a  {name:<36} {why}");
        }
        out
    }

    /// One self-contained HTML page.
    pub fn html(&self) -> String {
        let mut page = String::from(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Replenish chaos report</title>\
             <style>body{font-family:sans-serif;margin:2em;max-width:960px}table{border-collapse:collapse}\
             td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\
             .pass{color:#1a7f37}.fail{color:#cf222e;font-weight:bold}</style></head><body>\n",
        );
        let _ = writeln!(
            page,
            "<h1>Replenish chaos report</h1><p>seed {} — {} apps — {} devices — started {} — {:.1} s</p>\
             <p>replay: <code>{}</code></p>",
            self.seed,
            self.apps,
            self.devices,
            self.started_at.to_rfc3339(),
            self.duration_s,
            escape(&self.replay)
        );
        page.push_str("<h2>Checks</h2><table><tr><th>check</th><th>result</th><th>checked</th><th>violated</th><th>retries</th><th>meaning</th></tr>\n");
        for c in &self.checks {
            let (class, word) = if c.violated == 0 { ("pass", "PASS") } else { ("fail", "FAIL") };
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td class=\"{class}\">{word}</td><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:left\">{}{}</td></tr>",
                escape(&c.name),
                c.checked,
                c.violated,
                c.retries.map(|r| r.to_string()).unwrap_or_default(),
                escape(&c.meaning),
                c.examples.iter().map(|e| format!("<br>{}", escape(e))).collect::<String>()
            );
        }
        for (name, why) in &self.not_yet_checked {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>n/a</td><td></td><td></td><td></td><td style=\"text-align:left\">{}</td></tr>",
                escape(name),
                escape(why)
            );
        }
        page.push_str("</table>\n");
        self.fault_and_request_tables(&mut page);
        let t = &self.timeline;
        let series = |label, colour, f: fn(&Second) -> u64| Series {
            label,
            colour,
            values: t.iter().map(|s| f(s) as f64).collect(),
        };
        page.push_str(&chart(
            "Requests per second by outcome",
            "requests per second",
            &[
                series("2xx", "#1a7f37", |s| s.ok),
                series("4xx", "#d29922", |s| s.refused),
                series("unknown", "#cf222e", |s| s.unknown),
                series("not sent", "#6e7781", |s| s.not_sent),
            ],
        ));
        page.push_str("</body></html>\n");
        page
    }

    fn fault_and_request_tables(&self, page: &mut String) {
        page.push_str("<h2>Faults by kind</h2><table><tr><th>kind</th><th>injected</th></tr>\n");
        for (kind, n) in &self.faults_by_kind {
            let _ = writeln!(page, "<tr><td>{}</td><td>{n}</td></tr>", escape(kind));
        }
        page.push_str("</table>\n<h2>Fault schedule</h2><table><tr><th>at s</th><th>kind</th><th>app</th><th>hold ms</th><th>result</th></tr>\n");
        for f in &self.faults {
            let kind =
                serde_json::to_value(f.fault.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let _ = writeln!(
                page,
                "<tr><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                f.began_ms as f64 / 1000.0,
                escape(&kind),
                f.fault.app,
                f.fault.hold_ms,
                escape(&f.result)
            );
        }
        page.push_str("</table>\n<h2>Requests by outcome</h2><table><tr><th>request</th><th>outcomes</th></tr>\n");
        for (kind, outcomes) in &self.requests {
            let list: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o}: {n}")).collect();
            let _ = writeln!(page, "<tr><td>{}</td><td>{}</td></tr>", escape(kind), escape(&list.join(", ")));
        }
        page.push_str("</table>\n");
    }
}
