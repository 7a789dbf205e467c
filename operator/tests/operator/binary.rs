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

/// A kubeconfig pointing at `addr` over plain HTTP, without credentials.
fn kubeconfig(dir: &std::path::Path, addr: std::net::SocketAddr) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
         clusters: [{{name: fake, cluster: {{server: \"http://{addr}\"}}}}]\n\
         users: [{{name: fake, user: {{}}}}]\n\
         contexts: [{{name: fake, context: {{cluster: fake, user: fake, namespace: default}}}}]\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Kills the child if the test fails before it exits.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_binary_promptly_and_releases_the_lease() {
    let fake = crate::support::FakeApi::default();
    let addr = fake.serve_http().await;
    let dir = std::env::temp_dir().join(format!("replenish-operator-sigterm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_replenish-operator"))
        .arg("run")
        .env("KUBECONFIG", kubeconfig(&dir, addr))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("REPLENISH_OPERATOR_APP_URL", "http://127.0.0.1:9")
        .env("REPLENISH_OPERATOR_ADMIN_TOKEN", "unused")
        .env("REPLENISH_OPERATOR_METRICS_ADDR", "127.0.0.1:0")
        .env("POD_NAMESPACE", "replenish-system")
        .env("POD_NAME", "operator-0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let mut child = Child(child);
    let holder = || {
        let lease = fake.get("coordination.k8s.io/v1/leases", "replenish-system", "replenish-operator")?;
        Some(lease["spec"]["holderIdentity"].as_str().unwrap_or_default().to_owned())
    };
    crate::support::eventually("the operator leads", || (holder()? == "operator-0").then_some(())).await;

    let pid = child.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "still running 5 s after SIGTERM");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(status.success(), "a SIGTERM is a clean shutdown, not death by signal: {status:?}");
    assert_eq!(holder().as_deref(), Some(""), "the Lease is released for the next replica");
    let _ = std::fs::remove_dir_all(dir);
}
