//! A local webhook receiver: an HTTP server on 127.0.0.1 that takes the app's event
//! deliveries, verifies every `Replenish-Signature`, and counts deliveries per endpoint and
//! event id, so a run can check that every event reached it (and tell retries apart).
//!
//! Each endpoint the run registers gets its own path, `/hooks/<endpoint>`, and its own
//! secret(s); a delivery is counted only when its signature verifies with one of them.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use replenish_api::{Event, signing};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, with
/// one `v1` per secret while a secret is being rolled.
pub const SIGNATURE_HEADER: &str = signing::HEADER;
/// The event id header; must equal the body's `id`.
pub const EVENT_ID_HEADER: &str = "Replenish-Event-Id";
/// The attempt number header (1 for the first attempt).
pub const ATTEMPT_HEADER: &str = "Replenish-Delivery-Attempt";
/// How far a signature's time may be from the receiver's clock, seconds (as the README advises).
pub const TOLERANCE_SECS: i64 = 300;
/// Largest body accepted.
const MAX_BODY: usize = 1 << 20;

pub use replenish_api::signing::SignatureError;

/// The header value signing `body` with each of `secrets` at `timestamp` (what the app sends;
/// used by tests to play the app's part).
pub fn sign(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let secrets: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
    signing::sign_all(&secrets, timestamp, body)
}

/// Checks `header` for the raw `body` against any of `secrets` (the endpoint's current and,
/// during a roll, previous secret): [`signing::verify_any`], the scheme the app signs with.
pub fn verify(secrets: &[String], header: &str, body: &[u8], now: i64, tolerance: i64) -> Result<(), SignatureError> {
    let secrets: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
    signing::verify_any(&secrets, header, body, now, tolerance)
}

/// What an accepted delivery's body said about its event: enough to compare it with the
/// stored event (the chaos checker does).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeliveredEvent {
    /// `type`.
    pub event_type: String,
    /// `tenant_id`.
    pub tenant_id: String,
    /// `object`.
    pub object: String,
    /// `object_id`.
    pub object_id: String,
}

impl From<&Event> for DeliveredEvent {
    fn from(event: &Event) -> Self {
        Self {
            event_type: event.event_type.as_str().to_owned(),
            tenant_id: event.tenant_id.clone(),
            object: event.object.clone(),
            object_id: event.object_id.clone(),
        }
    }
}

/// What the receiver has seen so far.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Deliveries accepted (signature verified, body an event), retries included.
    pub accepted: u64,
    /// Accepted deliveries per (endpoint, event id): more than one is a retry of that event.
    pub per_event: HashMap<(String, Uuid), u32>,
    /// Per (endpoint, event id), the position of its first accepted delivery among all first
    /// deliveries: the order events reached the receiver, for the per-object order check.
    pub arrival: HashMap<(String, Uuid), u64>,
    /// Per (endpoint, event id), the distinct bodies its accepted deliveries carried (one,
    /// unless a retry's body differed from the first delivery's).
    pub bodies: HashMap<(String, Uuid), Vec<DeliveredEvent>>,
    /// Highest `Replenish-Delivery-Attempt` seen.
    pub max_attempt: u32,
    /// Deliveries refused for their signature (missing, malformed, stale or wrong).
    pub bad_signatures: u64,
    /// Signed deliveries whose body is not an event, or whose event id header differs from it.
    pub malformed: u64,
    /// Requests to a path no endpoint of the run uses.
    pub unknown_endpoint: u64,
    /// Deliveries answered 503 while the receiver played "down" ([`Receiver::set_down`]).
    pub refused_while_down: u64,
    /// When the first and the latest delivery were accepted.
    pub first_at: Option<Instant>,
    /// See `first_at`.
    pub last_at: Option<Instant>,
    /// The first refusals, with why, for the report.
    pub examples: Vec<String>,
}

impl Tally {
    /// Distinct event ids `endpoint` received.
    pub fn events(&self, endpoint: &str) -> HashSet<Uuid> {
        self.per_event.keys().filter(|(e, _)| e == endpoint).map(|(_, id)| *id).collect()
    }

    /// Distinct (endpoint, event) deliveries.
    pub fn distinct(&self) -> u64 {
        self.per_event.len() as u64
    }

    /// Deliveries beyond the first of each (endpoint, event): retries.
    pub fn retries(&self) -> u64 {
        self.per_event.values().map(|n| u64::from(n.saturating_sub(1))).sum()
    }

    fn refuse(&mut self, example: String) {
        if self.examples.len() < 5 {
            self.examples.push(example);
        }
    }
}

