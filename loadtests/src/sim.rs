//! The fleet simulator: open and closed load models driving detections and decisions.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use replenish_api::{
    Channel, Confidence, DecisionRequest, DecisionResponse, DetectionRequest, DetectionResponse, FillLevel, Summary,
};
use serde_json::Value;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::checks::{self, Ledger};
use crate::client::{Api, CATALOG, Fleet, is_success};
use crate::config::{LoadModel, RunConfig, Stop};
use crate::error::Result;
use crate::report::Report;
use crate::schedule::arrival_offset;
use crate::stats::{Endpoint, Recorder, Second};
use crate::webhooks;

const FILL_LEVELS: [FillLevel; 5] =
    [FillLevel::Full, FillLevel::Half, FillLevel::Low, FillLevel::NearlyEmpty, FillLevel::Empty];
/// Earlier detections kept per device, to re-send as duplicates.
const HISTORY: usize = 4;

/// A detection answered 2xx, kept to re-send later.
#[derive(Debug, Clone)]
struct Sent {
    body: DetectionRequest,
    answer: Value,
}

/// A decision waiting for its think time to pass (closed model).
#[derive(Debug, Clone, Copy)]
struct Pending {
    due: Instant,
    device: usize,
    intent: Uuid,
    accept: bool,
    seed: u64,
}

struct Shared {
    config: RunConfig,
    fleet: Fleet,
    http: reqwest::Client,
    detections_url: String,
    decisions_url: String,
    recorder: Recorder,
    ledger: Mutex<Ledger>,
    history: Vec<Mutex<VecDeque<Sent>>>,
    in_flight: AtomicUsize,
    open_slots: Option<Semaphore>,
    queue: Mutex<Vec<Pending>>,
    /// With `cover_fleet_first`: the device of each of the first arrivals, every device once.
    cover: Vec<usize>,
}

/// Watches a run's load phase from outside (the benches read CPU time around it).
pub trait LoadProbe: Sync {
    /// Just before the first arrival.
    fn started(&self) {}
    /// Once the last answer is in, before the read-back checks.
    fn finished(&self) {}
}

impl LoadProbe for () {}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked task must not take the run's bookkeeping down with it.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts a task in flight until dropped.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn enter(shared: &Arc<Shared>) -> Self {
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `0..n` in a random order drawn from `seed`.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    order
}

