//! The bench's two kinds of phase: the maximum rate in the closed model (wrk or in-process), with the
//! app's CPU per detection and the generator's own, and the open model at a fixed rate (in-process).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::bench::{BenchConfig, Generator};
use crate::cpu::{cpu_times, machine_busy};
use crate::error::{Error, Result};
use crate::generator::{BenchMix, drive_mix};
use crate::wrk::{WrkPhase, ensure_installed};

/// The generator, ready to run.
#[derive(Debug, Clone)]
pub enum Gen {
    /// `wrk` at this path.
    Wrk(PathBuf),
    /// This process.
    Inprocess,
}

impl Gen {
    /// Finds (or installs) wrk when it is the generator.
    pub fn new(generator: Generator) -> Result<Self> {
        Ok(match generator {
            Generator::Wrk => Gen::Wrk(ensure_installed()?),
            Generator::Inprocess => Gen::Inprocess,
        })
    }

    /// A line saying how the phases are driven.
    pub fn describe(&self, config: &BenchConfig) -> String {
        let max = match self {
            Gen::Wrk(path) => format!("{} -t1 -c{}", path.display(), config.concurrency),
            Gen::Inprocess => format!("in-process reqwest, {} clients", config.concurrency),
        };
        format!(
            "max rate: closed model, {max}, {:.0} s per phase; half rate: in-process open model (latency from the \
             intended send time); warm-up: one detection per device before each max phase",
            config.phase.as_secs_f64().round().max(1.0)
        )
    }
}

/// A maximum-rate phase.
#[derive(Debug, Clone, Serialize)]
pub struct MaxRate {
    /// `wrk` or `inprocess`.
    pub generator: String,
    /// 2xx answers per second.
    pub ok_per_second: f64,
    /// 2xx answers.
    pub ok: u64,
    /// Answers that were not 2xx, plus socket/transport errors.
    pub failed: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 75th percentile (wrk), ms.
    pub p75_ms: Option<f64>,
    /// 90th percentile (wrk), ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: Option<f64>,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Wall time of the phase, s.
    pub wall_s: f64,
    /// CPU the generator used, s.
    pub generator_cpu_s: f64,
    /// CPU the app used, s (None for the baseline).
    pub app_cpu_s: Option<f64>,
    /// App CPU per 2xx detection, µs.
    pub app_cpu_us_per_detection: Option<f64>,
    /// CPU the rest of the machine used meanwhile (neither the server nor the generator), s: other
    /// work on the box that the figures shared it with.
    pub other_cpu_s: Option<f64>,
}

impl MaxRate {
    /// One line: percentiles, failures, CPU.
    pub fn describe(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        let app = match (self.app_cpu_us_per_detection, self.app_cpu_s) {
            (Some(us), Some(s)) => format!(
                "server CPU {us:.1} µs per 2xx ({:.2} cores), other work on the box {:.2} cores, ",
                s / self.wall_s.max(1e-9),
                self.other_cpu_s.unwrap_or(0.0) / self.wall_s.max(1e-9)
            ),
            _ => String::new(),
        };
        format!(
            "max rate ({}): p50 {:.2} p75 {} p90 {} p99 {:.2} p99.9 {} max {:.2} ms, {} failed; {app}generator CPU \
             {:.2} cores",
            self.generator,
            self.p50_ms,
            opt(self.p75_ms),
            opt(self.p90_ms),
            self.p99_ms,
            opt(self.p999_ms),
            self.max_ms,
            self.failed,
            self.generator_cpu_s / self.wall_s.max(1e-9)
        )
    }
}

/// An open-model phase at a fixed rate.
#[derive(Debug, Clone, Serialize)]
pub struct OpenRate {
    /// Intended rate, requests/s.
    pub rate: f64,
    /// What was measured.
    pub measured: crate::generator::Measured,
}

impl std::ops::Deref for OpenRate {
    type Target = crate::generator::Measured;

    fn deref(&self) -> &Self::Target {
        &self.measured
    }
}

impl OpenRate {
    /// One line: rate, percentiles, failures, generator CPU.
    pub fn describe(&self) -> String {
        let m = &self.measured;
        format!(
            "half rate {:.0}/s (open, in-process): p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.2} ms, {} failed; \
             generator CPU {:.2} cores, sent late by itself p99 {:.2} ms",
            self.rate,
            m.p50_ms,
            m.p99_ms,
            m.p999_ms,
            m.max_ms,
            m.failed,
            m.generator_cpu_s / m.wall_s.max(1e-9),
            m.generator_late_p99_ms
        )
    }
}

