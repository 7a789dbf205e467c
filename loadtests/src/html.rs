//! A self-contained HTML report: tables and inline SVG charts, nothing fetched at view time.

use std::fmt::Write as _;

use crate::report::Report;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 260.0;
const PAD: f64 = 48.0;

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One line of a chart: a label, a colour and one value per second.
pub(crate) struct Series<'a> {
    pub(crate) label: &'a str,
    pub(crate) colour: &'a str,
    pub(crate) values: Vec<f64>,
}

/// A line chart of `series` over the run's seconds, with a y axis in `unit`.
pub(crate) fn chart(title: &str, unit: &str, series: &[Series<'_>]) -> String {
    let points = series.iter().map(|s| s.values.len()).max().unwrap_or(0).max(2);
    let top = series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0_f64, f64::max).max(1e-9) * 1.1;
    let x = |i: usize| PAD + (WIDTH - 2.0 * PAD) * i as f64 / (points - 1) as f64;
    let y = |v: f64| HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * v / top;
    let mut svg = format!(
        "<h2>{}</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n",
        escape(title)
    );
    let _ = writeln!(
        svg,
        "<rect x=\"{PAD}\" y=\"{PAD}\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#ccc\"/>",
        WIDTH - 2.0 * PAD,
        HEIGHT - 2.0 * PAD
    );
    for step in 0..=4 {
        let v = top * step as f64 / 4.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{PAD}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.1}</text>",
            WIDTH - PAD,
            PAD - 4.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">seconds since start</text>\
         <text x=\"12\" y=\"{}\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">{}</text>",
        WIDTH / 2.0,
        HEIGHT - 12.0,
        HEIGHT / 2.0,
        HEIGHT / 2.0,
        escape(unit)
    );
    for tick in 0..=5 {
        let i = (points - 1) * tick / 5;
        let _ =
            writeln!(svg, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{i}</text>", x(i), HEIGHT - PAD + 14.0);
    }
    for (k, s) in series.iter().enumerate() {
        let path: Vec<String> = s.values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>",
            s.colour,
            path.join(" "),
            PAD + 8.0 + 140.0 * k as f64,
            PAD - 8.0,
            s.colour,
            escape(s.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The webhook receiver's numbers (`run --webhooks`).
fn webhooks(w: &crate::webhooks::WebhookReport) -> String {
    let mut table = format!(
        "<h2>Webhooks</h2><p>endpoint {} at {}</p><table><tr><th>measure</th><th>value</th></tr>\n",
        escape(&w.endpoint),
        escape(&w.url)
    );
    let rows: [(&str, String); 11] = [
        ("events listed for the run", w.events_listed.to_string()),
        ("reached the receiver", w.delivered.to_string()),
        ("missing", w.missing.to_string()),
        ("deliveries (retries included)", w.deliveries.to_string()),
        ("retries of the same event id", w.retries.to_string()),
        ("bad signatures", w.bad_signatures.to_string()),
        ("malformed", w.malformed.to_string()),
        ("refused while down (503)", w.refused_while_down.to_string()),
        ("objects delivered out of order", w.out_of_order.to_string()),
        ("highest attempt", w.max_attempt.to_string()),
        ("seconds waited after the load", format!("{:.1}", w.drain_seconds)),
    ];
    for (name, value) in rows {
        let _ = writeln!(table, "<tr><td>{}</td><td>{}</td></tr>", escape(name), escape(&value));
    }
    table.push_str("</table>\n");
    for example in &w.examples {
        let _ = writeln!(table, "<p>{}</p>", escape(example));
    }
    table
}

/// Renders `report` as one HTML page.
pub fn render(report: &Report) -> String {
    let mut page = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Replenish load report</title>\
         <style>body{font-family:sans-serif;margin:2em;max-width:960px}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\
         .pass{color:#1a7f37}.fail{color:#cf222e;font-weight:bold}</style></head><body>\n",
    );
    let _ = writeln!(
        page,
        "<h1>Replenish load report</h1><p>{} — {} devices — started {} — {:.1} s</p>",
        escape(&report.target),
        report.devices,
        report.started_at.to_rfc3339(),
        report.duration_s
    );
    page.push_str(
        "<h2>Endpoints</h2><table><tr><th>endpoint</th><th>requests</th><th>req/s</th><th>min ms</th><th>p50 ms</th><th>p90 ms</th>\
         <th>p95 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>statuses</th></tr>\n",
    );
    for e in &report.endpoints {
        let l = &e.latency_ms;
        let statuses: Vec<String> = e.statuses.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td>\
             <td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
            escape(&e.route),
            e.requests,
            e.throughput,
            l.min,
            l.p50,
            l.p90,
            l.p95,
            l.p99,
            l.p999,
            l.max,
            escape(&statuses.join(", "))
        );
    }
    page.push_str("</table>\n<h2>Checks</h2><table><tr><th>check</th><th>result</th><th>detail</th></tr>\n");
    for c in &report.checks {
        let (class, word) = if c.passed { ("pass", "PASS") } else { ("fail", "FAIL") };
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"{class}\">{word}</td><td style=\"text-align:left\">{}</td></tr>",
            escape(&c.name),
            escape(&c.detail)
        );
    }
    page.push_str("</table>\n");
    if let Some(w) = &report.webhooks {
        page.push_str(&webhooks(w));
    }
    if !report.thresholds.is_empty() {
        page.push_str("<h2>Thresholds</h2><table><tr><th>threshold</th><th>result</th><th>observed</th></tr>\n");
        for t in &report.thresholds {
            let (class, word) = if t.passed { ("pass", "PASS") } else { ("fail", "FAIL") };
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td class=\"{class}\">{word}</td><td>{:.4} {}</td></tr>",
                escape(&t.expression),
                t.observed,
                escape(&t.unit)
            );
        }
        page.push_str("</table>\n");
    }
    let t = &report.timeline;
    page.push_str(&chart(
        "Latency over time (all endpoints, by intended send second)",
        "ms",
        &[
            Series { label: "p50", colour: "#2f81f7", values: t.iter().map(|s| s.p50_ms).collect() },
            Series { label: "p99", colour: "#d29922", values: t.iter().map(|s| s.p99_ms).collect() },
            Series { label: "max", colour: "#cf222e", values: t.iter().map(|s| s.max_ms).collect() },
        ],
    ));
    page.push_str(&chart(
        "Throughput",
        "requests per second",
        &[
            Series {
                label: "detections/s",
                colour: "#2f81f7",
                values: t.iter().map(|s| s.detections as f64).collect(),
            },
            Series { label: "decisions/s", colour: "#1a7f37", values: t.iter().map(|s| s.decisions as f64).collect() },
            Series { label: "errors/s", colour: "#cf222e", values: t.iter().map(|s| s.errors as f64).collect() },
        ],
    ));
    if let Some(windows) = &report.windows {
        page.push_str(&windows.html());
    }
    page.push_str("</body></html>\n");
    page
}
