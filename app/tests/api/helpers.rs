//! Spawns the real application on a random port with a database of its own.

use std::path::PathBuf;
use std::time::Duration;

use replenish_app::clock::{Clock, ManualClock};
use replenish_app::{Application, ApplicationHandle, Settings};
use reqwest::{Method, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The server that hosts per-test Postgres databases (`DATABASE_URL` or the local default).
pub fn postgres_server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
    format!("{root}/{database}{query}")
}

/// A database that exists for one test and is dropped afterwards.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    name: String,
    sqlite_dir: Option<PathBuf>,
}

impl TestDb {
    pub async fn create(backend: Backend) -> Self {
        let name = format!("replenish_test_{}", Uuid::new_v4().simple());
        match backend {
            Backend::Postgres => {
                let server = postgres_server_url();
                let admin = Database::connect(&server).await.unwrap_or_else(|e| {
                    panic!("cannot reach Postgres at {server}: {e}. Run the README's test command, which starts it.")
                });
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
                admin.close().await.ok();
                Self { backend, url: with_database(&server, &name), name, sqlite_dir: None }
            }
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).expect("create sqlite dir");
                let url = format!("sqlite://{}?mode=rwc", dir.join("replenish.db").display());
                Self { backend, url, name, sqlite_dir: Some(dir) }
            }
        }
    }
}

impl TestDb {
    /// (type, object id) of every event of `tenant`, in write order, read
    /// straight from the database (for when the tenant's key no longer works).
    pub async fn events_of(&self, tenant: &str) -> Vec<(String, String)> {
        let db = Database::connect(&self.url).await.expect("connect to the test database");
        let sql = format!("SELECT event_type, object_id FROM events WHERE tenant_id = '{tenant}' ORDER BY seq");
        let rows = db.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await;
        let rows = rows.expect("read events");
        db.close().await.ok();
        rows.iter()
            .map(|r| (r.try_get("", "event_type").expect("type"), r.try_get("", "object_id").expect("object")))
            .collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        // Runs even when the test panicked; a thread of its own because Drop cannot await.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(&postgres_server_url()).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

/// An HTTP client for one app, with helpers for the calls tests make.
#[derive(Clone)]
pub struct Api {
    pub address: String,
    pub client: reqwest::Client,
    pub admin_token: String,
}

/// A running application (in this process) and a client for it.
pub struct TestApp {
    pub api: Api,
    pub settings: Settings,
    pub db: TestDb,
    /// The app's clock: runs with the system clock, and [`TestApp::advance`]
    /// moves it ahead instead of sleeping through a TTL or cooldown.
    pub clock: ManualClock,
    /// `http://127.0.0.1:<port>` of the metrics listener (`/metrics` is not on the public one).
    pub metrics_address: String,
    handle: ApplicationHandle,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Settings for a test app on `db`. On Postgres the admin token is set; on
/// SQLite it is left unset so the first start generates one, as in production.
fn test_settings(db: &TestDb) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        metrics_listen: "127.0.0.1:0".parse().expect("address"),
        database_url: SecretString::from(db.url.clone()),
        admin_token: (db.backend == Backend::Postgres)
            .then(|| SecretString::from(format!("test-admin-{}", Uuid::new_v4().simple()))),
        workers: 1,
        db_max_connections: 5,
        // Suites that send hundreds of requests from 127.0.0.1; the IP limit has tests of its own.
        ip_per_minute: 1_000_000,
        shutdown_timeout_secs: 1,
        // Stand-in merchants listen on 127.0.0.1 over plain http; the guard has tests of its own.
        merchant_calls: replenish_app::config::MerchantCallSettings {
            commerce_allow_private_urls: true,
            ..Default::default()
        },
        ..Settings::default()
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with settings adjusted by `adjust` (short timeouts, low limits…).
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::create(backend).await;
    let mut settings = test_settings(&db);
    adjust(&mut settings);
    start(settings, db, None, Clock::shifted()).await
}

/// A Redis key prefix no other test uses.
pub fn unique_redis_prefix() -> String {
    format!("replenish-test-{}:", Uuid::new_v4().simple())
}

/// Redis for tests: `REDIS_URL` or the local default.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Milliseconds since the epoch, as devices send them.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Builds and runs the app on `clock`; `known_admin_token` is used when this start did not generate one.
async fn start(settings: Settings, db: TestDb, known_admin_token: Option<String>, clock: ManualClock) -> TestApp {
    let app = Application::build_with_clock(settings.clone(), clock.clock()).await.expect("application builds");
    let admin_token = settings
        .admin_token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .or_else(|| app.generated_admin_token().map(|t| t.expose_secret().to_owned()))
        .or(known_admin_token)
        .expect("an admin token: configured, generated, or known from an earlier start");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let api = Api { address, client: reqwest::Client::new(), admin_token };
    TestApp { api, settings, db, clock, metrics_address, handle }
}

/// A response read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Reply {
    /// Reads `response` in full.
    pub async fn read(response: Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let raw = response.text().await.expect("body");
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Self { status, content_type, headers, body, raw }
    }

    /// Asserts an RFC 9457 problem of `status` whose type ends in `kind`.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, kind: &str) {
        assert_eq!(self.status.as_u16(), status, "status of {self:?}");
        assert_eq!(self.content_type, "application/problem+json", "content type of {self:?}");
        let problem_type = self.body["type"].as_str().unwrap_or_default();
        assert!(problem_type.ends_with(&format!("/{kind}")), "expected problem type {kind}, got {self:?}");
        assert_eq!(self.body["status"], status, "problem status of {self:?}");
        assert!(self.body["title"].is_string() && self.body["detail"].is_string(), "{self:?}");
        let request_id = self.headers.get("x-request-id").and_then(|v| v.to_str().ok()).expect("X-Request-Id");
        assert_eq!(self.body["request_id"], request_id, "every problem names its request: {self:?}");
    }

