//! The chart's Grafana dashboard and PrometheusRule query only operator series the
//! operator exports: checked against a scrape of its metrics server. (The app's
//! series are checked against the app in `app/tests/api/dashboards.rs`.)

use std::collections::BTreeSet;

use replenish_operator::metrics::Metrics;

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../charts/replenish");

/// Every `replenish_operator_…` identifier, and `replenish_build_info`, in `text`.
fn operator_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("replenish_") {
        let preceded_by_word = rest[..at].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        let name = &tail[..end];
        if !preceded_by_word && (name.starts_with("replenish_operator_") || name == "replenish_build_info") {
            names.insert(name.to_owned());
        }
        rest = &tail[end..];
    }
    names
}

/// The series a scrape offers: families under the names Prometheus stores them as.
fn exported_series(scrape: &str) -> BTreeSet<String> {
    let mut series = BTreeSet::new();
    for declared in scrape.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut parts = declared.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        series.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    series
}

#[tokio::test]
async fn every_operator_series_the_chart_queries_is_exported() {
    let metrics = Metrics::default();
    drop(metrics.reconcile("tenant"));
    metrics.failure("tenant", &replenish_operator::error::Error::AppUnavailable("down".into()));
    metrics.set_leader(true);
    let (addr, server) = replenish_operator::server::serve("127.0.0.1:0".parse().unwrap(), metrics).await.unwrap();
    let scrape = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    server.abort();

    let dashboard = std::fs::read_to_string(format!("{CHART}/files/grafana-dashboard.json")).unwrap();
    let rules = std::fs::read_to_string(format!("{CHART}/templates/prometheusrule.yaml")).unwrap();
    let queried: BTreeSet<_> = operator_names(&dashboard).into_iter().chain(operator_names(&rules)).collect();
    for needed in ["replenish_operator_leader", "replenish_operator_reconcile_failures_total"] {
        assert!(queried.contains(needed), "the chart no longer queries {needed}: {queried:?}");
    }
    let exported = exported_series(&scrape);
    let missing: Vec<_> = queried.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(missing.is_empty(), "the chart queries series the operator does not export: {missing:?}\n{scrape}");
    assert!(scrape.contains("replenish_operator_leader 1"), "{scrape}");
}
