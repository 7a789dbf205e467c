//! The binary: `crds` writes what the code generates; `/metrics` and `/healthz` answer.

use std::process::Command;

use replenish_operator::metrics::Metrics;

#[test]
fn crds_subcommand_writes_the_committed_files() {
    let out = std::env::temp_dir().join(format!("replenish-operator-crds-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_replenish-operator"))
        .args(["crds", "--out"])
        .arg(&out)
        .status()
        .expect("runs");
    assert!(status.success());
    for name in ["tenants.replenish.dev.yaml", "devices.replenish.dev.yaml"] {
        let written = std::fs::read_to_string(out.join("crds").join(name)).expect("written");
        let committed = std::fs::read_to_string(format!("{}/../crds/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert_eq!(written, committed, "{name}");
    }
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn run_refuses_to_start_without_an_app_url() {
    let output = Command::new(env!("CARGO_BIN_EXE_replenish-operator"))
        .arg("run")
        .env_remove("REPLENISH_OPERATOR_APP_URL")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--app-url"), "{output:?}");
}

#[tokio::test]
async fn metrics_and_health_endpoints_answer() {
    let metrics = Metrics::default();
    drop(metrics.reconcile("device"));
    let (addr, server) = replenish_operator::server::serve("127.0.0.1:0".parse().unwrap(), metrics).await.unwrap();
    let http = reqwest::Client::new();
    let health = http.get(format!("http://{addr}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let response = http.get(format!("http://{addr}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("replenish_operator_reconciles_total{kind=\"device\"} 1"), "{text}");
    assert!(text.contains("replenish_operator_reconcile_duration_seconds"), "{text}");
    assert_eq!(http.get(format!("http://{addr}/nope")).send().await.unwrap().status(), 404);
    server.abort();
}
