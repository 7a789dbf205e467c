//! The bench's traffic mixes and its in-process generator (reqwest): the closed model when `wrk` is not
//! used, the open model at half the maximum rate (wrk has no rate option), and the warm-up.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use replenish_api::{Confidence, DetectionRequest, FillLevel};
use serde::Serialize;

use crate::cpu::cpu_times;
use crate::error::Error;
use crate::stats::{Endpoint, Recorder, Snapshot};

/// Which detections a phase sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchMix {
    /// FULL and HALF only: every detection is settled in memory (above the reorder threshold).
    Settled,
    /// 20 % LOW or NEARLY_EMPTY, the rest FULL or HALF: the low ones take the prompt path.
    Fleet,
}

impl BenchMix {
    /// Share of detections at or below the reorder threshold.
    pub fn low_share(self) -> f64 {
        match self {
            BenchMix::Settled => 0.0,
            BenchMix::Fleet => 0.2,
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BenchMix::Settled => "settled",
            BenchMix::Fleet => "fleet",
        }
    }

    /// A fill level drawn from the mix.
    pub fn fill(self, rng: &mut impl Rng) -> FillLevel {
        let low = rng.random_bool(self.low_share());
        match (low, rng.random_bool(0.5)) {
            (true, true) => FillLevel::Low,
            (true, false) => FillLevel::NearlyEmpty,
            (false, true) => FillLevel::Full,
            (false, false) => FillLevel::Half,
        }
    }
}

impl FromStr for BenchMix {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "settled" => Ok(BenchMix::Settled),
            "fleet" => Ok(BenchMix::Fleet),
            other => Err(Error::Config(format!("unknown mix {other} (settled, fleet)"))),
        }
    }
}

/// Rate, latency and cost of one in-process phase.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Measured {
    /// 2xx answers per second.
    pub ok_per_second: f64,
    /// Answers that were not 2xx, plus transport errors.
    pub failed: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Slowest answer, ms.
    pub max_ms: f64,
    /// Length of the phase, s.
    pub wall_s: f64,
    /// CPU this process (the generator) used meanwhile, s.
    pub generator_cpu_s: f64,
    /// Open model: p99 of how late a sender with nothing outstanding sent (the generator or the box
    /// falling behind, not the server), ms.
    pub generator_late_p99_ms: f64,
}

fn measured(snapshot: &Snapshot, seconds: f64, cpu_s: f64) -> Measured {
    let s = &snapshot.endpoints[0];
    let ok = s.count_in(200..=299);
    let q = |q: f64| if s.latency.is_empty() { 0.0 } else { s.latency.value_at_quantile(q) as f64 / 1000.0 };
    Measured {
        ok_per_second: ok as f64 / seconds,
        failed: s.requests() - ok,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        max_ms: s.latency.max() as f64 / 1000.0,
        wall_s: seconds,
        generator_cpu_s: cpu_s,
        generator_late_p99_ms: 0.0,
    }
}

/// The fill levels `drive` sends without a mix (9 in 10 FULL/HALF), as `bench-webhooks` always has.
const LEGACY_FILLS: [FillLevel; 10] = {
    use FillLevel::{Full, Half, Low};
    [Full, Half, Full, Half, Full, Half, Full, Half, Full, Low]
};

fn detection(prefix: &str, n: u64, mix: Option<BenchMix>) -> DetectionRequest {
    let fill = match mix {
        Some(mix) => mix.fill(&mut rand::rng()),
        None => LEGACY_FILLS[(n % 10) as usize],
    };
    DetectionRequest {
        event_id: format!("{prefix}-{n}"),
        object_class: crate::client::CATALOG[(n % 3) as usize].1.to_owned(),
        fill_level: fill,
        confidence: Confidence::High,
        captured_at_ms: chrono::Utc::now().timestamp_millis(),
    }
}

async fn one(http: &reqwest::Client, url: &str, token: &str, body: &DetectionRequest) -> Option<u16> {
    let response = http.post(url).bearer_auth(token).json(body).send().await.ok()?;
    let status = response.status().as_u16();
    response.bytes().await.ok().map(|_| status)
}

/// Detections against `url` with `tokens` round-robin: closed with `concurrency` clients, or open at `rate`,
/// 9 in 10 FULL/HALF. The same generator measures the baseline and the app.
pub async fn drive(url: &str, tokens: &[String], concurrency: usize, rate: Option<f64>, length: Duration) -> Measured {
    drive_mix(url, tokens, concurrency, rate, length, None).await
}

