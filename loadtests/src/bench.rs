//! `replenish-load bench`: the app on SQLite and on Postgres+Redis against a bare actix-web baseline,
//! driven by the same generator (`wrk` by default), for each traffic mix, plus resident memory per device.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use replenish_api::{Plan, TenantLimits, TenantSpec, TenantView};
use serde::Serialize;

use crate::bench_memory::{MemoryResult, memory};
use crate::bench_phase::{MaxRate, OpenRate, detection_counts, max_rate, open_rate};
use crate::client::Api;
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::generator::touch;
pub use crate::generator::{BenchMix, Measured, drive};
use crate::process::{AppProcess, create_database, drop_database, locate_app_bin, rss_kib};

/// Which generator measures the maximum rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Generator {
    /// `wrk`, one thread, a generated Lua script.
    Wrk,
    /// This process (reqwest).
    Inprocess,
}

impl FromStr for Generator {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "wrk" => Ok(Generator::Wrk),
            "inprocess" => Ok(Generator::Inprocess),
            other => Err(Error::Config(format!("unknown generator {other} (wrk, inprocess)"))),
        }
    }
}

/// What `bench` measures and where.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The `replenish` binary; found next to this one or under `target/release` when not given.
    pub app_bin: Option<PathBuf>,
    /// Postgres server on which a fresh database is created.
    pub database_url: String,
    /// Redis for the Postgres run.
    pub redis_url: String,
    /// Length of each throughput or latency phase.
    pub phase: Duration,
    /// Closed-model connections for the maximum-rate phase.
    pub concurrency: usize,
    /// Devices for the throughput phases.
    pub devices: usize,
    /// Devices for the memory phase.
    pub memory_devices: usize,
    /// `sqlite` and/or `postgres`.
    pub backends: Vec<String>,
    /// Generator of the maximum-rate phases.
    pub generator: Generator,
    /// Traffic mixes, each measured on every backend.
    pub mixes: Vec<BenchMix>,
    /// Where to write every phase's numbers as JSON.
    pub json: Option<PathBuf>,
}

/// The admin token the bench starts the app with.
pub(crate) const ADMIN: &str = "bench-admin-token-0123456789abcdef";

/// "met" or "MISSED".
pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// The targets: detections/s as a share of the baseline's, per mix and backend.
pub fn rate_target(mix: BenchMix, backend: &str) -> f64 {
    match (mix, backend) {
        (BenchMix::Settled, "sqlite") => 0.50,
        (BenchMix::Settled, _) => 0.35,
        (BenchMix::Fleet, "sqlite") => 0.40,
        (BenchMix::Fleet, _) => 0.25,
    }
}

/// Target for p99 at half the maximum rate, ms.
pub const HALF_RATE_P99_TARGET_MS: f64 = 10.0;

/// Creates a tenant whose prompts lapse after a second and come again at once (cooldown 0), so the
/// fleet mix's low detections keep finding free (device, product) pairs; then its store, catalog and
/// `devices` devices. Returns the client, the device tokens and how long registration took.
pub(crate) async fn provision(app: &AppProcess, devices: usize) -> Result<(Api, Vec<String>, Duration)> {
    let mut run = RunConfig::new(&app.url(), ADMIN);
    run.devices = devices;
    let api = Api::new(&app.url(), reqwest::Client::new());
    let spec = TenantSpec {
        display_name: "Bench".into(),
        plan: Plan::Enterprise,
        limits: TenantLimits {
            // No limit is under test: every request must do the whole path.
            tenant_per_second: Some(10_000_000),
            device_per_minute: Some(run.device_per_minute),
            cooldown_seconds: Some(0),
            // The shortest the app allows.
            intent_ttl_seconds: Some(1),
            daily_order_budget_usd: Some(1_000_000.0),
            ..TenantLimits::default()
        },
    };
    let path = format!("/admin/v1/tenants/{}", run.target.tenant);
    let (status, body) = api.call(reqwest::Method::PUT, &path, ADMIN, Some(&spec)).await?;
    let view: TenantView = serde_json::from_value(body.clone()).map_err(|e| Error::Status {
        call: format!("PUT {path}: {e}"),
        status,
        body: body.to_string(),
    })?;
    run.target.api_key = view.api_key;
    run.target.admin_token = None;
    let started = Instant::now();
    let fleet = api.provision(&run).await?;
    Ok((api, fleet.devices.into_iter().map(|d| d.token).collect(), started.elapsed()))
}

