//! Processes the bench starts and watches: the app, the baseline, a scratch Postgres database.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A port that was free a moment ago (the child binds it; a race with another process is possible but rare).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::io("finding a free port"))?;
    Ok(listener.local_addr().map_err(Error::io("finding a free port"))?.port())
}

/// The app binary: `explicit`, else `replenish` next to this binary or in a `release` directory near it,
/// under `$CARGO_TARGET_DIR/release`, or `target/release`.
pub fn locate_app_bin(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(Error::Bench(format!("{} not found", path.display())))
        };
    }
    let mut candidates = Vec::new();
    if let Ok(me) = std::env::current_exe()
        && let Some(dir) = me.parent()
    {
        candidates.push(dir.join("replenish"));
        if let Some(profiles) = dir.parent() {
            candidates.push(profiles.join("release").join("replenish"));
        }
    }
    if let Ok(target) = std::env::var("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(target).join("release").join("replenish"));
    }
    candidates.push(PathBuf::from("target/release/replenish"));
    // Prefer a release build: a debug app would measure the compiler's optimiser, not the service.
    candidates.sort_by_key(|c| !c.to_string_lossy().contains("release"));
    candidates.into_iter().find(|c| c.is_file()).ok_or_else(|| {
        Error::Bench("no app binary; run `cargo build --release -p replenish-app` or pass --app-bin".into())
    })
}

/// Resident memory of `pid` in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(Error::io("reading /proc status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| Error::Bench(format!("no VmRSS for pid {pid}")))
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The app running as a child process.
pub struct AppProcess {
    child: Guard,
    port: u16,
    metrics_port: u16,
}

impl AppProcess {
    /// Starts `bin serve` on a free port with `env` (on top of quiet logs and a generous IP limit).
    pub fn start(bin: &Path, env: &[(String, String)]) -> Result<Self> {
        let port = free_port()?;
        let metrics_port = free_port()?;
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .env("REPLENISH_LISTEN", format!("127.0.0.1:{port}"))
            // `/metrics` has a listener of its own, apart from the API.
            .env("REPLENISH_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
            .env("REPLENISH_ADMIN_TOKEN", "bench-admin-token-0123456789abcdef")
            // One generator address sends everything; the IP limit is not what is measured.
            .env("REPLENISH_IP_PER_MINUTE", "1000000000")
            .env("REPLENISH_LOG_LEVEL", "error")
            .env("REPLENISH_DB_MAX_CONNECTIONS", "32")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().map_err(Error::io(format!("starting {}", bin.display())))?;
        Ok(Self { child: Guard(child), port, metrics_port })
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Waits up to a minute for `/readyz` to answer 200; fails at once if the app exits.
    pub async fn wait_ready(&mut self) -> Result<()> {
        let url = format!("{}/readyz", self.url());
        let deadline = Instant::now() + Duration::from_secs(60);
        let http = reqwest::Client::new();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.0.try_wait() {
                return Err(Error::Bench(format!("the app exited ({status}) before it was ready; its log is above")));
            }
            if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Error::Bench(format!("{url} did not come up within a minute")))
    }

    /// The text of `/metrics` on the app's metrics listener, if readable.
    pub async fn metrics(&self, http: &reqwest::Client) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_port);
        http.get(url).send().await.ok()?.text().await.ok()
    }

    /// `replenish_active_actors{kind="device"}` from `/metrics`, if readable.
    pub async fn active_device_actors(&self, http: &reqwest::Client) -> Option<u64> {
        let text = self.metrics(http).await?;
        text.lines()
            .find(|l| l.starts_with("replenish_active_actors") && l.contains("device"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as u64)
    }
}

/// Waits up to a minute until `url` accepts a POST (any answer will do).
async fn wait_for(url: &str) -> Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http.post(url).body("{}").send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::Bench(format!("{url} did not come up within a minute")))
}

/// The bare actix-web baseline as a child process (this binary's hidden `baseline` command).
pub struct Baseline {
    _child: Guard,
    port: u16,
}

impl Baseline {
    /// Starts `me baseline` on a free port.
    pub fn start(me: &Path) -> Result<Self> {
        let port = free_port()?;
        let child = Command::new(me)
            .args(["baseline", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .map_err(Error::io("starting the baseline"))?;
        Ok(Self { _child: Guard(child), port })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self._child.0.id()
    }

    /// Its detections URL, once it answers.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/detections", self.port)
    }

    /// Waits until it accepts requests.
    pub async fn wait_ready(&self) -> Result<()> {
        wait_for(&self.url()).await
    }
}

fn psql(server: &str, sql: &str) -> Result<()> {
    let output = Command::new("psql")
        .args([server, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .map_err(Error::io("running psql (install the Postgres client)"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Bench(format!("psql {sql}: {}", String::from_utf8_lossy(&output.stderr).trim())))
    }
}

/// Creates a fresh database on the Postgres `server`; returns its URL and name.
pub fn create_database(server: &str) -> Result<(String, String)> {
    let name = format!("replenish_bench_{}", uuid::Uuid::new_v4().simple());
    psql(server, &format!("CREATE DATABASE {name}"))?;
    let (base, query) = server.split_once('?').map_or((server, String::new()), |(b, q)| (b, format!("?{q}")));
    let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
    Ok((format!("{root}/{name}{query}"), name))
}

/// Drops a database [`create_database`] made (best effort).
pub fn drop_database(server: &str, name: &str) {
    let _ = psql(server, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}
