//! Per-window percentiles of the per-second timeline: stalls and the cold start show here, where the
//! run's overall percentiles would average them away.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::stats::{Endpoint, Second};

/// The bound on any window's p99, ms.
pub const ANY_WINDOW_P99_MS: f64 = 25.0;
/// The bound on a steady-state window's p99, ms.
pub const STEADY_WINDOW_P99_MS: f64 = 10.0;

/// How the timeline is cut into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowConfig {
    /// Window length, seconds (`--window-secs`).
    pub secs: u64,
    /// Windows starting at or after this second are steady state (`--steady-after`).
    pub steady_after: u64,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self { secs: 10, steady_after: 30 }
    }
}

/// One endpoint's numbers in one window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WindowStats {
    /// Requests sent whose intended send time fell in the window.
    pub count: u64,
    /// Median of the answered ones, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

/// One window of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Window {
    /// First second (since the start) in the window.
    pub start_s: u64,
    /// One past its last second (shorter than the others for the run's last window).
    pub end_s: u64,
    /// Detections.
    pub detections: WindowStats,
    /// Decisions.
    pub decisions: WindowStats,
}

impl Window {
    /// The numbers of `endpoint`.
    pub fn of(&self, endpoint: Endpoint) -> &WindowStats {
        match endpoint {
            Endpoint::Detections => &self.detections,
            Endpoint::Decisions => &self.decisions,
        }
    }
}

/// How one endpoint's windows fared against the bounds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WindowSummary {
    /// `detections` or `decisions`.
    pub endpoint: String,
    /// Windows in which the endpoint had answers.
    pub windows: usize,
    /// Of those, windows whose p99 was above [`ANY_WINDOW_P99_MS`].
    pub over_any_bound: usize,
    /// Windows with answers starting at or after `steady_after`.
    pub steady_windows: usize,
    /// Of those, windows whose p99 was above [`STEADY_WINDOW_P99_MS`].
    pub steady_over_bound: usize,
    /// Start of the window with the highest p99, and that p99 (ms).
    pub worst: Option<(u64, f64)>,
}

/// Every window of a run and their summaries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Windows {
    /// How the timeline was cut.
    pub config: WindowConfig,
    /// The windows, in time order.
    pub windows: Vec<Window>,
    /// Per endpoint, in [`Endpoint::ALL`] order.
    pub summary: Vec<WindowSummary>,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn endpoint_name(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Detections => "detections",
        Endpoint::Decisions => "decisions",
    }
}