/// One backend and mix.
#[derive(Debug, Clone, Serialize)]
pub struct MixResult {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The mix.
    pub mix: BenchMix,
    /// Devices driven.
    pub devices: usize,
    /// The maximum rate (closed model).
    pub max: MaxRate,
    /// Its share of the baseline's rate.
    pub ratio_to_baseline: f64,
    /// The target share.
    pub target: f64,
    /// Half the maximum rate (open model).
    pub half: OpenRate,
    /// Low detections in the maximum-rate phase and how many of them created an intent (fleet mix).
    pub low_detections: Option<LowDetections>,
}

/// What the fleet mix's low detections did during the maximum-rate phase (from the app's
/// `replenish_detections_total` by outcome, before and after).
#[derive(Debug, Clone, Serialize)]
pub struct LowDetections {
    /// Detections not settled as above the threshold.
    pub low: f64,
    /// Those that created an intent (outcome PROMPT).
    pub created_intent: f64,
    /// The other outcomes of low detections (PENDING_INTENT, COOLDOWN, ...), by name.
    pub others: std::collections::BTreeMap<String, f64>,
}

/// One backend's app.
#[derive(Debug, Clone, Serialize)]
pub struct BackendInfo {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Devices registered.
    pub devices: usize,
    /// How long registering them took, s.
    pub registration_s: f64,
    /// The app's RSS after every mix, KiB.
    pub rss_end_kib: u64,
}

/// Everything one `bench` run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Generator of the maximum-rate phases.
    pub generator: Generator,
    /// The baseline's maximum rate.
    pub baseline_max: MaxRate,
    /// The baseline at half its maximum rate.
    pub baseline_half: OpenRate,
    /// Per backend: devices, registration time, RSS at the end.
    pub backends: Vec<BackendInfo>,
    /// Per backend and mix.
    pub runs: Vec<MixResult>,
    /// The memory phase.
    pub memory: Option<MemoryResult>,
}

fn print_mix(r: &MixResult) {
    println!(
        "{:<9} {:<8} {:>8.0} /s = {:>5.1}% of baseline (target ≥ {:.0}%: {})",
        r.backend,
        r.mix.name(),
        r.max.ok_per_second,
        r.ratio_to_baseline * 100.0,
        r.target * 100.0,
        verdict(r.ratio_to_baseline >= r.target)
    );
    println!("{:<19}{}", "", r.max.describe());
    println!(
        "{:<19}{}  (p99 target ≤ {HALF_RATE_P99_TARGET_MS} ms: {})",
        "",
        r.half.describe(),
        verdict(r.half.p99_ms <= HALF_RATE_P99_TARGET_MS)
    );
    if let Some(l) = &r.low_detections {
        let others: Vec<String> = l.others.iter().map(|(k, v)| format!("{k} {v:.0}")).collect();
        println!(
            "{:<19}low detections at max rate: {:.0}, {:.0} created an intent ({:.1}%){}{}",
            "",
            l.low,
            l.created_intent,
            l.created_intent * 100.0 / l.low.max(1.0),
            if others.is_empty() { "" } else { "; the others: " },
            others.join(", ")
        );
    }
}

/// Warm-up, maximum rate, half rate for one mix on a running app.
async fn one_mix(
    app: &AppProcess,
    http: &reqwest::Client,
    tokens: &[String],
    backend: &str,
    mix: BenchMix,
    context: &Context<'_>,
) -> Result<MixResult> {
    let url = format!("{}/api/v1/detections", app.url());
    // Every device gets its actor before the maximum rate is measured.
    touch(http, &url, tokens, &format!("warm{}", mix.name())).await;
    let before = app.metrics(http).await.map(|t| detection_counts(&t));
    let max = max_rate(context.generator, &url, tokens, mix, context.config, Some(app.pid())).await?;
    let after = app.metrics(http).await.map(|t| detection_counts(&t));
    let half = open_rate(&url, tokens, mix, max.ok_per_second / 2.0, context.config).await;
    let low_detections = match (mix, before, after) {
        (BenchMix::Fleet, Some(before), Some(after)) => {
            let delta = |outcome: &str| after.get(outcome).unwrap_or(&0.0) - before.get(outcome).unwrap_or(&0.0);
            let others: std::collections::BTreeMap<String, f64> = after
                .keys()
                .filter(|k| !matches!(k.as_str(), "ABOVE_THRESHOLD" | "PROMPT"))
                .map(|k| (k.clone(), delta(k)))
                .filter(|(_, v)| *v > 0.0)
                .collect();
            let created_intent = delta("PROMPT");
            Some(LowDetections { low: created_intent + others.values().sum::<f64>(), created_intent, others })
        }
        _ => None,
    };
    let ratio = max.ok_per_second / context.baseline.max(1e-9);
    let target = rate_target(mix, backend);
    Ok(MixResult {
        backend: backend.to_owned(),
        mix,
        devices: tokens.len(),
        max,
        ratio_to_baseline: ratio,
        target,
        half,
        low_detections,
    })
}