/// The maximum rate against `url` in the closed model; `app_pid` is the server whose CPU is counted.
pub async fn max_rate(
    generator: &Gen,
    url: &str,
    tokens: &[String],
    mix: BenchMix,
    config: &BenchConfig,
    app_pid: Option<u32>,
) -> Result<MaxRate> {
    let app_before = app_pid.map(|pid| cpu_times(Some(pid))).transpose()?;
    let machine_before = machine_busy().ok();
    let me_before = cpu_times(None).ok();
    let mut rate = match generator {
        Gen::Wrk(path) => {
            let (path, url, tokens) = (path.clone(), url.to_owned(), tokens.to_vec());
            let (connections, length) = (config.concurrency, config.phase);
            let run = tokio::task::spawn_blocking(move || {
                crate::wrk::run(&path, &WrkPhase { url: &url, tokens: &tokens, mix, connections, length })
            })
            .await
            .map_err(|e| Error::Bench(format!("the wrk task: {e}")))??;
            let o = &run.output;
            MaxRate {
                generator: "wrk".into(),
                // Requests/sec is wrk's own count over its own clock (the "in 2.00s" is rounded).
                ok_per_second: o.requests_per_second * o.ok() as f64 / o.requests.max(1) as f64,
                ok: o.ok(),
                failed: o.non_2xx + o.socket_error_total(),
                p50_ms: o.p50_ms,
                p75_ms: Some(o.p75_ms),
                p90_ms: Some(o.p90_ms),
                p99_ms: o.p99_ms,
                p999_ms: o.p999_ms,
                max_ms: o.max_ms,
                wall_s: run.wall_s,
                generator_cpu_s: run.cpu_s,
                app_cpu_s: None,
                app_cpu_us_per_detection: None,
                other_cpu_s: None,
            }
        }
        Gen::Inprocess => {
            let m = drive_mix(url, tokens, config.concurrency, None, config.phase, Some(mix)).await;
            MaxRate {
                generator: "inprocess".into(),
                ok_per_second: m.ok_per_second,
                ok: (m.ok_per_second * m.wall_s).round() as u64,
                failed: m.failed,
                p50_ms: m.p50_ms,
                p75_ms: None,
                p90_ms: None,
                p99_ms: m.p99_ms,
                p999_ms: Some(m.p999_ms),
                max_ms: m.max_ms,
                wall_s: m.wall_s,
                generator_cpu_s: m.generator_cpu_s,
                app_cpu_s: None,
                app_cpu_us_per_detection: None,
                other_cpu_s: None,
            }
        }
    };
    let me = match (me_before, cpu_times(None).ok()) {
        // This process's own CPU (wrk's run from a thread of it) plus its reaped children (wrk).
        (Some(before), Some(after)) => {
            let d = after.since(&before);
            (d.own + d.children).as_secs_f64()
        }
        _ => rate.generator_cpu_s,
    };
    if let (Some(pid), Some(before), Some(machine)) = (app_pid, app_before, machine_before) {
        let spent = cpu_times(Some(pid))?.since(&before).own.as_secs_f64();
        let busy = machine_busy()?.saturating_sub(machine).as_secs_f64();
        rate.other_cpu_s = Some((busy - spent - me).max(0.0));
        rate.app_cpu_s = Some(spent);
        rate.app_cpu_us_per_detection = Some(spent * 1e6 / rate.ok.max(1) as f64);
    }
    Ok(rate)
}

/// The open model at `rate` (in-process: wrk has no rate option), latency from the intended send times.
pub async fn open_rate(url: &str, tokens: &[String], mix: BenchMix, rate: f64, config: &BenchConfig) -> OpenRate {
    let rate = rate.max(1.0);
    let measured = drive_mix(url, tokens, config.concurrency, Some(rate), config.phase, Some(mix)).await;
    OpenRate { rate, measured }
}

/// `replenish_detections_total` by outcome from the text of `/metrics`.
pub fn detection_counts(metrics: &str) -> BTreeMap<String, f64> {
    metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("replenish_detections_total{")?;
            let (labels, value) = rest.split_once("} ")?;
            let outcome = labels.split(',').find_map(|l| l.strip_prefix("outcome=\""))?.trim_end_matches('"');
            Some((outcome.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_counters_are_read_by_outcome() {
        let text = "# HELP replenish_detections Detections by outcome (reason).\n\
                    # TYPE replenish_detections counter\n\
                    replenish_detections_total{outcome=\"PROMPT\"} 12\n\
                    replenish_detections_total{outcome=\"ABOVE_THRESHOLD\"} 40\n\
                    replenish_prompts_total 12\n";
        let counts = detection_counts(text);
        assert_eq!(counts.len(), 2);
        assert_eq!(counts["PROMPT"], 12.0);
        assert_eq!(counts["ABOVE_THRESHOLD"], 40.0);
    }
}