/// The window's histogram of `endpoint` merged from its seconds.
fn stats(seconds: &[Second], index: usize) -> WindowStats {
    let mut merged: Option<Histogram<u64>> = None;
    let mut count = 0;
    for second in seconds {
        count += second.requests[index];
        let h = &second.by_endpoint[index];
        match &mut merged {
            // Same bounds and precision in every second, so adding cannot fail.
            Some(m) => {
                let _ = m.add(h);
            }
            None => merged = Some(h.clone()),
        }
    }
    let Some(h) = merged.filter(|h| !h.is_empty()) else { return WindowStats { count, ..WindowStats::default() } };
    WindowStats {
        count,
        p50_ms: ms(h.value_at_quantile(0.5)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

fn summarise(windows: &[Window], endpoint: Endpoint, config: WindowConfig) -> WindowSummary {
    // A window with no answer has no percentile to judge.
    let answered: Vec<&Window> = windows.iter().filter(|w| w.of(endpoint).max_ms > 0.0).collect();
    let steady: Vec<&&Window> = answered.iter().filter(|w| w.start_s >= config.steady_after).collect();
    let worst =
        answered.iter().map(|w| (w.start_s, w.of(endpoint).p99_ms)).fold(None, |best: Option<(u64, f64)>, (t, p99)| {
            if best.is_some_and(|b| b.1 >= p99) { best } else { Some((t, p99)) }
        });
    WindowSummary {
        endpoint: endpoint_name(endpoint).to_owned(),
        windows: answered.len(),
        over_any_bound: answered.iter().filter(|w| w.of(endpoint).p99_ms > ANY_WINDOW_P99_MS).count(),
        steady_windows: steady.len(),
        steady_over_bound: steady.iter().filter(|w| w.of(endpoint).p99_ms > STEADY_WINDOW_P99_MS).count(),
        worst,
    }
}

/// Cuts `timeline` (one entry per intended-send second) into `config.secs`-second windows.
pub fn compute(timeline: &[Second], config: WindowConfig) -> Windows {
    let size = config.secs.max(1) as usize;
    let windows: Vec<Window> = timeline
        .chunks(size)
        .enumerate()
        .map(|(i, seconds)| Window {
            start_s: (i * size) as u64,
            end_s: (i * size + seconds.len()) as u64,
            detections: stats(seconds, 0),
            decisions: stats(seconds, 1),
        })
        .collect();
    let summary = Endpoint::ALL.iter().map(|e| summarise(&windows, *e, config)).collect();
    Windows { config, windows, summary }
}

impl WindowSummary {
    /// One line for a terminal, with the bounds met or MISSED.
    pub fn line(&self, config: WindowConfig) -> String {
        let verdict = |over: usize, of: usize| match (over, of) {
            (_, 0) => "n/a",
            (0, _) => "met",
            _ => "MISSED",
        };
        let worst =
            self.worst.map_or("none".to_owned(), |(t, p99)| format!("{t}-{} s, p99 {p99:.2} ms", t + config.secs));
        format!(
            "{}: {} of {} windows p99 > {ANY_WINDOW_P99_MS} ms ({}); after {} s {} of {} p99 > {STEADY_WINDOW_P99_MS} ms ({}); worst {worst}",
            self.endpoint,
            self.over_any_bound,
            self.windows,
            verdict(self.over_any_bound, self.windows),
            config.steady_after,
            self.steady_over_bound,
            self.steady_windows,
            verdict(self.steady_over_bound, self.steady_windows),
        )
    }
}

impl Windows {
    /// A compact table and the summary lines, for a terminal.
    pub fn human(&self) -> String {
        let mut out = format!("\nPer {}-second window (by intended send time; ms):\n", self.config.secs);
        let _ = writeln!(
            out,
            "{:>11} | {:>7} {:>7} {:>7} {:>7} {:>7} | {:>6} {:>7} {:>7} {:>7} {:>7}",
            "window s", "det", "p50", "p99", "p99.9", "max", "dec", "p50", "p99", "p99.9", "max"
        );
        for w in &self.windows {
            let (d, c) = (&w.detections, &w.decisions);
            let _ = writeln!(
                out,
                "{:>11} | {:>7} {:>7.2} {:>7.2} {:>7.2} {:>7.1} | {:>6} {:>7.2} {:>7.2} {:>7.2} {:>7.1}",
                format!("{}-{}", w.start_s, w.end_s),
                d.count,
                d.p50_ms,
                d.p99_ms,
                d.p999_ms,
                d.max_ms,
                c.count,
                c.p50_ms,
                c.p99_ms,
                c.p999_ms,
                c.max_ms
            );
        }
        for summary in &self.summary {
            let _ = writeln!(out, "{}", summary.line(self.config));
        }
        out
    }

    /// The same as an HTML table and paragraphs.
    pub fn html(&self) -> String {
        use crate::html::escape;
        let mut page = format!(
            "<h2>Per {}-second window</h2><table><tr><th>window s</th><th>detections</th><th>p50 ms</th><th>p99 ms</th>\
             <th>p99.9 ms</th><th>max ms</th><th>decisions</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>\n",
            self.config.secs
        );
        for w in &self.windows {
            let (d, c) = (&w.detections, &w.decisions);
            let _ = writeln!(
                page,
                "<tr><td>{}-{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.1}</td>\
                 <td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.1}</td></tr>",
                w.start_s,
                w.end_s,
                d.count,
                d.p50_ms,
                d.p99_ms,
                d.p999_ms,
                d.max_ms,
                c.count,
                c.p50_ms,
                c.p99_ms,
                c.p999_ms,
                c.max_ms
            );
        }
        page.push_str("</table>\n");
        for summary in &self.summary {
            let _ = writeln!(page, "<p>{}</p>", escape(&summary.line(self.config)));
        }
        page
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A second whose detections took `detections` ms and decisions `decisions` ms.
    fn second(detections: &[u64], decisions: &[u64]) -> Second {
        let mut s = Second::default();
        for (i, values) in [detections, decisions].into_iter().enumerate() {
            s.requests[i] = values.len() as u64;
            for v in values {
                s.by_endpoint[i].record(v * 1000).unwrap();
                s.latency.record(v * 1000).unwrap();
            }
        }
        s
    }

    fn close(a: f64, b: f64) -> bool {
        // Two significant digits per second: within 1 %.
        (a - b).abs() <= b * 0.01
    }

    #[test]
    fn seconds_are_merged_into_windows_and_the_last_one_may_be_short() {
        // Five seconds in windows of two: 0-2, 2-4, 4-5.
        let timeline = vec![
            second(&[1, 2], &[]),
            second(&[3], &[100]),
            second(&[], &[]),
            second(&[40], &[]),
            second(&[5; 10], &[7]),
        ];
        let w = compute(&timeline, WindowConfig { secs: 2, steady_after: 2 });
        let spans: Vec<(u64, u64)> = w.windows.iter().map(|w| (w.start_s, w.end_s)).collect();
        assert_eq!(spans, [(0, 2), (2, 4), (4, 5)]);
        assert_eq!(w.windows[0].detections.count, 3);
        assert!(close(w.windows[0].detections.p50_ms, 2.0), "{:?}", w.windows[0]);
        assert!(close(w.windows[0].detections.max_ms, 3.0));
        assert_eq!(w.windows[0].decisions.count, 1);
        assert!(close(w.windows[0].decisions.p99_ms, 100.0));
        assert!(close(w.windows[1].detections.p99_ms, 40.0));
        assert!(close(w.windows[2].detections.p999_ms, 5.0));
    }

    #[test]
    fn the_summary_counts_windows_over_each_bound_and_names_the_worst() {
        // Windows of one second: a cold start (200 ms), a spike (30 ms) and a mild one (12 ms) after it.
        let mut timeline = vec![second(&[200; 100], &[]), second(&[5; 100], &[])];
        timeline.extend([second(&[2; 100], &[]), second(&[30; 100], &[]), second(&[12; 100], &[3])]);
        timeline.push(second(&[], &[]));
        let w = compute(&timeline, WindowConfig { secs: 1, steady_after: 2 });
        let d = &w.summary[0];
        assert_eq!(d.endpoint, "detections");
        // The empty last second is no window to judge.
        assert_eq!((d.windows, d.over_any_bound), (5, 2));
        assert_eq!((d.steady_windows, d.steady_over_bound), (3, 2));
        let (t, p99) = d.worst.unwrap();
        assert_eq!(t, 0);
        assert!(close(p99, 200.0));
        let c = &w.summary[1];
        assert_eq!((c.windows, c.over_any_bound, c.steady_over_bound), (1, 0, 0));
        assert!(w.human().contains("detections: 2 of 5 windows p99 > 25 ms (MISSED)"), "{}", w.human());
        assert!(w.human().contains("decisions: 0 of 1 windows p99 > 25 ms (met)"), "{}", w.human());
    }

    #[test]
    fn a_p99_just_under_a_bound_is_within_it_and_just_over_is_not() {
        // Two significant digits keep 24 and 26 ms (9 and 11 ms) apart from the bounds.
        let under =
            compute(&[second(&[24; 100], &[]), second(&[9; 100], &[])], WindowConfig { secs: 1, steady_after: 1 });
        assert_eq!((under.summary[0].over_any_bound, under.summary[0].steady_over_bound), (0, 0));
        let over =
            compute(&[second(&[26; 100], &[]), second(&[11; 100], &[])], WindowConfig { secs: 1, steady_after: 1 });
        assert_eq!((over.summary[0].over_any_bound, over.summary[0].steady_over_bound), (1, 1));
    }
}
