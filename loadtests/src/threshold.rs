//! k6-style pass/fail criteria: `--threshold 'detections.p99<50ms'`.
//!
//! An expression is `<metric>.<statistic> <operator> <value>`:
//! - metrics `detections` and `decisions` (one endpoint each) with the
//!   latency statistics `min`, `max`, `avg` (or `mean`), `med` (or `p50`),
//!   `p90`, `p95`, `p99`, `p99.9` (also written `p999` or k6's `p(95)`), whose
//!   value is a duration (`ms` when no unit is given; `us`, `ms`, `s`), and
//!   `count` (requests sent) and `rate` (requests per second);
//! - metric `errors` (answers that are not 2xx, and requests with no answer,
//!   over both endpoints) with `count` and `rate` (their share of all
//!   requests, a fraction or a percentage: `errors.rate<0.01`, `errors.rate<1%`);
//! - operators `<`, `<=`, `>`, `>=`, `==`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::report::{EndpointReport, Latency};
use crate::stats::Endpoint;

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    /// The expression as given.
    pub expression: String,
    #[serde(skip)]
    metric: Metric,
    #[serde(skip)]
    stat: Stat,
    #[serde(skip)]
    op: Op,
    /// The bound in the statistic's unit: ms, requests, requests/s or a fraction.
    #[serde(skip)]
    limit: f64,
}

/// How one threshold fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The expression as given.
    pub expression: String,
    /// The measured value, in `unit`.
    pub observed: f64,
    /// `ms`, `requests`, `requests/s` or `ratio`.
    pub unit: String,
    /// Whether the bound held.
    pub passed: bool,
}

/// Why an expression is not a threshold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid threshold {expression:?}: {reason}")]
pub struct ParseError {
    expression: String,
    reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    Endpoint(Endpoint),
    Errors,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stat {
    Min,
    Max,
    Mean,
    /// A percentile: its index in [`PERCENTILES`].
    Percentile(usize),
    Count,
    Rate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Op {
    fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
            Op::Eq => (observed - limit).abs() < 1e-9,
        }
    }
}

/// Percentiles the report carries.
const PERCENTILES: [f64; 5] = [50.0, 90.0, 95.0, 99.0, 99.9];

fn parse_stat(metric: Metric, text: &str) -> Result<Stat, String> {
    let stat = match text {
        "min" => Stat::Min,
        "max" => Stat::Max,
        "avg" | "mean" => Stat::Mean,
        "med" => Stat::Percentile(0),
        "p999" => Stat::Percentile(4),
        "count" => Stat::Count,
        "rate" => Stat::Rate,
        other => {
            let number = other
                .strip_prefix("p(")
                .and_then(|rest| rest.strip_suffix(')'))
                .or_else(|| other.strip_prefix('p'))
                .ok_or_else(|| format!("unknown statistic {other:?}"))?;
            let p: f64 = number.parse().map_err(|_| format!("unknown statistic {other:?}"))?;
            let index = PERCENTILES
                .iter()
                .position(|reported| *reported == p)
                .ok_or_else(|| format!("percentile {p} is not reported; use p50, p90, p95, p99 or p99.9"))?;
            Stat::Percentile(index)
        }
    };
    if metric == Metric::Errors && !matches!(stat, Stat::Count | Stat::Rate) {
        return Err("errors has only count and rate".into());
    }
    Ok(stat)
}

fn parse_op(text: &str) -> Option<(Op, &str, &str)> {
    // Two-character operators first, so `<=` is not read as `<` and `=…`.
    for (token, op) in [("<=", Op::Le), (">=", Op::Ge), ("==", Op::Eq), ("<", Op::Lt), (">", Op::Gt)] {
        if let Some((left, right)) = text.split_once(token) {
            return Some((op, left, right));
        }
    }
    None
}

fn parse_limit(metric: Metric, stat: Stat, text: &str) -> Result<f64, String> {
    let number = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    let value = match (metric, stat) {
        (_, Stat::Count) => number(text),
        (Metric::Errors, Stat::Rate) => match text.strip_suffix('%') {
            Some(percent) => number(percent).map(|v| v / 100.0),
            None => number(text),
        },
        (Metric::Endpoint(_), Stat::Rate) => number(text.strip_suffix("/s").unwrap_or(text)),
        _ => {
            let (digits, scale) = if let Some(v) = text.strip_suffix("ms") {
                (v, 1.0)
            } else if let Some(v) = text.strip_suffix("us").or_else(|| text.strip_suffix("µs")) {
                (v, 0.001)
            } else if let Some(v) = text.strip_suffix('s') {
                (v, 1000.0)
            } else {
                (text, 1.0)
            };
            number(digits).map(|v| v * scale)
        }
    };
    value.ok_or_else(|| format!("{text:?} is not a valid bound here"))
}

