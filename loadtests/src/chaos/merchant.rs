//! The merchant's webhook receiver the stores' orders go to: it places each
//! order once per `Idempotency-Key` and remembers what it placed, and it can
//! be made slow (it places the order, then answers after the app's deadline:
//! an unknown outcome the app must retry, not refund) or failing (503 without
//! placing).

use std::net::TcpListener;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;
use uuid::Uuid;

use super::checker::MerchantLedger;
use crate::error::{Error, Result};

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Places the order and answers 200 at once.
    Normal = 0,
    /// Places the order and answers only after the slow delay.
    Slow = 1,
    /// Answers 503 and places nothing.
    Failing = 2,
}

struct Inner {
    mode: AtomicU8,
    slow: Duration,
    ledger: Mutex<MerchantLedger>,
    calls: AtomicU64,
}

/// The running receiver.
pub struct Merchant {
    inner: Arc<Inner>,
    port: u16,
    handle: ServerHandle,
}

async fn receive(request: HttpRequest, inner: web::Data<Inner>) -> HttpResponse {
    inner.calls.fetch_add(1, Ordering::SeqCst);
    let key = request.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Ok(order) = key.parse::<Uuid>() else {
        // A cancellation (`cancel-<id>`) or something else: acknowledged, nothing to place.
        return HttpResponse::Ok().json(json!({}));
    };
    let mode = inner.mode.load(Ordering::SeqCst);
    if mode == Mode::Failing as u8 {
        return HttpResponse::ServiceUnavailable().json(json!({"detail": "merchant failing (chaos)"}));
    }
    {
        let mut ledger = inner.ledger.lock().unwrap_or_else(|p| p.into_inner());
        *ledger.placed.entry(order).or_default() += 1;
    }
    if mode == Mode::Slow as u8 {
        actix_web::rt::time::sleep(inner.slow).await;
    }
    HttpResponse::Ok().json(json!({"provider_order_id": format!("m-{order}"), "status": "CONFIRMED"}))
}

impl Merchant {
    /// Serves on a free port; a slow answer takes `slow`.
    pub fn start(slow: Duration) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::io("binding the merchant receiver"))?;
        let port = listener.local_addr().map_err(Error::io("binding the merchant receiver"))?.port();
        let inner = Arc::new(Inner {
            mode: AtomicU8::new(Mode::Normal as u8),
            slow,
            ledger: Mutex::new(MerchantLedger::default()),
            calls: AtomicU64::new(0),
        });
        let data = web::Data::from(inner.clone());
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .map_err(Error::io("starting the merchant receiver"))?
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { inner, port, handle })
    }

    /// The URL the stores' webhook provider posts orders to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/orders", self.port)
    }

    /// Switches how it answers.
    pub fn set_mode(&self, mode: Mode) {
        self.inner.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Calls received so far.
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(Ordering::SeqCst)
    }

    /// What it placed (and refused).
    pub fn ledger(&self) -> MerchantLedger {
        self.inner.ledger.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops serving.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    async fn post(merchant: &Merchant, key: Uuid) -> u16 {
        let response = reqwest::Client::new()
            .post(merchant.url())
            .header("Idempotency-Key", key.to_string())
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn it_places_once_per_key_and_fails_or_stalls_on_command() {
        let merchant = Merchant::start(Duration::from_millis(300)).unwrap();
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(post(&merchant, a).await, 200);
        assert_eq!(post(&merchant, a).await, 200);
        merchant.set_mode(Mode::Failing);
        assert_eq!(post(&merchant, b).await, 503);
        merchant.set_mode(Mode::Slow);
        let started = std::time::Instant::now();
        assert_eq!(post(&merchant, c).await, 200);
        assert!(started.elapsed() >= Duration::from_millis(300), "a slow answer comes after the delay");
        let ledger = merchant.ledger();
        // Asked twice, placed once (the count is of requests); the failing call placed nothing.
        assert_eq!(ledger.placed.get(&a), Some(&2));
        assert!(!ledger.placed.contains_key(&b));
        assert_eq!(ledger.placed.get(&c), Some(&1), "slow: placed, then answered late");
        assert_eq!(merchant.calls(), 4);
        merchant.stop().await;
    }
}