struct State {
    secrets: Mutex<HashMap<String, Vec<String>>>,
    tally: Mutex<Tally>,
    down: AtomicBool,
    /// Milliseconds to wait before answering an accepted delivery (0: answer at once).
    delay_ms: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked handler must not take the counts down with it.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn deliver(
    request: HttpRequest,
    endpoint: web::Path<String>,
    body: web::Bytes,
    state: web::Data<State>,
) -> HttpResponse {
    if state.down.load(Ordering::SeqCst) {
        // An outage as a merchant's receiver has them: the dispatcher must retry later.
        lock(&state.tally).refused_while_down += 1;
        return HttpResponse::ServiceUnavailable().body("down");
    }
    let endpoint = endpoint.into_inner();
    let secrets = lock(&state.secrets).get(&endpoint).cloned();
    let Some(secrets) = secrets else {
        lock(&state.tally).unknown_endpoint += 1;
        return HttpResponse::NotFound().body("no such endpoint");
    };
    let now = chrono::Utc::now().timestamp();
    let signature = header(&request, SIGNATURE_HEADER).unwrap_or("");
    if let Err(why) = verify(&secrets, signature, &body, now, TOLERANCE_SECS) {
        let mut tally = lock(&state.tally);
        tally.bad_signatures += 1;
        tally.refuse(format!("{endpoint}: {why}"));
        return HttpResponse::BadRequest().body(why.to_string());
    }
    let event = serde_json::from_slice::<Event>(&body);
    let id_header = header(&request, EVENT_ID_HEADER).and_then(|v| Uuid::parse_str(v).ok());
    let attempt = header(&request, ATTEMPT_HEADER).and_then(|v| v.parse::<u32>().ok());
    let answer = record(&state, endpoint, event, id_header, attempt);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 && answer.status().is_success() {
        // Counted as received, answered late: past the app's deadline it is retried.
        actix_web::rt::time::sleep(Duration::from_millis(delay)).await;
    }
    answer
}

/// Counts a signed delivery in the tally and says how to answer it.
fn record(
    state: &State,
    endpoint: String,
    event: serde_json::Result<Event>,
    id_header: Option<Uuid>,
    attempt: Option<u32>,
) -> HttpResponse {
    let mut tally = lock(&state.tally);
    match event {
        Ok(event) if id_header == Some(event.id) && attempt.is_some() => {
            tally.accepted += 1;
            let next = tally.arrival.len() as u64;
            tally.arrival.entry((endpoint.clone(), event.id)).or_insert(next);
            *tally.per_event.entry((endpoint.clone(), event.id)).or_insert(0) += 1;
            let body = DeliveredEvent::from(&event);
            let bodies = tally.bodies.entry((endpoint, event.id)).or_default();
            if !bodies.contains(&body) {
                bodies.push(body);
            }
            tally.max_attempt = tally.max_attempt.max(attempt.unwrap_or(0));
            let now = Instant::now();
            tally.first_at.get_or_insert(now);
            tally.last_at = Some(now);
            HttpResponse::Ok().body("ok")
        }
        Ok(event) => {
            tally.malformed += 1;
            tally.refuse(format!("{endpoint}: event {} with headers id {id_header:?}, attempt {attempt:?}", event.id));
            HttpResponse::BadRequest().body("event id or attempt header missing or wrong")
        }
        Err(e) => {
            tally.malformed += 1;
            tally.refuse(format!("{endpoint}: body is not an event: {e}"));
            HttpResponse::BadRequest().body("not an event")
        }
    }
}

/// A running receiver; stopped when dropped.
pub struct Receiver {
    base: String,
    state: web::Data<State>,
    handle: ServerHandle,
}

impl Receiver {
    /// Starts the receiver on `listen` (e.g. `127.0.0.1:0` for a free port) with `workers`
    /// threads. Must be called inside a Tokio runtime.
    pub fn start(listen: &str, workers: usize) -> Result<Self> {
        let listener =
            TcpListener::bind(listen).map_err(Error::io(format!("binding the webhook receiver to {listen}")))?;
        let address = listener.local_addr().map_err(Error::io("reading the receiver's address"))?;
        let state = web::Data::new(State {
            secrets: Mutex::new(HashMap::new()),
            tally: Mutex::new(Tally::default()),
            down: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
        });
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .route("/hooks/{endpoint}", web::post().to(deliver))
        })
        .workers(workers.max(1))
        .disable_signals()
        .listen(listener)
        .map_err(Error::io("starting the webhook receiver"))?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { base: format!("http://{address}"), state, handle })
    }

    /// The receiver's base URL, e.g. `http://127.0.0.1:40123`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Where deliveries for `endpoint` go, under `base` (the receiver's own, or the address
    /// the app reaches it at when that differs).
    pub fn url_for(base: &str, endpoint: &str) -> String {
        format!("{}/hooks/{endpoint}", base.trim_end_matches('/'))
    }

    /// Accepts deliveries for `endpoint` signed with `secret` (several calls add secrets,
    /// as during a roll).
    pub fn expect(&self, endpoint: &str, secret: &str) {
        lock(&self.state.secrets).entry(endpoint.to_owned()).or_default().push(secret.to_owned());
    }

    /// While `down`, every delivery is answered 503 and not counted as received (an outage).
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Answers accepted deliveries only after `delay` (zero: at once); a slow merchant.
    pub fn set_delay(&self, delay: Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// A copy of the counts so far.
    pub fn tally(&self) -> Tally {
        lock(&self.state.tally).clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Not awaited: the server stops in the background.
        drop(self.handle.stop(false));
    }
}

/// A random signing secret (48 hex characters), as an endpoint's `secret`.
pub fn new_secret() -> String {
    format!("whsec_{}{}", Uuid::new_v4().simple(), &Uuid::new_v4().simple().to_string()[..16])
}
