//! A merchant's webhook endpoint on a local port (wiremock), standing in for a
//! real shop: it checks every call's signature, records it, answers scripted
//! responses first, and then places each order once per `Idempotency-Key`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::Api;

/// The signing secret the tests give their stores.
pub const SECRET: &str = "whsec_0123456789abcdef";

/// One call as the merchant received it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub key: String,
    pub signature: Option<String>,
    pub body: Vec<u8>,
    /// Whether the signature verified against the merchant's clock.
    pub verified: bool,
}

/// The stand-in merchant.
#[derive(Clone)]
pub struct Merchant {
    calls: Arc<Mutex<Vec<Captured>>>,
    script: Arc<Mutex<VecDeque<ResponseTemplate>>>,
    placed: Arc<Mutex<HashMap<String, String>>>,
    /// The first call of each order answers only after this long.
    stall_first: Option<Duration>,
    /// The merchant's clock, unix seconds.
    now: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Merchant {
    /// A merchant whose clock is `now`.
    pub fn new(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self {
            calls: Arc::default(),
            script: Arc::default(),
            placed: Arc::default(),
            stall_first: None,
            now: Arc::new(now),
        }
    }

    /// A merchant on the real clock (for apps in other processes).
    pub fn on_real_time() -> Self {
        Self::new(|| chrono::Utc::now().timestamp())
    }

    /// Answers the first call of each order only after `stall`.
    pub fn stalling_first_calls(mut self, stall: Duration) -> Self {
        self.stall_first = Some(stall);
        self
    }

    /// Answers the next calls with `answers`, in order, before placing orders.
    pub fn then(&self, answers: impl IntoIterator<Item = ResponseTemplate>) {
        self.script.lock().unwrap().extend(answers);
    }

    /// Serves on a free port.
    pub async fn start(&self) -> MockServer {
        self.serve(MockServer::builder()).await
    }

    /// Serves on `listener` (a port chosen, and refused, before the merchant came up).
    pub async fn start_on(&self, listener: std::net::TcpListener) -> MockServer {
        self.serve(MockServer::builder().listener(listener)).await
    }

    async fn serve(&self, builder: wiremock::MockServerBuilder) -> MockServer {
        let server = builder.start().await;
        Mock::given(wiremock::matchers::method("POST")).respond_with(self.clone()).mount(&server).await;
        server
    }

    pub fn calls(&self) -> Vec<Captured> {
        self.calls.lock().unwrap().clone()
    }

    /// Orders placed: one per idempotency key however often it was sent.
    pub fn orders(&self) -> usize {
        self.placed.lock().unwrap().len()
    }
}

impl Respond for Merchant {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let key = header("idempotency-key").unwrap_or_default();
        let signature = header("replenish-signature");
        let now = (self.now)();
        let verified = signature
            .as_deref()
            .is_some_and(|s| replenish_app::signing::verify(SECRET.as_bytes(), s, &request.body, now, 300).is_ok());
        let captured = Captured { key: key.clone(), signature, body: request.body.clone(), verified };
        self.calls.lock().unwrap().push(captured);
        if !verified {
            return ResponseTemplate::new(401).set_body_json(json!({"reason": "bad signature"}));
        }
        if let Some(scripted) = self.script.lock().unwrap().pop_front() {
            return scripted;
        }
        let mut placed = self.placed.lock().unwrap();
        let first = !placed.contains_key(&key);
        let count = placed.len();
        let reference = placed.entry(key).or_insert_with(|| format!("m-{count}")).clone();
        let ack = ResponseTemplate::new(201)
            .set_body_json(json!({"provider_order_id": reference, "eta": "2026-12-02", "status": "CONFIRMED"}));
        match self.stall_first {
            Some(stall) if first => ack.set_delay(stall),
            _ => ack,
        }
    }
}

/// A port nothing listens on yet, and the listener to bring the merchant up on it later.
pub fn reserved_port() -> (u16, impl FnOnce() -> std::net::TcpListener) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    (port, move || std::net::TcpListener::bind(("127.0.0.1", port)).expect("the reserved port is still free"))
}

/// Points store `main` of the merchant `key` at `url` with the test secret.
pub async fn use_webhook(api: &Api, key: &str, url: &str) {
    let store = json!({"name": "Main", "timezone": "UTC",
        "commerce": {"provider": "webhook", "url": format!("{url}/orders"), "cancel_url": format!("{url}/cancel"), "secret": SECRET}});
    api.call(Method::PUT, "/api/v1/stores/main", Some(key), Some(store)).await.assert_status(200);
}

/// Cents the tenant's households have committed: a refund would lower it.
pub async fn committed_cents(db_url: &str) -> i64 {
    use replenish_app::orders::entity::spend;
    use sea_orm::EntityTrait;
    let db = sea_orm::Database::connect(db_url).await.expect("test database");
    spend::Entity::find().all(&db).await.expect("spend").iter().map(|s| s.cents).sum()
}

/// The stored order `id`.
pub async fn stored_order(db_url: &str, id: &str) -> replenish_app::orders::entity::order::Model {
    use replenish_app::orders::entity::order;
    use sea_orm::EntityTrait;
    let db = sea_orm::Database::connect(db_url).await.expect("test database");
    let id: uuid::Uuid = id.parse().expect("order id");
    order::Entity::find_by_id(id).one(&db).await.expect("order").expect("stored")
}
