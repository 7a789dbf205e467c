//! `replenish-load bench-webhooks`: event delivery through the local receiver, on SQLite and on
//! Postgres+Redis — events/s delivered with 1 and with 8 endpoints, and detections/s with
//! webhooks off and on (the issue asks that webhooks cost a detection at most 10 %). Each
//! phase also prints the CPU this process (generator and receiver) and the app used.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use replenish_api::EventType;

use crate::bench::{ADMIN, Measured, drive, sqlite_env};
use crate::client::{Api, Fleet};
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::process::{AppProcess, create_database, drop_database, locate_app_bin};
use crate::receiver::{Receiver, new_secret};
use crate::webhooks::register;

/// What `bench-webhooks` measures and where.
#[derive(Debug, Clone)]
pub struct WebhookBenchConfig {
    /// The `replenish` binary (found as `bench` finds it when not given).
    pub app_bin: Option<PathBuf>,
    /// Postgres server on which a fresh database is created.
    pub database_url: String,
    /// Redis for the Postgres run.
    pub redis_url: String,
    /// `sqlite` and/or `postgres`.
    pub backends: Vec<String>,
    /// Events written per delivery phase (`device.registered`, one per device registered).
    pub events: usize,
    /// Endpoint counts of the delivery phases (default 1 and 8).
    pub endpoints: Vec<usize>,
    /// Length of each detections phase.
    pub phase: Duration,
    /// Closed-model clients of the detections phases.
    pub concurrency: usize,
    /// Devices of the detections phases.
    pub devices: usize,
    /// Endpoints registered for the "webhooks on" detections phase.
    pub on_endpoints: usize,
    /// Longest wait for a delivery phase's events to arrive.
    pub drain_timeout: Duration,
    /// Worker threads of the receiver.
    pub receiver_workers: usize,
}

/// Linux's clock tick (`getconf CLK_TCK`, 100 on every mainstream kernel): the unit of the
/// CPU times in `/proc/<pid>/stat`.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system) `pid` used so far (`None`: this process), from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = pid.map_or_else(|| "/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat"));
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces; fields after its `)` start at field 3.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS_PER_SECOND)
}

/// CPU use of this process and of the app over a phase.
struct CpuWatch {
    started: Instant,
    me: Option<f64>,
    app: Option<f64>,
    app_pid: u32,
}

impl CpuWatch {
    fn start(app_pid: u32) -> Self {
        Self { started: Instant::now(), me: cpu_seconds(None), app: cpu_seconds(Some(app_pid)), app_pid }
    }

    /// "generator+receiver X cores, app Y cores" since the start.
    fn report(&self) -> String {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        let cores = |from: Option<f64>, to: Option<f64>| match (from, to) {
            (Some(from), Some(to)) => format!("{:.2} cores", (to - from) / wall),
            _ => "? cores".to_owned(),
        };
        format!(
            "CPU: generator+receiver {}, app {}",
            cores(self.me, cpu_seconds(None)),
            cores(self.app, cpu_seconds(Some(self.app_pid)))
        )
    }
}

/// A fresh tenant with the load catalog and `devices` devices.
async fn tenant(app: &AppProcess, devices: usize) -> Result<(Api, Fleet)> {
    let mut run = RunConfig::new(&app.url(), ADMIN);
    run.devices = devices;
    let api = Api::new(&app.url(), reqwest::Client::new());
    let fleet = api.provision(&run).await?;
    Ok((api, fleet))
}

/// Registers `count` endpoints named `<prefix>-<i>` on `receiver`, every event type each.
async fn endpoints(api: &Api, key: &str, receiver: &Receiver, prefix: &str, count: usize) -> Result<Vec<String>> {
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        let name = format!("{prefix}-{i}");
        let secret = new_secret();
        receiver.expect(&name, &secret);
        register(api, key, &name, &Receiver::url_for(receiver.base(), &name), &secret, EventType::ALL).await?;
        names.push(name);
    }
    Ok(names)
}

