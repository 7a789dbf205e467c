//! The real app in this process, and a tampering proxy in front of it.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use replenish_app::{Application, Settings};
use secrecy::SecretString;
use serde_json::{Value, json};

/// The app on a random port with a SQLite database in a temp dir (or a fresh Postgres database).
pub struct TestApp {
    pub url: String,
    pub admin_token: String,
    dir: std::path::PathBuf,
    /// (server URL, database name) of a Postgres database to drop.
    database: Option<(String, String)>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((server, name)) = &self.database {
            replenish_loadtests::process::drop_database(server, name);
        }
    }
}

/// Where a test app keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // Not every test binary uses both.
pub enum Backend {
    /// A SQLite file in a temp dir.
    Sqlite,
    /// A fresh database on `DATABASE_URL` (dropped at the end), with Redis on `REDIS_URL`.
    Postgres,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Backend::Sqlite, |_| {}).await
    }

    /// The app on `backend`, with `adjust` applied to its settings.
    #[allow(dead_code)] // Not every test binary adjusts settings.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Self {
        let dir = std::env::temp_dir().join(format!("replenish-load-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let admin_token = format!("load-test-admin-{}", uuid::Uuid::new_v4().simple());
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            // Tests run side by side: each app its own metrics port.
            metrics_listen: "127.0.0.1:0".parse().unwrap(),
            database_url: SecretString::from(format!("sqlite://{}?mode=rwc", dir.join("replenish.db").display())),
            admin_token: Some(SecretString::from(admin_token.clone())),
            ip_per_minute: 1_000_000_000,
            workers: 1,
            shutdown_timeout_secs: 1,
            ..Settings::default()
        };
        let mut database = None;
        if backend == Backend::Postgres {
            let server =
                std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let (url, name) = replenish_loadtests::process::create_database(&server).expect("a fresh database");
            settings.database_url = SecretString::from(url);
            let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            settings.redis_url = Some(SecretString::from(redis));
            settings.redis_prefix = format!("replenish-load-test-{}:", uuid::Uuid::new_v4().simple());
            database = Some((server, name));
        }
        adjust(&mut settings);
        let app = Application::build(settings).await.expect("app builds");
        let url = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Self { url, admin_token, dir, database }
    }

    /// Creates a tenant with load-friendly limits and returns its API key.
    pub async fn create_tenant(&self, id: &str) -> String {
        let body = json!({"display_name": id, "plan": "enterprise", "limits": {"tenant_per_second": 1_000_000,
            "device_per_minute": 1_000_000, "cooldown_seconds": 0, "daily_order_budget_usd": 1_000_000.0}});
        let response = reqwest::Client::new()
            .put(format!("{}/admin/v1/tenants/{id}", self.url))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["api_key"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, key: &str, path: &str) -> Value {
        let response = reqwest::Client::new().get(format!("{}{path}", self.url)).bearer_auth(key).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }
}

/// How the proxy breaks the API's promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// The order listing shows its first order twice.
    DuplicateOrder,
    /// The order listing leaves out its first order.
    DropOrder,
    /// A detection whose event id was seen before gets a different answer.
    ChangeRepeatedDetection,
    /// Every n-th detection is a 500 (and never reaches the app).
    ServerErrorEvery(u64),
}

struct Proxy {
    upstream: String,
    tamper: Tamper,
    http: reqwest::Client,
    seen: Mutex<HashSet<String>>,
    detections: AtomicU64,
}

async fn forward(request: HttpRequest, body: web::Bytes, proxy: web::Data<Proxy>) -> HttpResponse {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let is_detection = path == "/api/v1/detections";
    if let (Tamper::ServerErrorEvery(n), true) = (proxy.tamper, is_detection)
        && proxy.detections.fetch_add(1, Ordering::SeqCst) % n == n - 1
    {
        return HttpResponse::InternalServerError().json(json!({"type": "internal"}));
    }
    let repeated = is_detection && {
        let event = serde_json::from_slice::<Value>(&body).ok().and_then(|b| b["event_id"].as_str().map(str::to_owned));
        event.is_some_and(|e| !proxy.seen.lock().unwrap().insert(e))
    };
    let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes()).unwrap();
    let mut upstream = proxy.http.request(method, format!("{}{path}", proxy.upstream)).body(body.to_vec());
    for name in ["authorization", "content-type"] {
        if let Some(value) = request.headers().get(name).and_then(|v| v.to_str().ok()) {
            upstream = upstream.header(name, value);
        }
    }
    let response = upstream.send().await.unwrap();
    let status = response.status().as_u16();
    let mut value: Value = response.json().await.unwrap_or(Value::Null);
    match proxy.tamper {
        Tamper::DuplicateOrder if path.starts_with("/api/v1/orders") => {
            if let Some(items) = value["items"].as_array_mut()
                && let Some(first) = items.first().cloned()
            {
                items.push(first);
            }
        }
        Tamper::DropOrder if path.starts_with("/api/v1/orders") => {
            if let Some(items) = value["items"].as_array_mut()
                && !items.is_empty()
            {
                items.remove(0);
            }
        }
        Tamper::ChangeRepeatedDetection if repeated => value["cooldown_remaining_ms"] = json!(424_242),
        _ => {}
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(value)
}

/// Starts a proxy to `upstream` that breaks it as `tamper` says; returns its URL.
pub async fn proxy(upstream: &str, tamper: Tamper) -> String {
    let state = web::Data::new(Proxy {
        upstream: upstream.to_owned(),
        tamper,
        http: reqwest::Client::new(),
        seen: Mutex::new(HashSet::new()),
        detections: AtomicU64::new(0),
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || App::new().app_data(state.clone()).default_service(web::to(forward)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    url
}
