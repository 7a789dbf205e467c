//! `replenish-load bench-million`: one SQLite app with a million registered devices. Registration
//! through the API (concurrent batches of 1,000) is timed; then a share of the devices is activated in
//! turn (one FULL detection each) under a short actor idle timeout, while resident memory and live
//! device actors are read, to show that passivation keeps memory bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use replenish_api::{
    Confidence, DetectionRequest, DeviceBatch, FillLevel, MAX_BATCH, NewDevice, RegisteredBatch, ResourceId,
};
use reqwest::Method;

use crate::backend::{ADMIN_TOKEN, Backend, Servers};
use crate::client::{Api, STORE};
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::process::{AppProcess, rss_kib};

/// What `bench-million` does.
#[derive(Debug, Clone)]
pub struct MillionConfig {
    /// Where the app binary is (the database is always SQLite).
    pub servers: Servers,
    /// Devices registered.
    pub devices: usize,
    /// Batch requests in flight at once during registration.
    pub batch_concurrency: usize,
    /// Devices activated in turn, spread evenly over the registered ones.
    pub activate: usize,
    /// Activations (detections) in flight at once.
    pub in_flight: usize,
    /// The app's actor idle timeout, ms.
    pub idle_timeout_ms: u64,
    /// A reading every this many activations.
    pub report_every: usize,
    /// Activations after which memory should have stopped growing (the reference reading).
    pub settle: usize,
}

/// Bytes of RSS growth allowed from the reference reading to the last one, as a share of the reference.
const BOUND_MARGIN: f64 = 0.10;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One batch of devices `from..to`, ids `<prefix>-<n>`, an owner each.
fn batch(prefix: &str, from: usize, to: usize) -> Result<DeviceBatch> {
    let id = |value: String| ResourceId::parse(&value).map_err(|e| Error::Config(e.to_string()));
    let devices = (from..to)
        .map(|i| {
            Ok(NewDevice {
                device_id: id(format!("{prefix}-{i}"))?,
                store: id(STORE.to_owned())?,
                owner: format!("{prefix}-owner-{i}"),
                model: "spectacles-5".into(),
                serial: None,
                test: false,
            })
        })
        .collect::<Result<_>>()?;
    Ok(DeviceBatch { devices })
}

/// How the app answers a batch one device over its limit (printed, not judged).
async fn oversized_batch(api: &Api, key: &str, prefix: &str) -> Result<String> {
    let body = batch(&format!("{prefix}x"), 0, MAX_BATCH + 1)?;
    let (status, value) = api.call(Method::POST, "/api/v1/devices:batch", key, Some(&body)).await?;
    let text = value.to_string();
    Ok(format!("{status} {}", text.chars().take(200).collect::<String>()))
}

/// Registers `config.devices` devices in concurrent batches; the tokens of every `stride`-th device.
async fn register(api: &Api, key: &str, prefix: &str, config: &MillionConfig, app: &AppProcess) -> Result<Vec<String>> {
    let stride = (config.devices / config.activate.max(1)).max(1);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..config.batch_concurrency.max(1) {
        let (api, key, prefix, next, total) =
            (api.clone(), key.to_owned(), prefix.to_owned(), next.clone(), config.devices);
        tasks.spawn(async move {
            let mut kept = Vec::new();
            loop {
                let from = next.fetch_add(MAX_BATCH as u64, Ordering::SeqCst) as usize;
                if from >= total {
                    return Ok::<_, Error>(kept);
                }
                let to = (from + MAX_BATCH).min(total);
                let body = batch(&prefix, from, to)?;
                let (status, value) = api.call(Method::POST, "/api/v1/devices:batch", &key, Some(&body)).await?;
                if !(200..300).contains(&status) {
                    let body = value.to_string().chars().take(300).collect();
                    return Err(Error::Status { call: "POST /api/v1/devices:batch".into(), status, body });
                }
                let registered: RegisteredBatch = serde_json::from_value(value)
                    .map_err(|e| Error::Shape { call: "POST /api/v1/devices:batch".into(), detail: e.to_string() })?;
                for (i, device) in (from..to).zip(registered.devices) {
                    if i % stride == 0 {
                        kept.push((i, device.token.unwrap_or_default()));
                    }
                }
                if to % 100_000 < MAX_BATCH && to >= 100_000 {
                    eprintln!("  {to} registered after {:.1} s", started.elapsed().as_secs_f64());
                }
            }
        });
    }
    let mut kept = Vec::new();
    while let Some(done) = tasks.join_next().await {
        kept.extend(done.map_err(|e| Error::Bench(format!("registration task: {e}")))??);
    }
    let took = started.elapsed().as_secs_f64();
    let rss = rss_kib(app.pid())?;
    println!(
        "registered {} devices in {took:.1} s = {:.0} devices/s ({} batch requests in flight); RSS {:.1} MiB",
        config.devices,
        config.devices as f64 / took,
        config.batch_concurrency,
        mib(rss)
    );
    kept.sort();
    Ok(kept.into_iter().map(|(_, token)| token).take(config.activate).collect())
}

