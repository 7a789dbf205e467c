//! A merchant's event receiver on a local port (wiremock) that records every
//! delivery and fails or slows some at random, and helpers that make events
//! and check what arrived.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::Api;

/// Every event type, for endpoints that want them all.
pub const ALL_TYPES: [&str; 14] = [
    "intent.created",
    "intent.accepted",
    "intent.expired",
    "intent.rejected",
    "order.created",
    "order.submitted",
    "order.confirmed",
    "order.failed",
    "order.status_changed",
    "order.cancelled",
    "device.registered",
    "device.revoked",
    "tenant.limits_changed",
    "endpoint.disabled",
];

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The last path segment: which endpoint it was sent to.
    pub endpoint: String,
    pub event_id: String,
    pub attempt: u32,
    pub signature: String,
    pub content_type: String,
    pub user_agent: String,
    pub body: Vec<u8>,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    /// `<object>:<object_id>` of the event.
    pub fn object(&self) -> String {
        let event = self.event();
        format!("{}:{}", event["object"].as_str().unwrap_or_default(), event["object_id"].as_str().unwrap_or_default())
    }
}

/// The stand-in receiver.
#[derive(Clone, Default)]
pub struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    /// Share of requests answered 503, in percent.
    failure_percent: Arc<AtomicU16>,
    /// Longest random delay of an answer, ms.
    max_delay_ms: Arc<AtomicU16>,
    /// When set, every request is answered with this status and `fixed_body`.
    fixed_status: Arc<AtomicU16>,
    fixed_body: Arc<Mutex<String>>,
}

impl Receiver {
    /// Fails `percent` % of requests (503) and delays answers by up to `max_delay_ms`.
    pub fn flaky(percent: u16, max_delay_ms: u16) -> Self {
        let receiver = Self::default();
        receiver.failure_percent.store(percent, Ordering::SeqCst);
        receiver.max_delay_ms.store(max_delay_ms, Ordering::SeqCst);
        receiver
    }

    /// Answers every request with `status` and `body` from now on.
    pub fn answer_all(&self, status: u16, body: &str) {
        *self.fixed_body.lock().unwrap() = body.to_owned();
        self.fixed_status.store(status, Ordering::SeqCst);
    }

    /// Answers normally again (random failures as configured).
    pub fn heal(&self) {
        self.fixed_status.store(0, Ordering::SeqCst);
        self.failure_percent.store(0, Ordering::SeqCst);
    }

    /// Serves on a free port.
    pub async fn start(&self) -> MockServer {
        self.serve(MockServer::builder()).await
    }

    /// Serves on `listener`.
    pub async fn start_on(&self, listener: std::net::TcpListener) -> MockServer {
        self.serve(MockServer::builder().listener(listener)).await
    }

    async fn serve(&self, builder: wiremock::MockServerBuilder) -> MockServer {
        let server = builder.start().await;
        Mock::given(wiremock::matchers::method("POST")).respond_with(self.clone()).mount(&server).await;
        server
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Event ids answered 2xx at `endpoint`.
    pub fn delivered(&self, endpoint: &str) -> HashSet<String> {
        self.received()
            .into_iter()
            .filter(|r| r.endpoint == endpoint && (200..300).contains(&r.answered))
            .map(|r| r.event_id)
            .collect()
    }
}

impl Respond for Receiver {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header =
            |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned).unwrap_or_default();
        let mut rng = rand::rng();
        let fixed = self.fixed_status.load(Ordering::SeqCst);
        let failing = rng.random_range(0..100) < self.failure_percent.load(Ordering::SeqCst);
        let (status, body) = match (fixed, failing) {
            (0, true) => (503, "try later".to_owned()),
            (0, false) => (200, "ok".to_owned()),
            (status, _) => (status, self.fixed_body.lock().unwrap().clone()),
        };
        let received = Received {
            endpoint: request.url.path().rsplit('/').next().unwrap_or_default().to_owned(),
            event_id: header("replenish-event-id"),
            attempt: header("replenish-delivery-attempt").parse().unwrap_or(0),
            signature: header("replenish-signature"),
            content_type: header("content-type"),
            user_agent: header("user-agent"),
            body: request.body.clone(),
            answered: status,
        };
        self.received.lock().unwrap().push(received);
        let max_delay = u64::from(self.max_delay_ms.load(Ordering::SeqCst));
        let delay = if max_delay == 0 { 0 } else { rng.random_range(0..=max_delay) };
        ResponseTemplate::new(status).set_body_string(body).set_delay(Duration::from_millis(delay))
    }
}