fn rng_for(seed: u64, n: u64) -> StdRng {
    // Each request draws from its own stream, so a seed reproduces the traffic whatever the scheduling.
    StdRng::seed_from_u64(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl Shared {
    fn is_open(&self) -> bool {
        matches!(self.config.model, LoadModel::Open { .. })
    }

    /// Sends one request. In the open model latency counts from `intended`, waits for a slot included.
    async fn send(
        &self,
        endpoint: Endpoint,
        device: usize,
        body: &impl serde::Serialize,
        intended: Instant,
    ) -> Option<(u16, Value)> {
        let _slot = match &self.open_slots {
            Some(slots) => slots.acquire().await.ok(),
            None => None,
        };
        let url = match endpoint {
            Endpoint::Detections => &self.detections_url,
            Endpoint::Decisions => &self.decisions_url,
        };
        let sent = Instant::now();
        let request = self.http.post(url).bearer_auth(&self.fleet.devices[device].token).json(body);
        let answer = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(bytes) => Some((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))),
                    Err(_) => None,
                }
            }
            Err(_) => None,
        };
        let from = if self.is_open() { intended } else { sent };
        self.recorder.record(endpoint, intended, answer.as_ref().map(|a| a.0), from.elapsed());
        answer
    }

    fn compare(
        &self,
        retry: bool,
        what: &str,
        first: &Value,
        again: &Option<(u16, Value)>,
        same: impl Fn(&Value) -> bool,
    ) {
        let mut ledger = lock(&self.ledger);
        match again {
            // Rate limits, server errors and lost answers say nothing about idempotency (no_5xx catches the 5xx).
            None | Some((429 | 500..=599, _)) => {}
            Some((status, value)) => {
                if retry {
                    ledger.retries_compared += 1;
                } else {
                    ledger.duplicates_compared += 1;
                }
                if !is_success(*status) || !same(value) {
                    ledger.mismatch(retry, format!("{what}: first {first}, then {status} {value}"));
                }
            }
        }
    }

    async fn detection(self: &Arc<Self>, n: u64, intended: Instant) {
        let mut rng = rng_for(self.config.seed, n);
        let drawn = rng.random_range(0..self.fleet.devices.len());
        let device = self.cover.get(n as usize).copied().unwrap_or(drawn);
        let mix = &self.config.mix;
        if rng.random_bool(mix.duplicate_rate) {
            let earlier = {
                let history = lock(&self.history[device]);
                (!history.is_empty()).then(|| history[rng.random_range(0..history.len())].clone())
            };
            if let Some(earlier) = earlier {
                let again = self.send(Endpoint::Detections, device, &earlier.body, intended).await;
                self.compare(false, "duplicate event id", &earlier.answer, &again, |v| *v == earlier.answer);
                return;
            }
        }
        let total: u32 = mix.fill_weights.iter().sum();
        let mut pick = rng.random_range(0..total);
        let fill = FILL_LEVELS.iter().zip(mix.fill_weights).find_map(|(level, weight)| {
            if pick < weight {
                Some(*level)
            } else {
                pick -= weight;
                None
            }
        });
        let confidence = if rng.random_bool(mix.low_confidence) { Confidence::Low } else { Confidence::High };
        let body = DetectionRequest {
            event_id: format!("{}-{n}", self.fleet.device_prefix),
            object_class: CATALOG[rng.random_range(0..CATALOG.len())].1.to_owned(),
            fill_level: fill.unwrap_or(FillLevel::Full),
            confidence,
            captured_at_ms: chrono::Utc::now().timestamp_millis(),
        };
        let answer = self.send(Endpoint::Detections, device, &body, intended).await;
        let (status, value) = match answer {
            Some((status, value)) if is_success(status) => (status, value),
            Some((status, _)) if status < 500 => return,
            _ => {
                lock(&self.ledger).detections_uncertain += 1;
                return;
            }
        };
        let answered = serde_json::from_value::<DetectionResponse>(value.clone()).ok();
        let intent = answered.filter(|a| a.should_prompt).and_then(|a| a.intent_id);
        {
            let mut ledger = lock(&self.ledger);
            ledger.detections_ok += 1;
            if let Some(intent) = intent {
                ledger.prompts += 1;
                ledger.intents.insert(intent);
            }
        }
        {
            let mut history = lock(&self.history[device]);
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(Sent { body: body.clone(), answer: value.clone() });
        }
        if let Some(intent) = intent
            && !rng.random_bool(mix.ignore_rate)
        {
            let think = rng.random_range(mix.think_ms.0..=mix.think_ms.1);
            let pending = Pending {
                due: Instant::now() + Duration::from_millis(think),
                device,
                intent,
                accept: rng.random_bool(mix.accept_rate),
                seed: rng.random(),
            };
            self.schedule(pending);
        }
        if rng.random_bool(mix.retry_rate) {
            // The client lost the first answer and sends the same detection again.
            let again = self.send(Endpoint::Detections, device, &body, Instant::now()).await;
            self.compare(true, &format!("retried detection ({status})"), &value, &again, |v| *v == value);
        }
    }

    fn schedule(self: &Arc<Self>, pending: Pending) {
        if self.is_open() {
            let guard = InFlight::enter(self);
            let shared = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(pending.due.into()).await;
                shared.decision(pending, pending.due).await;
                drop(guard);
            });
        } else {
            lock(&self.queue).push(pending);
        }
    }

    async fn decision(self: &Arc<Self>, pending: Pending, intended: Instant) {
        let mut rng = rng_for(pending.seed, 1);
        let channel = if rng.random_bool(0.5) { Channel::Gesture } else { Channel::Voice };
        let body = DecisionRequest {
            intent_id: pending.intent,
            accepted: pending.accept,
            channel,
            decided_at_ms: chrono::Utc::now().timestamp_millis(),
        };
        let answer = self.send(Endpoint::Decisions, pending.device, &body, intended).await;
        {
            let mut ledger = lock(&self.ledger);
            match &answer {
                Some((status, value)) if is_success(*status) => {
                    if pending.accept {
                        let answer = serde_json::from_value::<DecisionResponse>(value.clone()).ok();
                        let order = answer.and_then(|a| a.order).map(|o| o.order_id);
                        ledger.accepted.insert(pending.intent, order);
                    } else {
                        ledger.rejected.insert(pending.intent);
                    }
                }
                Some((422, _)) => ledger.budget_exceeded += 1,
                Some((410, _)) => ledger.expired += 1,
                Some((status, _)) if *status < 500 => {}
                _ if pending.accept => {
                    ledger.accepted_uncertain.insert(pending.intent);
                }
                _ => {}
            }
        }
        if let Some((status, value)) = answer.filter(|(s, _)| is_success(*s))
            && rng.random_bool(self.config.mix.retry_rate)
        {
            let again = self.send(Endpoint::Decisions, pending.device, &body, Instant::now()).await;
            // The same decision again gets the same answer: same intent, state and order.
            let key = |v: &Value| {
                let answer = serde_json::from_value::<DecisionResponse>(v.clone()).ok()?;
                Some((answer.intent_id, answer.status, answer.order.map(|o| o.order_id)))
            };
            let first = key(&value);
            let same = |v: &Value| first.is_some() && key(v) == first;
            self.compare(true, &format!("retried decision ({status})"), &value, &again, same);
        }
    }

    fn pop_due(&self) -> Option<Pending> {
        let mut queue = lock(&self.queue);
        let now = Instant::now();
        let (i, _) = queue.iter().enumerate().filter(|(_, p)| p.due <= now).min_by_key(|(_, p)| p.due)?;
        Some(queue.swap_remove(i))
    }
}