    /// The first item of the list-valued header `name` (on a 429, the
    /// `RateLimit-Policy` or `RateLimit` item of the limit that refused).
    pub fn first_item(&self, name: &str) -> String {
        let value = self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        value.split(", ").next().unwrap_or_default().to_owned()
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        &self.body
    }
}

impl TestApp {
    /// A client for an app that runs elsewhere (another process).
    pub fn remote(address: &str, admin_token: &str) -> Api {
        Api { address: address.to_owned(), client: reqwest::Client::new(), admin_token: admin_token.to_owned() }
    }

    /// Stops this server and starts a new one on the same database and clock.
    pub async fn restart(self) -> TestApp {
        self.restart_with(|_| {}).await
    }

    /// Like [`TestApp::restart`], with the settings adjusted by `adjust`.
    pub async fn restart_with(self, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        self.handle.stop(true).await;
        let TestApp { settings, db, api, clock, .. } = self;
        let admin_token = api.admin_token;
        let mut settings = settings;
        adjust(&mut settings);
        settings.listen = "127.0.0.1:0".parse().expect("address");
        start(settings, db, Some(admin_token), clock).await
    }

    /// `GET /metrics` on the metrics listener.
    pub async fn metrics(&self) -> Reply {
        let response = self.client.get(format!("{}/metrics", self.metrics_address)).send().await.expect("metrics");
        Reply::read(response).await
    }

    /// Moves the app's clock forward by `by`: TTLs, cooldowns, expiry and
    /// idle timers see that much time pass at once.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Polls `check` until it holds, at most five seconds of real time (for
    /// what a background timer does after [`TestApp::advance`]; generous, as
    /// a 2-core CI box running the whole suite can take seconds to get there);
    /// panics with `what` if it never does.
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !check().await {
            assert!(std::time::Instant::now() < deadline, "after 5 s still not: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Api {
    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::read(request.send().await.expect("request sent")).await
    }

    /// Sends raw bytes with the given content type.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::read(request.send().await.expect("request sent")).await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, Some(&self.admin_token.clone()), body).await
    }

    /// Creates tenant `id` and returns its API key.
    pub async fn create_tenant(&self, id: &str) -> String {
        let reply = self
            .admin(
                Method::PUT,
                &format!("/admin/v1/tenants/{id}"),
                Some(json!({"display_name": id, "plan": "starter"})),
            )
            .await;
        reply.assert_status(201)["api_key"].as_str().expect("api_key").to_owned()
    }

    pub async fn put_store(&self, key: &str, id: &str) -> Reply {
        let body =
            json!({"name": format!("Store {id}"), "timezone": "America/Los_Angeles", "commerce": {"provider": "mock"}});
        self.call(Method::PUT, &format!("/api/v1/stores/{id}"), Some(key), Some(body)).await
    }

    /// Points the tenant's store `main` at the mock provider answering every
    /// order with `outcome` (`fail`, `timeout`, …).
    pub async fn set_mock_outcome(&self, key: &str, outcome: &str) {
        let store =
            json!({"name": "Main", "timezone": "UTC", "commerce": {"provider": "mock", "mock_outcome": outcome}});
        self.call(Method::PUT, "/api/v1/stores/main", Some(key), Some(store)).await.assert_status(200);
    }

    /// Reports `object_class` empty with high confidence, expects a prompt, and
    /// returns its intent id.
    pub async fn prompted(&self, device: &str, event_id: &str, object_class: &str) -> String {
        let prompt = self.detect(device, event_id, object_class, "EMPTY", "HIGH").await;
        prompt.assert_status(200)["intent_id"].as_str().expect("intent").to_owned()
    }

    pub async fn put_product(&self, key: &str, id: &str, object_class: &str, sku: &str) -> Reply {
        self.call(Method::PUT, &format!("/api/v1/products/{id}"), Some(key), Some(product_body(object_class, sku)))
            .await
    }