/// Writes `config.events` events (device registrations, in batches of 1,000) for a tenant
/// with `count` endpoints and waits until each endpoint has them all: events/s delivered.
async fn delivery(app: &AppProcess, receiver: &Receiver, count: usize, config: &WebhookBenchConfig) -> Result<()> {
    let (api, fleet) = tenant(app, 0).await?;
    let prefix = format!("d{}", &fleet.device_prefix[2..]);
    let names = endpoints(&api, &fleet.api_key, receiver, &prefix, count).await?;
    let cpu = CpuWatch::start(app.pid());
    let started = Instant::now();
    let mut run = RunConfig::new(&app.url(), ADMIN);
    run.devices = config.events;
    run.target.api_key = Some(fleet.api_key.clone());
    api.provision(&run).await?;
    let written = started.elapsed();
    let deadline = started + config.drain_timeout;
    let complete = |tally: &crate::receiver::Tally| names.iter().all(|n| tally.events(n).len() >= config.events);
    while Instant::now() < deadline && !complete(&receiver.tally()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tally = receiver.tally();
    let took = tally.last_at.map_or(started.elapsed(), |last| last.saturating_duration_since(started));
    let arrived: usize = names.iter().map(|n| tally.events(n).len()).sum();
    let per_endpoint = arrived as f64 / count.max(1) as f64;
    let seconds = took.as_secs_f64().max(1e-9);
    println!(
        "  {count} endpoint(s): {:>7.0} events/s delivered ({:.0} deliveries/s) — {per_endpoint:.0} of {} events per \
         endpoint in {seconds:.2} s{} (written in {:.2} s); {} retries, {} bad signatures; {}",
        per_endpoint / seconds,
        arrived as f64 / seconds,
        config.events,
        if complete(&tally) { "" } else { " — INCOMPLETE: the wait gave up" },
        written.as_secs_f64(),
        tally.retries(),
        tally.bad_signatures,
        cpu.report()
    );
    Ok(())
}

/// One detections phase: its rate and a line describing it.
async fn detections_phase(
    app: &AppProcess,
    receiver: &Receiver,
    url: &str,
    tokens: &[String],
    name: &str,
    config: &WebhookBenchConfig,
) -> Measured {
    let before = receiver.tally().accepted;
    let cpu = CpuWatch::start(app.pid());
    let m = drive(url, tokens, config.concurrency, None, config.phase).await;
    let delivered = receiver.tally().accepted - before;
    println!(
        "  {:>7.0} detections/s {name:<26} (p50 {:.2} ms, p99 {:.2} ms, {} not 2xx); {delivered} deliveries; {}",
        m.ok_per_second,
        m.p50_ms,
        m.p99_ms,
        m.failed,
        cpu.report()
    );
    m
}

/// Detections/s with no endpoint and with `config.on_endpoints` endpoints taking every event,
/// alternating off, on, off, on so that warming up and drift do not favour either side.
async fn detections(app: &AppProcess, receiver: &Receiver, config: &WebhookBenchConfig) -> Result<()> {
    let (api, fleet) = tenant(app, config.devices).await?;
    let tokens: Vec<String> = fleet.devices.iter().map(|d| d.token.clone()).collect();
    let url = format!("{}/api/v1/detections", app.url());
    // A short warm-up fills connection pools and activates device actors.
    drive(&url, &tokens, config.concurrency, None, Duration::from_secs(1)).await;
    let on_name = format!("webhooks on ({} endpoints)", config.on_endpoints);
    let (mut off, mut on) = (0.0, 0.0);
    for round in 0..2 {
        off += detections_phase(app, receiver, &url, &tokens, "webhooks off", config).await.ok_per_second;
        let prefix = format!("o{round}{}", &fleet.device_prefix[2..]);
        let names = endpoints(&api, &fleet.api_key, receiver, &prefix, config.on_endpoints).await?;
        on += detections_phase(app, receiver, &url, &tokens, &on_name, config).await.ok_per_second;
        // Deleting an endpoint drops its pending deliveries: the next "off" phase is off indeed.
        for name in &names {
            crate::webhooks::unregister(&api, &fleet.api_key, name).await;
        }
    }
    let ratio = on / off.max(1e-9);
    let verdict = if ratio >= 0.9 { "met" } else { "MISSED" };
    println!(
        "  webhooks on / off: {:.0} / {:.0} detections/s = {:.1} % (target ≥ 90 %: {verdict})",
        on / 2.0,
        off / 2.0,
        ratio * 100.0
    );
    Ok(())
}

/// The app's environment variables.
type Env = Vec<(String, String)>;

/// The app's environment for `backend`, the scratch database to drop afterwards, and a temp dir.
fn backend_env(backend: &str, config: &WebhookBenchConfig) -> Result<(Env, Option<String>, PathBuf)> {
    let dir = std::env::temp_dir().join(format!("replenish-bench-webhooks-{}", uuid::Uuid::new_v4().simple()));
    // The receiver listens on 127.0.0.1: the app must be allowed to call private addresses.
    let allow = ("REPLENISH_COMMERCE_ALLOW_PRIVATE_URLS".to_owned(), "true".to_owned());
    match backend {
        "sqlite" => {
            let mut env = sqlite_env(&dir, &[]);
            env.push(allow);
            Ok((env, None, dir))
        }
        "postgres" => {
            let (url, name) = create_database(&config.database_url)?;
            let prefix = format!("replenish-bench-{}:", uuid::Uuid::new_v4().simple());
            let env = vec![
                ("DATABASE_URL".to_owned(), url),
                ("REDIS_URL".to_owned(), config.redis_url.clone()),
                ("REPLENISH_REDIS_PREFIX".to_owned(), prefix),
                allow,
            ];
            Ok((env, Some(name), dir))
        }
        other => Err(Error::Config(format!("unknown backend {other}"))),
    }
}

/// Runs the webhook benchmark and prints its findings.
pub async fn run(config: WebhookBenchConfig) -> Result<()> {
    let bin = locate_app_bin(config.app_bin.as_deref())?;
    println!("app binary: {}", bin.display());
    let receiver = Receiver::start("127.0.0.1:0", config.receiver_workers)?;
    println!("receiver: {} ({} workers, in this process)", receiver.base(), config.receiver_workers);
    for backend in &config.backends {
        let (env, database, dir) = backend_env(backend, &config)?;
        let result = async {
            let mut app = AppProcess::start(&bin, &env)?;
            app.wait_ready().await?;
            println!("{backend}:");
            for count in &config.endpoints {
                delivery(&app, &receiver, *count, &config).await?;
            }
            detections(&app, &receiver, &config).await
        }
        .await;
        if let Some(name) = database {
            drop_database(&config.database_url, &name);
        }
        let _ = std::fs::remove_dir_all(&dir);
        result?;
    }
    Ok(())
}
