//! The chaos run's traffic: the fleet mix (detections, prompts answered after
//! a think time, re-sent requests) from a seed, spread over the app
//! processes, every request and its outcome written to the history.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::history::{History, Op, OpKind, Outcome};
use crate::client::{CATALOG, Device};

/// Weights of FULL, HALF, LOW, NEARLY_EMPTY, EMPTY: more low levels than the
/// `run` default, so that prompts, decisions and orders are a good share.
const FILL: [(&str, u32); 5] = [("FULL", 35), ("HALF", 20), ("LOW", 25), ("NEARLY_EMPTY", 12), ("EMPTY", 8)];

/// A deliberately broken generator, for the tests that prove the checks bite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tamper {
    /// Every `n`-th fresh detection is answered 200 by the generator's own
    /// front without ever reaching an app: an acknowledged write that is lost.
    AckWithoutForwarding(u64),
}

impl Tamper {
    /// Whether arrival `n`'s detection is answered without being forwarded.
    pub fn swallows(self, n: u64) -> bool {
        match self {
            Tamper::AckWithoutForwarding(every) => every > 0 && n % every == every - 1,
        }
    }
}

/// The traffic's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadPlan {
    /// The seed: arrival `n`'s device, app, body and decision come from (seed, n) alone.
    pub seed: u64,
    /// How long arrivals start.
    pub duration: Duration,
    /// Concurrent clients (closed model).
    pub clients: usize,
    /// Think time before a decision, min and max ms.
    pub think_ms: (u64, u64),
    /// Share of prompts accepted.
    pub accept_rate: f64,
    /// Share of prompts never answered (left to expire).
    pub ignore_rate: f64,
    /// Share of requests sent again, to the other app.
    pub repeat_rate: f64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// A deliberate fault in the generator (tests only).
    pub tamper: Option<Tamper>,
}

/// Everything arrival `n` will do, drawn up front so that the outcome of one
/// request never shifts what the next draws.
#[derive(Debug, PartialEq)]
struct Arrival {
    device: usize,
    apps: [usize; 2],
    fill: &'static str,
    class: &'static str,
    repeat_detection: bool,
    ignore: bool,
    accept: bool,
    think: Duration,
    repeat_decision: bool,
}