    /// Registers a device through the merchant API and returns its token.
    pub async fn create_device(&self, key: &str, id: &str, store: &str) -> String {
        let body = json!({"device_id": id, "store": store, "owner": "household-1", "model": "spectacles-5"});
        let reply = self.call(Method::POST, "/api/v1/devices", Some(key), Some(body)).await;
        reply.assert_status(201)["token"].as_str().expect("token").to_owned()
    }

    /// A tenant with store `main`, product `water` and device `glasses`: (api key, device token).
    pub async fn seeded_tenant(&self, id: &str) -> (String, String) {
        let key = self.create_tenant(id).await;
        self.put_store(&key, "main").await.assert_status(201);
        self.put_product(&key, "water", "water_bottle", "WATER-24").await.assert_status(201);
        let token = self.create_device(&key, "glasses", "main").await;
        (key, token)
    }
}

impl Api {
    /// Sends a detection with a fresh timestamp.
    pub async fn detect(
        &self,
        device: &str,
        event_id: &str,
        object_class: &str,
        fill: &str,
        confidence: &str,
    ) -> Reply {
        let body = json!({
            "event_id": event_id,
            "object_class": object_class,
            "fill_level": fill,
            "confidence": confidence,
            "captured_at_ms": now_ms(),
        });
        self.call(Method::POST, "/api/v1/detections", Some(device), Some(body)).await
    }

    /// Sends a decision for `intent`.
    pub async fn decide(&self, device: &str, intent: &str, accepted: bool, channel: &str) -> Reply {
        let body = json!({"intent_id": intent, "accepted": accepted, "channel": channel, "decided_at_ms": now_ms()});
        self.call(Method::POST, "/api/v1/decisions", Some(device), Some(body)).await
    }

    /// Sets the tenant's plan limits (overrides).
    pub async fn set_limits(&self, tenant: &str, limits: Value) {
        let body = json!({"display_name": tenant, "plan": "starter", "limits": limits});
        let reply = self.admin(Method::PUT, &format!("/admin/v1/tenants/{tenant}"), Some(body)).await;
        assert!(reply.status.is_success(), "{reply:?}");
    }

    /// Registers another device of `owner` at store `main` and returns its token.
    pub async fn add_device(&self, key: &str, id: &str, owner: &str) -> String {
        let body = json!({"device_id": id, "store": "main", "owner": owner, "model": "spectacles-5"});
        let reply = self.call(Method::POST, "/api/v1/devices", Some(key), Some(body)).await;
        reply.assert_status(201)["token"].as_str().expect("token").to_owned()
    }

    /// The funnel summary of the merchant's tenant.
    pub async fn summary(&self, key: &str) -> Value {
        self.call(Method::GET, "/api/v1/telemetry/summary", Some(key), None).await.assert_status(200).clone()
    }
}

pub fn product_body(object_class: &str, sku: &str) -> Value {
    json!({
        "object_class": object_class,
        "display_name": "Spring Water",
        "reorder_threshold": "LOW",
        "default_sku": sku,
        "variants": [{"sku": sku, "label": "Spring Water 24-pack", "size": "24 x 500 ml", "unit_price_usd": 12.99}]
    })
}

/// The `replenish` binary running as a separate process (a replica).
pub struct AppProcess {
    pub address: String,
    child: std::process::Child,
}

impl AppProcess {
    /// Starts the binary on a free port with `env`, waiting until it answers `/healthz`.
    pub async fn start(env: &[(&str, String)]) -> AppProcess {
        Self::start_with_stderr(env, std::process::Stdio::inherit()).await
    }

    /// Like [`AppProcess::start`], its logs (stderr) going to `stderr`.
    pub async fn start_with_stderr(env: &[(&str, String)], stderr: std::process::Stdio) -> AppProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_replenish"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("REPLENISH_LISTEN", format!("127.0.0.1:{port}"))
            // Replicas run side by side: each takes a free metrics port.
            .env("REPLENISH_METRICS_LISTEN", "127.0.0.1:0")
            .env("REPLENISH_LOG_LEVEL", "warn")
            .env("REPLENISH_WORKERS", "2")
            // Stand-in merchants listen on 127.0.0.1 over plain http.
            .env("REPLENISH_COMMERCE_ALLOW_PRIVATE_URLS", "true")
            .stdout(std::process::Stdio::null())
            .stderr(stderr);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("replenish binary starts");
        let process = AppProcess { address: format!("http://127.0.0.1:{port}"), child };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(format!("{}/healthz", process.address)).send().await.is_ok_and(|r| r.status().is_success()) {
                return process;
            }
            // Waits for the replica process to start, not a TTL.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("replica on port {port} did not become healthy");
    }
}

impl AppProcess {
    /// Kills the process with SIGKILL: no shutdown, no cleanup, as a crash would.
    pub fn sigkill(self) {
        drop(self);
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