/// As [`drive`], with the fill levels drawn from `mix` (None: the legacy 9 in 10 FULL/HALF).
pub async fn drive_mix(
    url: &str,
    tokens: &[String],
    concurrency: usize,
    rate: Option<f64>,
    length: Duration,
    mix: Option<BenchMix>,
) -> Measured {
    let http = reqwest::Client::builder().tcp_nodelay(true).timeout(Duration::from_secs(30)).build();
    let Ok(http) = http else { return Measured { failed: 1, ..Measured::default() } };
    let connections = match rate {
        Some(rate) => match open_connections(url, rate, concurrency).await {
            Some(connections) => connections,
            None => return Measured { failed: 1, ..Measured::default() },
        },
        None => Vec::new(),
    };
    let cpu_before = cpu_times(None).ok();
    let recorder = Arc::new(Recorder::new());
    // Event ids unique to this phase: a repeat would take the app's cheaper duplicate path.
    let prefix: Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
    let tokens: Arc<[String]> = tokens.into();
    let lag = Arc::new(Lag::default());
    let start = recorder.start();
    let mut tasks = tokio::task::JoinSet::new();
    match rate {
        None => {
            let next = Arc::new(AtomicU64::new(0));
            for _ in 0..concurrency {
                let (http, url, tokens, recorder, next, prefix) =
                    (http.clone(), url.to_owned(), tokens.clone(), recorder.clone(), next.clone(), prefix.clone());
                tasks.spawn(async move {
                    while start.elapsed() < length {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let body = detection(&prefix, n, mix);
                        let sent = Instant::now();
                        let status = one(&http, &url, &tokens[n as usize % tokens.len()], &body).await;
                        recorder.record(Endpoint::Detections, sent, status, sent.elapsed());
                    }
                });
            }
        }
        Some(rate) => {
            // As wrk2 does: a fixed set of connections, each sending its share of the schedule
            // (request n at start + n/rate goes to sender n mod senders). A sender whose previous answer
            // is late sends late, and that lateness counts in the latency, which runs from the intended
            // send time: a stalled server cannot hide its backlog. Enough senders that each has ~10 ms
            // between its requests keep that from happening while the server keeps up.
            let senders = connections.len();
            for (k, mut connection) in connections.into_iter().enumerate() {
                let (tokens, recorder, prefix, lag) = (tokens.clone(), recorder.clone(), prefix.clone(), lag.clone());
                tasks.spawn(async move {
                    let mut n = k as u64;
                    loop {
                        let intended = start + Duration::from_secs_f64(n as f64 / rate);
                        if intended >= start + length {
                            break;
                        }
                        let idle = Instant::now() < intended;
                        tokio::time::sleep_until(intended.into()).await;
                        if idle {
                            // Woken late with nothing outstanding: the generator itself fell behind.
                            lag.record(intended.elapsed());
                        }
                        let body = serde_json::to_vec(&detection(&prefix, n, mix)).unwrap_or_default();
                        let status = connection.post_json(&tokens[n as usize % tokens.len()], &body).await;
                        recorder.record(Endpoint::Detections, intended, status, intended.elapsed());
                        n += senders as u64;
                    }
                });
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    let cpu_s = match (cpu_before, cpu_times(None).ok()) {
        (Some(before), Some(after)) => after.since(&before).own.as_secs_f64(),
        _ => 0.0,
    };
    let mut m = measured(&recorder.snapshot(), start.elapsed().as_secs_f64(), cpu_s);
    m.generator_late_p99_ms = lag.p99_ms();
    m
}

/// The open model's connections, opened one after the other before the schedule starts: hundreds of
/// simultaneous connects overflow the server's listen backlog, and a dropped SYN is retried after a
/// second, which the first requests would count as latency. Each sender has a keep-alive connection
/// of its own (rawhttp: far cheaper than reqwest); enough of them that each has ~10 ms between its
/// requests.
async fn open_connections(url: &str, rate: f64, concurrency: usize) -> Option<Vec<crate::rawhttp::Connection>> {
    let target = crate::rawhttp::Target::parse(url).ok()?;
    let senders = ((rate / 100.0).ceil() as usize).clamp(concurrency.max(1), 2048);
    let mut connections = Vec::with_capacity(senders);
    for _ in 0..senders {
        let mut connection = crate::rawhttp::Connection::new(target.clone());
        connection.open().await;
        connections.push(connection);
    }
    Some(connections)
}

/// How late the open model's senders woke for requests they were free to send on time.
#[derive(Debug, Default)]
struct Lag(std::sync::Mutex<Vec<u32>>);

impl Lag {
    fn record(&self, late: Duration) {
        let micros = late.as_micros().min(u32::MAX as u128) as u32;
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(micros);
    }

    fn p99_ms(&self) -> f64 {
        let mut all = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        if all.is_empty() {
            return 0.0;
        }
        let at = (all.len() * 99 / 100).min(all.len() - 1);
        let (_, p99, _) = all.select_nth_unstable(at);
        f64::from(*p99) / 1000.0
    }
}

/// One detection (FULL: no prompt) from every device, 32 at a time, so each device gets its actor.
pub async fn touch(http: &reqwest::Client, url: &str, tokens: &[String], prefix: &str) {
    let mut set = tokio::task::JoinSet::new();
    for chunk in tokens.chunks(tokens.len().div_ceil(32).max(1)) {
        let (http, url, chunk, prefix) = (http.clone(), url.to_owned(), chunk.to_vec(), prefix.to_owned());
        set.spawn(async move {
            for (j, token) in chunk.iter().enumerate() {
                // Multiples of 10 are FULL in the legacy fills.
                let body = detection(&format!("{prefix}{}", &token[token.len() - 8..]), j as u64 * 10, None);
                let _ = one(&http, &url, token, &body).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
}