/// Creates endpoint `id` of merchant `key` receiving `types` at `<base>/hooks/<id>`; its secret.
pub async fn put_endpoint(api: &Api, key: &str, id: &str, base: &str, types: &[&str]) -> String {
    let body = json!({"url": format!("{base}/hooks/{id}"), "event_types": types});
    let path = format!("/api/v1/webhook-endpoints/{id}");
    let reply = api.call(Method::PUT, &path, Some(key), Some(body)).await;
    reply.assert_status(201)["secret"].as_str().expect("secret").to_owned()
}

/// Every event of the merchant, oldest first.
pub async fn all_events(api: &Api, key: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor.as_deref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let path = format!("/api/v1/events?order=asc&limit=500{after}");
        let page = api.call(Method::GET, &path, Some(key), None).await.assert_status(200).clone();
        events.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return events,
        }
    }
}

/// Ids of `events`.
pub fn ids(events: &[Value]) -> HashSet<String> {
    events.iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect()
}

/// Makes `devices` more devices of store `main`, each prompted once; every
/// third declines, the others accept and their orders are reported SHIPPED
/// and DELIVERED: five to six events per object, several objects at once.
pub async fn activity(api: &Api, key: &str, prefix: &str, devices: usize) {
    for i in 0..devices {
        let token = api.add_device(key, &format!("{prefix}-{i}"), &format!("{prefix}-household-{i}")).await;
        let intent = api.prompted(&token, &format!("{prefix}-e{i}"), "water_bottle").await;
        if i % 3 == 2 {
            api.decide(&token, &intent, false, "VOICE").await.assert_status(200);
            continue;
        }
        let decided = api.decide(&token, &intent, true, "VOICE").await.assert_status(200).clone();
        let order = decided["order"]["order_id"].as_str().expect("order").to_owned();
        for status in ["SHIPPED", "DELIVERED"] {
            let path = format!("/api/v1/orders/{order}/status");
            api.call(Method::POST, &path, Some(key), Some(json!({"status": status}))).await.assert_status(200);
        }
    }
}

/// Polls `check` every 100 ms until it holds; panics with `what` after `limit` of real time.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "after {limit:?} still not: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every id of `expected` was answered 2xx at `endpoint`.
pub async fn all_arrive(receiver: &Receiver, endpoint: &str, expected: &HashSet<String>, limit: Duration) {
    wait_for(&format!("every event reached {endpoint}"), limit, || async {
        expected.is_subset(&receiver.delivered(endpoint))
    })
    .await;
}

/// Checks what `endpoint` received against the event log `events` (oldest
/// first): per object, events arrived in the order they were written; an event
/// seen again is a retry with a higher attempt number; nothing unknown arrived.
pub fn assert_ordered(received: &[Received], endpoint: &str, events: &[Value]) {
    let position: HashMap<String, usize> =
        events.iter().enumerate().map(|(i, e)| (e["id"].as_str().expect("id").to_owned(), i)).collect();
    let mut last_of_object: HashMap<String, (usize, u32)> = HashMap::new();
    let mut attempts: HashMap<String, u32> = HashMap::new();
    for r in received.iter().filter(|r| r.endpoint == endpoint) {
        let at = *position.get(&r.event_id).unwrap_or_else(|| panic!("unknown event {} arrived", r.event_id));
        let object = r.object();
        if let Some((previous, _)) = last_of_object.get(&object) {
            assert!(at >= *previous, "{object}: event #{at} arrived after #{previous}, written later");
        }
        last_of_object.insert(object, (at, r.attempt));
        let seen = attempts.entry(r.event_id.clone()).or_insert(0);
        assert!(r.attempt > *seen, "event {} arrived as attempt {} after attempt {}", r.event_id, r.attempt, seen);
        *seen = r.attempt;
    }
}
