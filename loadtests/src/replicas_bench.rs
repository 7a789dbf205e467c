//! `replenish-load bench-replicas`: one app process against two on the same Postgres (and Redis)
//! behind the local [hashing proxy](crate::hashing_proxy), driven by the same closed-model generator.
//!
//! A device's actor is only coherent when one replica serves that device; the figures show what a
//! second replica buys on this box (detections/s, latency, app CPU per detection) and how many
//! requests reached a replica that did not own the device — zero under `hash`, about half under
//! `round-robin` with two replicas.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench::{Measured, drive, provision};
use crate::cpu::cpu_micros;
use crate::error::{Error, Result};
use crate::hashing_proxy::{Policy, ProxyStats, STATS_PATH};
use crate::process::{AppProcess, create_database, drop_database, free_port, locate_app_bin};

/// What `bench-replicas` measures and where.
#[derive(Debug, Clone)]
pub struct ReplicasConfig {
    /// The `replenish` binary; found as `bench` finds it when not given.
    pub app_bin: Option<PathBuf>,
    /// Postgres server on which one fresh database is created for every phase.
    pub database_url: String,
    /// Redis shared by the replicas (limits), under a key prefix of this run's own.
    pub redis_url: String,
    /// Length of each phase.
    pub phase: Duration,
    /// Closed-model clients.
    pub concurrency: usize,
    /// Devices of the tenant.
    pub devices: usize,
    /// Also run two replicas behind a round-robin proxy (the incoherent shape, for contrast).
    pub round_robin: bool,
    /// Worker threads of the proxy process.
    pub proxy_workers: usize,
}

/// The proxy as a child process (this binary's hidden `hashing-proxy` command), killed when dropped.
struct ProxyProcess {
    child: Child,
    port: u16,
}

impl ProxyProcess {
    fn start(me: &Path, upstreams: &[SocketAddr], policy: Policy, workers: usize) -> Result<Self> {
        let port = free_port()?;
        let list: Vec<String> = upstreams.iter().map(ToString::to_string).collect();
        let child = Command::new(me)
            .args(["hashing-proxy", "--listen", &format!("127.0.0.1:{port}"), "--policy", &policy.to_string()])
            .args(["--workers", &workers.to_string(), "--upstream", &list.join(",")])
            .stdout(Stdio::null())
            .spawn()
            .map_err(Error::io("starting the hashing proxy"))?;
        Ok(Self { child, port })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn stats(&self, http: &reqwest::Client) -> Result<ProxyStats> {
        Ok(http.get(format!("{}{STATS_PATH}", self.url())).send().await?.json().await?)
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Bench(format!("the hashing proxy exited ({status})")));
            }
            if self.stats(http).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::Bench("the hashing proxy did not come up".into()))
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One phase's findings.
struct Phase {
    name: String,
    measured: Measured,
    seconds: f64,
    app_cpu_us: u64,
    proxy_cpu_us: Option<u64>,
    generator_cpu_us: u64,
    /// Requests per replica and misrouted ones during the measured phase (not the warm-up).
    routed: Option<ProxyStats>,
    actors: Vec<Option<u64>>,
}

fn delta(after: &ProxyStats, before: &ProxyStats) -> ProxyStats {
    ProxyStats {
        requests: after.requests.iter().zip(&before.requests).map(|(a, b)| a - b).collect(),
        misrouted: after.misrouted - before.misrouted,
        tokens: after.tokens,
        errors: after.errors - before.errors,
    }
}

fn cpu_sum(pids: &[u32]) -> Result<u64> {
    pids.iter().map(|&pid| cpu_micros(Some(pid))).sum()
}

/// Starts `replicas` apps on `env`, optionally behind a proxy with `policy`, warms them up for a
/// second and measures one phase.
async fn phase(
    bin: &Path,
    env: &[(String, String)],
    tokens: &[String],
    policy: Option<Policy>,
    config: &ReplicasConfig,
) -> Result<Phase> {
    let replicas = if policy.is_some() { 2 } else { 1 };
    let mut apps = Vec::new();
    for _ in 0..replicas {
        let mut app = AppProcess::start(bin, env)?;
        app.wait_ready().await?;
        apps.push(app);
    }
    let http = reqwest::Client::new();
    let proxy = match policy {
        Some(policy) => {
            let me = std::env::current_exe().map_err(Error::io("locating this binary"))?;
            let upstreams: Vec<SocketAddr> = apps
                .iter()
                .map(|a| a.url().trim_start_matches("http://").parse())
                .collect::<Result<_, _>>()
                .map_err(|e| Error::Bench(format!("an app's address: {e}")))?;
            let mut proxy = ProxyProcess::start(&me, &upstreams, policy, config.proxy_workers)?;
            proxy.wait_ready(&http).await?;
            Some(proxy)
        }
        None => None,
    };
    let base = proxy.as_ref().map_or_else(|| apps[0].url(), ProxyProcess::url);
    let url = format!("{base}/api/v1/detections");
    // The warm-up activates every device's actor (on the replica the proxy sends it to).
    drive(&url, tokens, config.concurrency, None, Duration::from_secs(1)).await;

    let pids: Vec<u32> = apps.iter().map(AppProcess::pid).collect();
    let proxy_pid = proxy.as_ref().map(|p| p.child.id());
    let before = (cpu_sum(&pids)?, proxy_pid.map(|pid| cpu_micros(Some(pid))).transpose()?, cpu_micros(None)?);
    let routed_before = match &proxy {
        Some(p) => Some(p.stats(&http).await?),
        None => None,
    };
    let started = Instant::now();
    let measured = drive(&url, tokens, config.concurrency, None, config.phase).await;
    let seconds = started.elapsed().as_secs_f64();
    let after = (cpu_sum(&pids)?, proxy_pid.map(|pid| cpu_micros(Some(pid))).transpose()?, cpu_micros(None)?);
    let routed = match (&proxy, routed_before) {
        (Some(p), Some(before)) => Some(delta(&p.stats(&http).await?, &before)),
        _ => None,
    };
    let mut actors = Vec::new();
    for app in &apps {
        actors.push(app.active_device_actors(&http).await);
    }
    let name = match policy {
        None => "1 replica, direct".to_owned(),
        Some(policy) => format!("2 replicas, {policy}"),
    };
    Ok(Phase {
        name,
        measured,
        seconds,
        app_cpu_us: after.0 - before.0,
        proxy_cpu_us: after.1.zip(before.1).map(|(a, b)| a - b),
        generator_cpu_us: after.2 - before.2,
        routed,
        actors,
    })
}

