//! `replenish-load bench`: the app on SQLite and on Postgres+Redis against a bare actix-web baseline,
//! all driven by the same generator, plus resident memory per 10,000 devices.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use replenish_api::{Confidence, DetectionRequest, FillLevel};

use crate::client::Api;
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::process::{AppProcess, create_database, drop_database, locate_app_bin, rss_kib};
use crate::stats::{Endpoint, Recorder, Snapshot};

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
    /// Closed-model clients for the maximum-rate phase.
    pub concurrency: usize,
    /// Devices for the throughput phases.
    pub devices: usize,
    /// Devices for the memory phase.
    pub memory_devices: usize,
    /// `sqlite` and/or `postgres`.
    pub backends: Vec<String>,
}

/// The admin token the bench starts the app with.
pub(crate) const ADMIN: &str = "bench-admin-token-0123456789abcdef";
const FILLS: [FillLevel; 10] = {
    use FillLevel::{Full, Half, Low};
    [Full, Half, Full, Half, Full, Half, Full, Half, Full, Low]
};

/// Rate and latency of one phase.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// 2xx answers per second.
    pub ok_per_second: f64,
    /// Answers that were not 2xx, plus transport errors.
    pub failed: u64,
    /// p50 and p99 latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

fn measured(snapshot: &Snapshot, seconds: f64) -> Measured {
    let s = &snapshot.endpoints[0];
    let ok = s.count_in(200..=299);
    let q = |q: f64| if s.latency.is_empty() { 0.0 } else { s.latency.value_at_quantile(q) as f64 / 1000.0 };
    Measured { ok_per_second: ok as f64 / seconds, failed: s.requests() - ok, p50_ms: q(0.5), p99_ms: q(0.99) }
}

fn detection(prefix: &str, n: u64) -> DetectionRequest {
    DetectionRequest {
        event_id: format!("{prefix}-{n}"),
        object_class: crate::client::CATALOG[(n % 3) as usize].1.to_owned(),
        fill_level: FILLS[(n % 10) as usize],
        confidence: Confidence::High,
        captured_at_ms: chrono::Utc::now().timestamp_millis(),
    }
}

async fn one(http: &reqwest::Client, url: &str, token: &str, prefix: &str, n: u64) -> Option<u16> {
    let response = http.post(url).bearer_auth(token).json(&detection(prefix, n)).send().await.ok()?;
    let status = response.status().as_u16();
    response.bytes().await.ok().map(|_| status)
}