/// What every phase shares.
struct Context<'a> {
    generator: &'a crate::bench_phase::Gen,
    config: &'a BenchConfig,
    baseline: f64,
}

/// The app's environment for a SQLite database in `dir`, plus `extra`.
pub(crate) fn sqlite_env(dir: &std::path::Path, extra: &[(&str, String)]) -> Vec<(String, String)> {
    // A missing directory shows up when the app starts (it cannot open the file).
    let _ = std::fs::create_dir_all(dir);
    let mut env =
        vec![("DATABASE_URL".to_owned(), format!("sqlite://{}?mode=rwc", dir.join("replenish.db").display()))];
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    env
}

/// One backend: a fresh app and database, one tenant whose devices every mix drives (the settled mix
/// creates no intents, so the fleet mix finds every pair free whichever runs first).
async fn backend(bin: &std::path::Path, backend: &str, context: &Context<'_>, report: &mut BenchReport) -> Result<()> {
    let config = context.config;
    let dir = std::env::temp_dir().join(format!("replenish-bench-{}", uuid::Uuid::new_v4().simple()));
    let (env, database) = match backend {
        "sqlite" => (sqlite_env(&dir, &[]), None),
        "postgres" => {
            let (url, name) = create_database(&config.database_url)?;
            let prefix = format!("replenish-bench-{}:", uuid::Uuid::new_v4().simple());
            let env = vec![
                ("DATABASE_URL".to_owned(), url),
                ("REDIS_URL".to_owned(), config.redis_url.clone()),
                ("REPLENISH_REDIS_PREFIX".to_owned(), prefix),
            ];
            (env, Some(name))
        }
        other => return Err(Error::Config(format!("unknown backend {other}"))),
    };
    let result = async {
        let mut app = AppProcess::start(bin, &env)?;
        app.wait_ready().await?;
        let (api, tokens, took) = provision(&app, config.devices).await?;
        println!("{backend}: {} devices registered in {:.1} s", tokens.len(), took.as_secs_f64());
        for mix in &config.mixes {
            let r = one_mix(&app, api.http(), &tokens, backend, *mix, context).await?;
            print_mix(&r);
            report.runs.push(r);
        }
        let rss = rss_kib(app.pid()).unwrap_or(0);
        println!("{backend}: RSS at the end {:.1} MiB", rss as f64 / 1024.0);
        report.backends.push(BackendInfo {
            backend: backend.to_owned(),
            devices: tokens.len(),
            registration_s: took.as_secs_f64(),
            rss_end_kib: rss,
        });
        Ok::<_, Error>(())
    }
    .await;
    if let Some(name) = database {
        drop_database(&config.database_url, &name);
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Runs the whole suite and prints its findings.
pub async fn run(config: BenchConfig) -> Result<BenchReport> {
    let bin = locate_app_bin(config.app_bin.as_deref())?;
    let generator = crate::bench_phase::Gen::new(config.generator)?;
    println!("app binary: {}", bin.display());
    println!("{}", generator.describe(&config));
    let me = std::env::current_exe().map_err(Error::io("locating this binary"))?;
    let baseline = crate::process::Baseline::start(&me)?;
    baseline.wait_ready().await?;
    let tokens = ["baseline".to_owned()];
    let http = reqwest::Client::new();
    touch(&http, &baseline.url(), &tokens, "warm").await;
    let base_max =
        max_rate(&generator, &baseline.url(), &tokens, BenchMix::Settled, &config, Some(baseline.pid())).await?;
    let base_half = open_rate(&baseline.url(), &tokens, BenchMix::Settled, base_max.ok_per_second / 2.0, &config).await;
    drop(baseline);
    println!("baseline  (actix-web) {:>8.0} /s", base_max.ok_per_second);
    println!("{:<19}{}", "", base_max.describe());
    println!("{:<19}{}", "", base_half.describe());
    let mut report = BenchReport {
        generator: config.generator,
        baseline_max: base_max.clone(),
        baseline_half: base_half,
        backends: Vec::new(),
        runs: Vec::new(),
        memory: None,
    };
    let context = Context { generator: &generator, config: &config, baseline: base_max.ok_per_second };
    for name in &config.backends {
        backend(&bin, name, &context, &mut report).await?;
    }
    if config.memory_devices > 0 {
        report.memory = Some(memory(&bin, &config).await?);
    }
    if let Some(path) = &config.json {
        let json = serde_json::to_vec_pretty(&report).map_err(|e| Error::Bench(format!("JSON: {e}")))?;
        std::fs::write(path, json).map_err(Error::io(format!("writing {}", path.display())))?;
    }
    Ok(report)
}