fn arrival(plan: &LoadPlan, n: u64, devices: usize, apps: usize) -> Arrival {
    let mut rng = StdRng::seed_from_u64(plan.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let device = rng.random_range(0..devices.max(1));
    let first = rng.random_range(0..apps.max(1));
    let mut pick = rng.random_range(0..FILL.iter().map(|f| f.1).sum::<u32>());
    let fill = FILL
        .iter()
        .find(|(_, w)| {
            if pick < *w {
                true
            } else {
                pick -= w;
                false
            }
        })
        .map_or("FULL", |f| f.0);
    Arrival {
        device,
        apps: [first, rng.random_range(0..apps.max(1))],
        fill,
        class: CATALOG[rng.random_range(0..CATALOG.len())].1,
        repeat_detection: rng.random_bool(plan.repeat_rate),
        ignore: rng.random_bool(plan.ignore_rate),
        accept: rng.random_bool(plan.accept_rate),
        think: Duration::from_millis(rng.random_range(plan.think_ms.0..=plan.think_ms.1.max(plan.think_ms.0))),
        repeat_decision: rng.random_bool(plan.repeat_rate),
    }
}

struct Driver {
    plan: LoadPlan,
    urls: Vec<String>,
    devices: Vec<Device>,
    http: reqwest::Client,
    start: Instant,
    history: Mutex<History>,
}

impl Driver {
    async fn send(&self, app: usize, path: &str, device: usize, body: &Value) -> Outcome {
        let url = format!("{}{path}", self.urls[app]);
        let request = self.http.post(url).bearer_auth(&self.devices[device].token).json(body);
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(bytes) if (200..300).contains(&status) => {
                        Outcome::Ok { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
                    }
                    Ok(bytes) if status >= 500 => {
                        let problem = serde_json::from_slice::<Value>(&bytes)
                            .ok()
                            .and_then(|v| v["type"].as_str().and_then(|t| t.rsplit('/').next()).map(str::to_owned));
                        Outcome::ServerError { status, problem }
                    }
                    Ok(_) => Outcome::Refused { status },
                    Err(_) => Outcome::Timeout,
                }
            }
            // Never connected: the request cannot have had an effect.
            Err(err) if err.is_connect() => Outcome::NotSent,
            Err(_) => Outcome::Timeout,
        }
    }

    fn record(&self, n: u64, app: usize, at: Instant, kind: OpKind, outcome: Outcome) -> Outcome {
        let at_ms = at.duration_since(self.start).as_millis() as u64;
        let op = Op { n, app, at_ms, kind, outcome: outcome.clone() };
        self.history.lock().unwrap_or_else(|p| p.into_inner()).ops.push(op);
        outcome
    }

    async fn arrival(&self, n: u64) {
        let a = arrival(&self.plan, n, self.devices.len(), self.urls.len());
        let device_id = self.devices[a.device].id.clone();
        let event_id = format!("s{}-{n}", self.plan.seed);
        let body = json!({"event_id": event_id, "object_class": a.class, "fill_level": a.fill, "confidence": "HIGH",
            "captured_at_ms": chrono::Utc::now().timestamp_millis()});
        let kind = |repeat| OpKind::Detection { device: device_id.clone(), event_id: event_id.clone(), repeat };
        let sent = Instant::now();
        let tampered = self.plan.tamper.is_some_and(|t| t.swallows(n));
        let outcome = if tampered {
            Outcome::Ok { status: 200, body: json!({"should_prompt": false, "event_id": event_id}) }
        } else {
            self.send(a.apps[0], "/api/v1/detections", a.device, &body).await
        };
        let outcome = self.record(n, a.apps[0], sent, kind(false), outcome);
        // A swallowed detection is not re-sent: the loss must stay a loss.
        if a.repeat_detection && !tampered {
            let other = (a.apps[0] + 1) % self.urls.len();
            let at = Instant::now();
            let again = self.send(other, "/api/v1/detections", a.device, &body).await;
            self.record(n, other, at, kind(true), again);
        }
        let Some(answer) = outcome.acknowledged() else { return };
        let intent = answer["intent_id"].as_str().and_then(|s| s.parse::<uuid::Uuid>().ok());
        let (Some(intent), true) = (intent, answer["should_prompt"].as_bool().unwrap_or(false)) else { return };
        if a.ignore {
            return;
        }
        tokio::time::sleep(a.think).await;
        let decision = json!({"intent_id": intent, "accepted": a.accept, "channel": "VOICE",
            "decided_at_ms": chrono::Utc::now().timestamp_millis()});
        let kind = |repeat| OpKind::Decision { device: device_id.clone(), intent, accept: a.accept, repeat };
        let at = Instant::now();
        let outcome = self.send(a.apps[1], "/api/v1/decisions", a.device, &decision).await;
        self.record(n, a.apps[1], at, kind(false), outcome);
        if a.repeat_decision {
            let other = (a.apps[1] + 1) % self.urls.len();
            let at = Instant::now();
            let again = self.send(other, "/api/v1/decisions", a.device, &decision).await;
            self.record(n, other, at, kind(true), again);
        }
    }
}

/// Drives `plan` against the apps at `urls` from `start`; the history once every arrival is done.
pub async fn drive(plan: LoadPlan, urls: Vec<String>, devices: Vec<Device>, start: Instant) -> History {
    let http = reqwest::Client::builder().timeout(plan.timeout).tcp_nodelay(true).build().unwrap_or_default();
    let driver = Arc::new(Driver { plan, urls, devices, http, start, history: Mutex::new(History::default()) });
    let next = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..driver.plan.clients.max(1) {
        let (driver, next) = (driver.clone(), next.clone());
        clients.push(tokio::spawn(async move {
            while driver.start.elapsed() < driver.plan.duration {
                let n = next.fetch_add(1, Ordering::SeqCst);
                driver.arrival(n).await;
            }
        }));
    }
    for client in clients {
        let _ = client.await;
    }
    let mut history = std::mem::take(&mut *driver.history.lock().unwrap_or_else(|p| p.into_inner()));
    history.ops.sort_by_key(|op| (op.n, op.at_ms));
    history
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> LoadPlan {
        LoadPlan {
            seed,
            duration: Duration::from_secs(1),
            clients: 1,
            think_ms: (0, 1000),
            accept_rate: 0.5,
            ignore_rate: 0.1,
            repeat_rate: 0.5,
            timeout: Duration::from_secs(1),
            tamper: None,
        }
    }

    fn draws(seed: u64) -> Vec<Arrival> {
        (0..200).map(|n| arrival(&plan(seed), n, 60, 2)).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_requests() {
        assert_eq!(draws(3), draws(3));
        assert_ne!(draws(3), draws(4));
    }
}