/// One FULL detection (no prompt: the actor only loads and settles).
async fn activate_one(http: &reqwest::Client, url: &str, token: &str, n: usize) -> bool {
    let body = DetectionRequest {
        event_id: format!("million-{n}"),
        object_class: crate::client::CATALOG[n % 3].1.to_owned(),
        fill_level: FillLevel::Full,
        confidence: Confidence::High,
        captured_at_ms: chrono::Utc::now().timestamp_millis(),
    };
    let sent = http.post(url).bearer_auth(token).json(&body).send().await;
    match sent {
        Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
        Err(_) => false,
    }
}

/// Activates every device of `tokens` once, `in_flight` at a time; a reading every `report_every`.
async fn activate(app: &AppProcess, tokens: Vec<String>, config: &MillionConfig) -> Vec<(usize, u64)> {
    let http =
        reqwest::Client::builder().tcp_nodelay(true).timeout(Duration::from_secs(30)).build().unwrap_or_default();
    let url = format!("{}/api/v1/detections", app.url());
    let tokens: Arc<[String]> = tokens.into();
    let (next, done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..config.in_flight.max(1) {
        let (http, url, tokens, next, done, failed) =
            (http.clone(), url.clone(), tokens.clone(), next.clone(), done.clone(), failed.clone());
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst) as usize;
                let Some(token) = tokens.get(n) else { return };
                if !activate_one(&http, &url, token, n).await {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    let mut readings = Vec::new();
    let every = config.report_every.max(1);
    let mut mark = every.min(tokens.len());
    println!("{:>11} {:>10} {:>12} {:>9} {:>7}", "activated", "RSS MiB", "live actors", "elapsed s", "failed");
    while mark > 0 {
        let finished = tasks.is_empty();
        if done.load(Ordering::SeqCst) as usize >= mark || finished {
            let rss = rss_kib(app.pid()).unwrap_or(0);
            let actors = app.active_device_actors(&http).await;
            let elapsed = started.elapsed().as_secs_f64();
            let actors = actors.map_or("?".to_owned(), |a| a.to_string());
            println!("{mark:>11} {:>10.1} {actors:>12} {elapsed:>9.1} {:>7}", mib(rss), failed.load(Ordering::SeqCst));
            readings.push((mark, rss));
            if mark >= tokens.len() {
                break;
            }
            mark = (mark + every).min(tokens.len());
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    readings
}

/// Whether RSS stayed bounded: the last reading within [`BOUND_MARGIN`] of the first at or after
/// `settle` activations; None when the run had no reading that late.
pub fn bounded(readings: &[(usize, u64)], settle: usize) -> Option<(bool, u64, u64)> {
    let (_, reference) = readings.iter().find(|(n, _)| *n >= settle).copied()?;
    let (last_n, last) = readings.last().copied()?;
    if last_n <= settle {
        return None;
    }
    Some(((last as f64) <= reference as f64 * (1.0 + BOUND_MARGIN), reference, last))
}

/// Runs the whole bench and prints its findings.
pub async fn run(config: &MillionConfig) -> Result<()> {
    let bin = config.servers.app_bin()?;
    println!("app binary: {}; SQLite", bin.display());
    let idle = config.idle_timeout_ms;
    // The credential cache scaled down with the idle timeout (as `bench`'s memory phase does), so a
    // passivated device does not keep a cached credential for a minute.
    let extra = [
        ("REPLENISH_ACTOR_IDLE_TIMEOUT_MS", idle.to_string()),
        ("REPLENISH_CREDENTIAL_CACHE_SECS", (idle / 2_000).max(1).to_string()),
    ];
    let backend = Backend::create("sqlite", &config.servers, &extra)?;
    let mut app = AppProcess::start(&bin, backend.env())?;
    app.wait_ready().await?;
    let api = Api::new(&app.url(), reqwest::Client::new());
    let mut setup = RunConfig::new(&app.url(), ADMIN_TOKEN);
    setup.devices = 0;
    let fleet = api.provision(&setup).await?;
    println!("RSS of the empty app {:.1} MiB", mib(rss_kib(app.pid())?));
    let prefix = format!("{}m", fleet.device_prefix);
    println!(
        "a batch of {} devices is answered: {}",
        MAX_BATCH + 1,
        oversized_batch(&api, &fleet.api_key, &prefix).await?
    );
    let tokens = register(&api, &fleet.api_key, &prefix, config, &app).await?;
    let size = std::fs::metadata(backend.dir().join("replenish.db")).map(|m| m.len()).unwrap_or(0);
    println!("database file {:.1} MiB", size as f64 / 1_048_576.0);
    println!(
        "activating {} of them in turn, {} in flight, actor idle timeout {idle} ms:",
        tokens.len(),
        config.in_flight
    );
    let readings = activate(&app, tokens, config).await;
    let max = readings.iter().map(|(_, rss)| *rss).max().unwrap_or(0);
    match bounded(&readings, config.settle) {
        Some((ok, reference, last)) => println!(
            "RSS bounded (last reading within {:.0} % of the one at {} activations): {} — {:.1} MiB then, {:.1} MiB at the end, \
             {:.1} MiB at most; {:.0} B per activation after it",
            BOUND_MARGIN * 100.0,
            config.settle,
            if ok { "met" } else { "MISSED" },
            mib(reference),
            mib(last),
            mib(max),
            last.saturating_sub(reference) as f64 * 1024.0
                / readings.last().map_or(1, |(n, _)| n.saturating_sub(config.settle).max(1)) as f64
        ),
        None => println!("RSS bounded: not judged (no reading after {} activations)", config.settle),
    }
    tokio::time::sleep(Duration::from_millis(idle + 2_000)).await;
    let http = reqwest::Client::new();
    let actors = app.active_device_actors(&http).await.map_or("?".to_owned(), |a| a.to_string());
    println!("{} ms later: {actors} live device actors, RSS {:.1} MiB", idle + 2_000, mib(rss_kib(app.pid())?));
    drop(app);
    drop(backend);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_bounded_when_the_last_reading_stays_near_the_reference() {
        let flat = [(10, 100_000), (20, 150_000), (30, 160_000), (40, 155_000)];
        assert_eq!(bounded(&flat, 20), Some((true, 150_000, 155_000)));
        let growing = [(10, 100_000), (20, 150_000), (30, 200_000), (40, 250_000)];
        assert_eq!(bounded(&growing, 20), Some((false, 150_000, 250_000)));
        // No reading after the reference: nothing to judge.
        assert_eq!(bounded(&flat[..2], 20), None);
        assert_eq!(bounded(&flat, 50), None);
    }
}