fn print_header(config: &ReplicasConfig, bin: &Path) {
    println!("app binary: {}", bin.display());
    println!(
        "{} devices, closed model with {} clients, {:.1} s per phase, one Postgres database and one Redis prefix \
         per phase; CPU from /proc/<pid>/stat (10 ms ticks)",
        config.devices,
        config.concurrency,
        config.phase.as_secs_f64()
    );
    println!(
        "{:<24} {:>9} {:>7} {:>7} {:>7}  {:>10} {:>8} {:>9} {:>12} {:>8}  {:<17} {:>13}  actors per replica",
        "phase",
        "det/s",
        "p50 ms",
        "p99 ms",
        "not 2xx",
        "app µs/det",
        "app CPU",
        "proxy CPU",
        "proxy µs/req",
        "gen CPU",
        "per replica",
        "misrouted"
    );
}

fn print_phase(p: &Phase) {
    let m = &p.measured;
    let detections = (m.ok_per_second * p.seconds).round().max(1.0);
    let share = |us: u64| format!("{:.0}%", us as f64 / 1e4 / p.seconds);
    let (per_replica, misrouted) = match &p.routed {
        Some(r) => {
            let total: u64 = r.requests.iter().sum::<u64>().max(1);
            let list: Vec<String> =
                r.requests.iter().map(|n| format!("{:.0}%", *n as f64 * 100.0 / total as f64)).collect();
            (list.join(" / "), format!("{} ({:.1}%)", r.misrouted, r.misrouted as f64 * 100.0 / total as f64))
        }
        None => ("-".to_owned(), "-".to_owned()),
    };
    let proxy_per_request = match (&p.routed, p.proxy_cpu_us) {
        (Some(r), Some(us)) => format!("{:.0}", us as f64 / r.requests.iter().sum::<u64>().max(1) as f64),
        _ => "-".to_owned(),
    };
    let actors: Vec<String> = p.actors.iter().map(|a| a.map_or("?".into(), |n| n.to_string())).collect();
    println!(
        "{:<24} {:>9.0} {:>7.2} {:>7.2} {:>7}  {:>10.0} {:>8} {:>9} {:>12} {:>8}  {:<17} {:>13}  {}",
        p.name,
        m.ok_per_second,
        m.p50_ms,
        m.p99_ms,
        m.failed,
        p.app_cpu_us as f64 / detections,
        share(p.app_cpu_us),
        p.proxy_cpu_us.map_or("-".into(), share),
        proxy_per_request,
        share(p.generator_cpu_us),
        per_replica,
        misrouted,
        actors.join(" / ")
    );
}

/// Provisions a fresh tenant on a fresh database through a first app process, then runs the phase.
async fn fresh_phase(bin: &Path, policy: Option<Policy>, config: &ReplicasConfig) -> Result<Phase> {
    let (url, name) = create_database(&config.database_url)?;
    let env = vec![
        ("DATABASE_URL".to_owned(), url),
        ("REDIS_URL".to_owned(), config.redis_url.clone()),
        ("REPLENISH_REDIS_PREFIX".to_owned(), format!("replenish-replicas-{}:", uuid::Uuid::new_v4().simple())),
    ];
    let result = async {
        // Provisioning goes through an app of its own, stopped before the phase: every replica of
        // the phase starts cold, with no actor activated by the setup.
        let tokens = {
            let mut app = AppProcess::start(bin, &env)?;
            app.wait_ready().await?;
            provision(&app, config.devices).await?.1
        };
        phase(bin, &env, &tokens, policy, config).await
    }
    .await;
    drop_database(&config.database_url, &name);
    result
}

/// Runs every phase and prints a table.
pub async fn run(config: ReplicasConfig) -> Result<()> {
    if config.devices == 0 || config.concurrency == 0 {
        return Err(Error::Config("--devices and --concurrency must be at least 1".into()));
    }
    let bin = locate_app_bin(config.app_bin.as_deref())?;
    print_header(&config, &bin);
    let mut policies = vec![None, Some(Policy::Hash)];
    if config.round_robin {
        policies.push(Some(Policy::RoundRobin));
    }
    for policy in policies {
        print_phase(&fresh_phase(&bin, policy, &config).await?);
    }
    println!(
        "app µs/det: CPU of every app process over the phase per 2xx detection; CPU columns: share of one core \
         (the box has {}); misrouted: requests to a replica other than the one that first served the token",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}