impl Threshold {
    /// Parses one expression.
    pub fn parse(expression: &str) -> Result<Self, ParseError> {
        let fail = |reason: String| ParseError { expression: expression.to_owned(), reason };
        let compact: String = expression.chars().filter(|c| !c.is_whitespace()).collect();
        let (op, left, right) = parse_op(&compact).ok_or_else(|| fail("no operator (<, <=, >, >=, ==)".into()))?;
        let (metric, stat) =
            left.split_once('.').ok_or_else(|| fail("expected <metric>.<statistic>, e.g. detections.p99".into()))?;
        let metric = match metric {
            "detections" => Metric::Endpoint(Endpoint::Detections),
            "decisions" => Metric::Endpoint(Endpoint::Decisions),
            "errors" => Metric::Errors,
            other => return Err(fail(format!("unknown metric {other:?} (detections, decisions, errors)"))),
        };
        let stat = parse_stat(metric, stat).map_err(fail)?;
        let limit = parse_limit(metric, stat, right).map_err(fail)?;
        Ok(Self { expression: expression.to_owned(), metric, stat, op, limit })
    }

    fn unit(&self) -> &'static str {
        match (self.metric, self.stat) {
            (_, Stat::Count) => "requests",
            (Metric::Errors, Stat::Rate) => "ratio",
            (Metric::Endpoint(_), Stat::Rate) => "requests/s",
            _ => "ms",
        }
    }

    /// Measures the statistic in `endpoints` and compares it with the bound.
    pub fn evaluate(&self, endpoints: &[EndpointReport]) -> ThresholdResult {
        let observed = match self.metric {
            Metric::Endpoint(endpoint) => {
                let report = endpoints.iter().find(|e| e.route == endpoint.route());
                report.map_or(0.0, |e| endpoint_stat(e, self.stat))
            }
            Metric::Errors => {
                let requests: u64 = endpoints.iter().map(|e| e.requests).sum();
                let ok: u64 = endpoints.iter().map(|e| e.statuses.get("2xx").copied().unwrap_or(0)).sum();
                let errors = requests - ok.min(requests);
                match self.stat {
                    Stat::Count => errors as f64,
                    _ if requests == 0 => 0.0,
                    _ => errors as f64 / requests as f64,
                }
            }
        };
        ThresholdResult {
            expression: self.expression.clone(),
            observed,
            unit: self.unit().to_owned(),
            passed: self.op.holds(observed, self.limit),
        }
    }
}

fn endpoint_stat(e: &EndpointReport, stat: Stat) -> f64 {
    let Latency { min, max, mean, p50, p90, p95, p99, p999 } = e.latency_ms.clone();
    match stat {
        Stat::Min => min,
        Stat::Max => max,
        Stat::Mean => mean,
        Stat::Count => e.requests as f64,
        Stat::Rate => e.throughput,
        // In the order of PERCENTILES.
        Stat::Percentile(index) => [p50, p90, p95, p99, p999].get(index).copied().unwrap_or(p999),
    }
}

impl fmt::Display for ThresholdResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.passed { "PASS" } else { "FAIL" };
        write!(f, "{mark} {:<30} observed {:.4} {}", self.expression, self.observed, self.unit)
    }
}

#[cfg(test)]
// A test fails by panicking; `expect` says where and why.
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_style_expressions() {
        let t = Threshold::parse("detections.p99<50ms").unwrap();
        assert_eq!(
            (t.metric, t.stat, t.op, t.limit),
            (Metric::Endpoint(Endpoint::Detections), Stat::Percentile(3), Op::Lt, 50.0)
        );
        assert_eq!(Threshold::parse("decisions.p(95) <= 0.1s").unwrap().limit, 100.0);
        assert_eq!(Threshold::parse("detections.p99.9<500us").unwrap().limit, 0.5);
        assert_eq!(Threshold::parse("errors.rate<1%").unwrap().limit, 0.01);
        assert_eq!(Threshold::parse("errors.rate<0.01").unwrap().limit, 0.01);
        assert_eq!(Threshold::parse("detections.count>100").unwrap().op, Op::Gt);
        assert_eq!(Threshold::parse("detections.min>=0").unwrap().stat, Stat::Min);
    }

    #[test]
    fn refuses_what_it_cannot_measure() {
        for bad in [
            "detections.p99",
            "detections<50",
            "requests.p99<50",
            "errors.p99<5",
            "detections.p97<5",
            "detections.p99<fast",
            "detections.p99<50h",
            "detections.latest<5",
        ] {
            let err = Threshold::parse(bad).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