async fn drive_open(shared: &Arc<Shared>, rate: f64) {
    let start = shared.recorder.start();
    let mut n = 0_u64;
    loop {
        let offset = arrival_offset(n, rate, shared.config.ramp_up);
        let done = match shared.config.stop {
            Stop::Duration(d) => offset >= d,
            Stop::Count(count) => n >= count,
        };
        if done {
            break;
        }
        let intended = start + offset;
        tokio::time::sleep_until(intended.into()).await;
        // The arrival keeps its intended time even when the generator runs late, so lateness counts as latency.
        let guard = InFlight::enter(shared);
        let task = shared.clone();
        tokio::spawn(async move {
            task.detection(n, intended).await;
            drop(guard);
        });
        n += 1;
    }
}

async fn drive_closed(shared: &Arc<Shared>, concurrency: usize) {
    let next = Arc::new(AtomicU64::new(0));
    let deadline = match shared.config.stop {
        Stop::Duration(d) => Some(shared.recorder.start() + d),
        Stop::Count(_) => None,
    };
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let (shared, next) = (shared.clone(), next.clone());
        let delay = shared.config.ramp_up.mul_f64(worker as f64 / concurrency as f64);
        workers.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            loop {
                if let Some(pending) = shared.pop_due() {
                    let _guard = InFlight::enter(&shared);
                    shared.decision(pending, Instant::now()).await;
                    continue;
                }
                let sending = match shared.config.stop {
                    Stop::Count(count) => next.load(Ordering::SeqCst) < count,
                    Stop::Duration(_) => deadline.is_some_and(|d| Instant::now() < d),
                };
                let n = if sending { Some(next.fetch_add(1, Ordering::SeqCst)) } else { None };
                match n {
                    Some(n) if !matches!(shared.config.stop, Stop::Count(c) if n >= c) => {
                        let _guard = InFlight::enter(&shared);
                        shared.detection(n, Instant::now()).await;
                    }
                    // Done sending: drain the decisions still thinking, then stop.
                    _ if lock(&shared.queue).is_empty() && shared.in_flight.load(Ordering::SeqCst) == 0 => break,
                    _ => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
}

async fn progress(shared: Arc<Shared>) {
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (requests, errors, p99) = shared.recorder.progress();
        eprint!(
            "\r[{:>6.1}s] {requests} requests ({}/s), {errors} not 2xx, detections p99 {:.1} ms, {} in flight   ",
            shared.recorder.start().elapsed().as_secs_f64(),
            requests - last,
            p99 as f64 / 1000.0,
            shared.in_flight.load(Ordering::SeqCst)
        );
        last = requests;
    }
}

/// Provisions a fleet, drives the configured load, checks the results and builds
/// the report; then deactivates the tenant the run created, unless told to keep it
/// (also when the load or the checks failed, so a broken run leaves nothing active).
pub async fn run(config: RunConfig) -> Result<Report> {
    config.validate()?;
    let (http, max_in_flight) = client(&config)?;
    let api = Api::new(&config.target.url, http.clone());
    let fleet = api.provision(&config).await?;
    let created = fleet.tenant.clone().zip(config.target.admin_token.clone());
    let keep = config.keep;
    let key = fleet.api_key.clone();
    let session = match &config.webhooks {
        Some(webhooks) => webhooks::start(&api, &key, webhooks, &fleet.device_prefix).await.map(Some),
        None => Ok(None),
    };
    let result = match session {
        Ok(session) => {
            let result = measure(&api, config, fleet, http, max_in_flight, session.as_ref(), None, &())
                .await
                .map(|(report, _)| report);
            // The endpoint points at a receiver about to stop: it must not be retried for days.
            if let Some(session) = &session {
                webhooks::unregister(&api, &key, &session.endpoint).await;
            }
            result
        }
        Err(error) => Err(error),
    };
    let cleanup = api.clean_up(created, keep).await;
    let mut report = result?;
    report.cleanup = cleanup;
    Ok(report)
}

fn client(config: &RunConfig) -> Result<(reqwest::Client, usize)> {
    let max_in_flight = match config.model {
        LoadModel::Open { max_in_flight, .. } => max_in_flight,
        LoadModel::Closed { concurrency } => concurrency,
    };
    let http = reqwest::Client::builder()
        .timeout(config.request_timeout)
        .tcp_nodelay(true)
        .pool_max_idle_per_host(max_in_flight)
        .build()?;
    Ok((http, max_in_flight))
}

/// Drives the load over a fleet provisioned earlier (perhaps through another app process on the same
/// database), checks the results and builds the report; no webhooks, and the tenant is left as it is.
/// `before` is the tenant's funnel before the load, when read earlier (so the app under test gets no
/// request before the load); `probe` is told when the load starts and ends. Besides the report,
/// the per-second timeline with each endpoint's histograms.
pub async fn run_fleet(
    config: RunConfig,
    fleet: Fleet,
    before: Option<Summary>,
    probe: &dyn LoadProbe,
) -> Result<(Report, Vec<Second>)> {
    config.validate()?;
    let (http, max_in_flight) = client(&config)?;
    let api = Api::new(&config.target.url, http.clone());
    measure(&api, config, fleet, http, max_in_flight, None, before, probe).await
}

/// Drives the load over a provisioned fleet, checks the results and builds the report.
#[allow(clippy::too_many_arguments)]
async fn measure(
    api: &Api,
    config: RunConfig,
    fleet: Fleet,
    http: reqwest::Client,
    max_in_flight: usize,
    session: Option<&webhooks::Session>,
    before: Option<Summary>,
    probe: &dyn LoadProbe,
) -> Result<(Report, Vec<Second>)> {
    let before = match before {
        Some(before) => before,
        None => api.summary(&fleet.api_key).await?,
    };
    let started_at = chrono::Utc::now();
    let shared = Arc::new(Shared {
        detections_url: format!("{}/api/v1/detections", api.base()),
        decisions_url: format!("{}/api/v1/decisions", api.base()),
        history: (0..fleet.devices.len()).map(|_| Mutex::new(VecDeque::new())).collect(),
        open_slots: matches!(config.model, LoadModel::Open { .. }).then(|| Semaphore::new(max_in_flight)),
        recorder: Recorder::new(),
        ledger: Mutex::new(Ledger::default()),
        in_flight: AtomicUsize::new(0),
        queue: Mutex::new(Vec::new()),
        cover: if config.cover_fleet_first { shuffled(fleet.devices.len(), config.seed) } else { Vec::new() },
        config,
        fleet,
        http,
    });
    let ticker = shared.config.progress.then(|| tokio::spawn(progress(shared.clone())));
    let load = async {
        probe.started();
        match shared.config.model {
            LoadModel::Open { rate, .. } => drive_open(&shared, rate).await,
            LoadModel::Closed { concurrency } => drive_closed(&shared, concurrency).await,
        }
        while shared.in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        probe.finished();
        (shared.recorder.start().elapsed(), chrono::Utc::now())
    };
    // A receiver outage plays beside the load; the wait for deliveries starts once both are over.
    let outage = async {
        if let (Some(session), Some(outage)) = (session, shared.config.webhooks.as_ref().and_then(|w| w.outage)) {
            webhooks::play_outage(session, outage).await;
        }
    };
    let ((elapsed, until), ()) = tokio::join!(load, outage);
    if let Some(ticker) = ticker {
        ticker.abort();
        eprintln!();
    }
    let snapshot = shared.recorder.snapshot();
    let ledger = std::mem::take(&mut *lock(&shared.ledger));
    let mut checks = checks::verify(api, &shared.fleet, &ledger, &snapshot, &before).await?;
    let delivered = match (session, &shared.config.webhooks) {
        (Some(session), Some(options)) => {
            let key = &shared.fleet.api_key;
            Some(webhooks::drain(api, key, session, started_at, until, options.drain_timeout).await?)
        }
        _ => None,
    };
    if let Some(delivered) = &delivered {
        checks.push(delivered.check());
        checks.push(delivered.order_check());
    }
    let mut report = Report::build(&shared.config, &shared.fleet, started_at, elapsed, &snapshot, &ledger, checks);
    report.webhooks = delivered;
    Ok((report, snapshot.timeline))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cover_order_visits_every_device_once_and_a_seed_repeats_it() {
        let order = shuffled(1000, 7);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(order, sorted, "shuffled");
        assert_eq!(order, shuffled(1000, 7));
    }
}