/// Detections against `url` with `tokens` round-robin: closed with `concurrency` clients, or open at `rate`.
/// The same generator measures the baseline and the app.
pub async fn drive(url: &str, tokens: &[String], concurrency: usize, rate: Option<f64>, length: Duration) -> Measured {
    let http = reqwest::Client::builder().tcp_nodelay(true).timeout(Duration::from_secs(30)).build();
    let Ok(http) = http else { return Measured { ok_per_second: 0.0, failed: 1, p50_ms: 0.0, p99_ms: 0.0 } };
    let recorder = std::sync::Arc::new(Recorder::new());
    // Event ids unique to this phase: a repeat would take the app's cheaper duplicate path.
    let prefix: std::sync::Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
    let tokens: std::sync::Arc<[String]> = tokens.into();
    let start = recorder.start();
    let mut tasks = tokio::task::JoinSet::new();
    match rate {
        None => {
            let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            for _ in 0..concurrency {
                let (http, url, tokens, recorder, next, prefix) =
                    (http.clone(), url.to_owned(), tokens.clone(), recorder.clone(), next.clone(), prefix.clone());
                tasks.spawn(async move {
                    while start.elapsed() < length {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let sent = Instant::now();
                        let status = one(&http, &url, &tokens[n as usize % tokens.len()], &prefix, n).await;
                        recorder.record(Endpoint::Detections, sent, status, sent.elapsed());
                    }
                });
            }
        }
        Some(rate) => {
            let mut n = 0_u64;
            loop {
                let intended = start + Duration::from_secs_f64(n as f64 / rate);
                if intended >= start + length {
                    break;
                }
                tokio::time::sleep_until(intended.into()).await;
                let (http, url, tokens, recorder, prefix) =
                    (http.clone(), url.to_owned(), tokens.clone(), recorder.clone(), prefix.clone());
                // Latency from the intended send time: a stalled server cannot hide its backlog.
                tasks.spawn(async move {
                    let status = one(&http, &url, &tokens[n as usize % tokens.len()], &prefix, n).await;
                    recorder.record(Endpoint::Detections, intended, status, intended.elapsed());
                });
                n += 1;
                while tasks.try_join_next().is_some() {}
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    measured(&recorder.snapshot(), start.elapsed().as_secs_f64())
}

/// The maximum rate (closed model) and the p99 at half of it (open model).
async fn max_and_half(url: &str, tokens: &[String], config: &BenchConfig) -> (Measured, Measured) {
    // A short warm-up fills connection pools and (for the app) activates device actors.
    drive(url, tokens, config.concurrency, None, Duration::from_secs(1)).await;
    let max = drive(url, tokens, config.concurrency, None, config.phase).await;
    let half = drive(url, tokens, config.concurrency, Some((max.ok_per_second / 2.0).max(1.0)), config.phase).await;
    (max, half)
}

pub(crate) async fn provision(app: &AppProcess, devices: usize) -> Result<(Api, Vec<String>)> {
    let mut run = RunConfig::new(&app.url(), ADMIN);
    run.devices = devices;
    let api = Api::new(&app.url(), reqwest::Client::new());
    let fleet = api.provision(&run).await?;
    Ok((api, fleet.devices.into_iter().map(|d| d.token).collect()))
}

fn line(name: &str, max: &Measured, half: &Measured, baseline: f64, target: f64) {
    let ratio = max.ok_per_second / baseline.max(1e-9);
    println!(
        "{name:<22} {:>9.0} /s  {:>5.1}% of baseline (target ≥ {:.0}%: {})  p99 at half rate {:.2} ms (target ≤ 10 ms: {})  \
         [{} + {} not 2xx]",
        max.ok_per_second,
        ratio * 100.0,
        target * 100.0,
        if ratio >= target { "met" } else { "MISSED" },
        half.p99_ms,
        if half.p99_ms <= 10.0 { "met" } else { "MISSED" },
        max.failed,
        half.failed
    );
}

/// One detection (FULL: no prompt) from every device, 32 at a time, so each device gets its actor.
async fn touch(http: &reqwest::Client, url: &str, tokens: &[String], prefix: &str) {
    let mut set = tokio::task::JoinSet::new();
    for chunk in tokens.chunks(tokens.len().div_ceil(32).max(1)) {
        let (http, url, chunk, prefix) = (http.clone(), url.to_owned(), chunk.to_vec(), prefix.to_owned());
        set.spawn(async move {
            for (j, token) in chunk.iter().enumerate() {
                let _ = one(&http, &url, token, &format!("{prefix}{}", &token[token.len() - 8..]), j as u64 * 10).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
}

/// Actor idle timeout for the memory phase. Longer than touching 10,000 devices takes on a busy 2-core
/// box, so no actor passivates before the "active" reading.
const MEMORY_IDLE_MS: u64 = 20_000;

/// Waits until the app reports no live device actor (or the idle timeout plus ten seconds passed).
async fn passivated(app: &AppProcess, http: &reqwest::Client) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_millis(MEMORY_IDLE_MS + 10_000);
    while Instant::now() < deadline && app.active_device_actors(http).await != Some(0) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    app.active_device_actors(http).await
}

/// Resident memory of an app with `devices` registered devices. The fleet is touched in two halves:
/// the first half pays the fixed costs that come with any traffic (the connection pool growing, caches
/// warming, allocator arenas), so the second half's growth is what a device itself costs, active and
/// passivated. The figures above the bare registration are printed too.
async fn memory(bin: &std::path::Path, config: &BenchConfig) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("replenish-bench-mem-{}", uuid::Uuid::new_v4().simple()));
    // Scaled down from the defaults (10 min idle, 60 s credential cache) in the same order: by the
    // time a device passivates, its cached credential has expired as well.
    let env = sqlite_env(
        &dir,
        &[
            ("REPLENISH_ACTOR_IDLE_TIMEOUT_MS", MEMORY_IDLE_MS.to_string()),
            ("REPLENISH_CREDENTIAL_CACHE_SECS", (MEMORY_IDLE_MS / 2_000).to_string()),
        ],
    );
    let mut app = AppProcess::start(bin, &env)?;
    app.wait_ready().await?;
    let (api, tokens) = provision(&app, config.memory_devices).await?;
    let (http, url) = (api.http().clone(), format!("{}/api/v1/detections", app.url()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (first, second) = tokens.split_at(tokens.len() / 2);
    let registered = rss_kib(app.pid())?;
    touch(&http, &url, first, "first").await;
    let first_active = rss_kib(app.pid())?;
    passivated(&app, &http).await;
    let first_passive = rss_kib(app.pid())?;
    let started = Instant::now();
    touch(&http, &url, second, "first").await;
    let touching = started.elapsed();
    let second_active = rss_kib(app.pid())?;
    let actors = app.active_device_actors(&http).await;
    let left = passivated(&app, &http).await;
    let all_passive = rss_kib(app.pid())?;
    touch(&http, &url, &tokens, "again").await;
    let again = rss_kib(app.pid())?;

    let per = |from: u64, to: u64, devices: usize| to.saturating_sub(from) as f64 * 1024.0 / devices.max(1) as f64;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    // Active: the first half's growth, fixed costs included (an upper bound). Passivated: what the
    // second half left behind once passivated, on top of the first half passivated.
    let (active, passive) = (per(registered, first_active, first.len()), per(first_passive, all_passive, second.len()));
    println!("memory, {} devices on SQLite (VmRSS of the app), touched in two halves:", config.memory_devices);
    println!("  registered, no actors          {:>8.1} MiB", mib(registered));
    println!(
        "  first half, {} actors active  {:>8.1} MiB  = {:.0} B per active device, fixed costs included (target ≤ 16 KiB: {})",
        first.len(),
        mib(first_active),
        active,
        verdict(active <= 16_384.0)
    );
    println!("  first half passivated          {:>8.1} MiB", mib(first_passive));
    println!(
        "  second half active ({} actors) {:>8.1} MiB  (freed memory of the first half reused); touching took {:.1} s",
        actors.map_or("?".into(), |a| a.to_string()),
        mib(second_active),
        touching.as_secs_f64()
    );
    println!(
        "  all passivated ({} active)     {:>8.1} MiB  = {:.0} B per passivated device (target ≤ 2 KiB: {})",
        left.map_or("?".into(), |a| a.to_string()),
        mib(all_passive),
        passive,
        verdict(passive <= 2048.0)
    );
    println!(
        "  for comparison, all passivated above the bare registration: {:.0} B per device, fixed costs included",
        per(registered, all_passive, tokens.len())
    );
    println!(
        "  all {} activated again        {:>8.1} MiB  (+{:.1} MiB)",
        tokens.len(),
        mib(again),
        mib(again.saturating_sub(all_passive))
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
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

/// Runs the whole suite and prints its findings.
pub async fn run(config: BenchConfig) -> Result<()> {
    let bin = locate_app_bin(config.app_bin.as_deref())?;
    println!("app binary: {}", bin.display());
    let me = std::env::current_exe().map_err(Error::io("locating this binary"))?;
    let baseline = crate::process::Baseline::start(&me)?;
    baseline.wait_ready().await?;
    let (base_max, base_half) = max_and_half(&baseline.url(), &["baseline".to_owned()], &config).await;
    drop(baseline);
    println!(
        "{:<22} {:>9.0} /s  (closed model, {} clients)  p99 at half rate {:.2} ms",
        "baseline (actix-web)", base_max.ok_per_second, config.concurrency, base_half.p99_ms
    );
    for backend in &config.backends {
        let dir = std::env::temp_dir().join(format!("replenish-bench-{}", uuid::Uuid::new_v4().simple()));
        let (env, database, target) = match backend.as_str() {
            "sqlite" => (sqlite_env(&dir, &[]), None, 0.40),
            "postgres" => {
                let (url, name) = create_database(&config.database_url)?;
                let prefix = format!("replenish-bench-{}:", uuid::Uuid::new_v4().simple());
                let env = vec![
                    ("DATABASE_URL".to_owned(), url),
                    ("REDIS_URL".to_owned(), config.redis_url.clone()),
                    ("REPLENISH_REDIS_PREFIX".to_owned(), prefix),
                ];
                (env, Some(name), 0.25)
            }
            other => return Err(Error::Config(format!("unknown backend {other}"))),
        };
        let mut app = AppProcess::start(&bin, &env)?;
        app.wait_ready().await?;
        let (_, tokens) = provision(&app, config.devices).await?;
        let (max, half) = max_and_half(&format!("{}/api/v1/detections", app.url()), &tokens, &config).await;
        let rss = rss_kib(app.pid()).unwrap_or(0);
        drop(app);
        line(&format!("{backend} detections"), &max, &half, base_max.ok_per_second, target);
        println!("{:<22} RSS at the end {:.1} MiB", "", rss as f64 / 1024.0);
        if let Some(name) = database {
            drop_database(&config.database_url, &name);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    if config.memory_devices > 0 {
        memory(&bin, &config).await?;
    }
    Ok(())
}
