//! Test support: the real app on SQLite, a proxy that can take it "down", the fake API
//! server, and a harness running both controllers against them.

pub mod fake_api;
pub mod proxy;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};
use replenish_operator::app_client::AppClient;
use replenish_operator::config::{DedicatedAppSettings, PlanDefaults};
use replenish_operator::error::Backoff;
use replenish_operator::metrics::Metrics;
use replenish_operator::reconcile::{self, Context, OperatorConfig};
use secrecy::SecretString;
use serde_json::{Value, json};

pub use fake_api::FakeApi;
pub use proxy::Proxy;

/// A running app: base URL and admin token. Its temp dir is removed on drop.
pub struct TestApp {
    pub url: String,
    pub admin_token: String,
    pub http: reqwest::Client,
    dir: std::path::PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the real app on port 0 with a fresh SQLite database.
pub async fn spawn_app() -> TestApp {
    let id = format!(
        "replenish_operator_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let dir = std::env::temp_dir().join(id);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let admin_token = format!("test-admin-{}", dir.file_name().unwrap().to_string_lossy());
    let settings = replenish_app::Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        // Tests run side by side: the metrics listener must not take a fixed port either.
        metrics_listen: "127.0.0.1:0".parse().expect("address"),
        database_url: SecretString::from(format!("sqlite://{}?mode=rwc", dir.join("replenish.db").display())),
        admin_token: Some(SecretString::from(admin_token.clone())),
        workers: 1,
        db_max_connections: 5,
        shutdown_timeout_secs: 1,
        ..replenish_app::Settings::default()
    };
    let app = replenish_app::Application::build(settings).await.expect("app builds");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp { url, admin_token, http: reqwest::Client::new(), dir }
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl TestApp {
    /// Calls the app; returns (status, JSON body or Null).
    pub async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("app answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `GET /admin/v1/tenants/{tenant}`.
    pub async fn tenant(&self, tenant: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, &format!("/admin/v1/tenants/{tenant}"), &self.admin_token, None).await
    }

    /// Creates store `id` with the tenant's API key.
    pub async fn put_store(&self, key: &str, id: &str) -> u16 {
        let body = json!({"name": format!("Store {id}"), "timezone": "UTC", "commerce": {"provider": "mock"}});
        self.call(reqwest::Method::PUT, &format!("/api/v1/stores/{id}"), key, Some(body)).await.0
    }

    /// An admin client of this app (or of `url`, e.g. a proxy in front of it).
    pub fn client(&self, url: &str) -> AppClient {
        AppClient::new(url, SecretString::from(self.admin_token.clone())).expect("client")
    }
}

/// Namespace the operator "runs" in during tests.
pub const OPERATOR_NAMESPACE: &str = "replenish-system";
/// What the chart's app env Secret holds in tests: the platform's secrets, which must never
/// reach a tenant's namespace.
pub const PLATFORM_SECRETS: [(&str, &str); 2] = [
    ("DATABASE_URL", "postgres://platform:db-password@postgres.db.svc/replenish"),
    ("REPLENISH_ADMIN_TOKEN", "platform-admin-token-0123456789"),
];
/// Endpoint reported for shared tenants during tests.
pub const SHARED_ENDPOINT: &str = "http://replenish.replenish-system.svc:8080";

/// A reconcile context as the tests configure it, with short retry delays.
pub fn context(client: Client, app: AppClient, metrics: Metrics) -> Arc<Context> {
    let config = OperatorConfig {
        plan_defaults: PlanDefaults::default(),
        app_image: "registry.example/replenish:test".into(),
        app_env_secret: "replenish-app-env".into(),
        namespace: OPERATOR_NAMESPACE.into(),
        shared_endpoint: Some(SHARED_ENDPOINT.into()),
        // As the chart renders it with networkPolicy.enabled and an imagePullSecret.
        dedicated_app: DedicatedAppSettings::parse(
            "imagePullSecrets: [{name: registry}]\nimagePullPolicy: IfNotPresent\n\
             resources: {requests: {cpu: 200m, memory: 256Mi}, limits: {cpu: \"2\", memory: 1Gi}}\n\
             env: {REPLENISH_LOG_LEVEL: debug, REPLENISH_LISTEN: \"0.0.0.0:9999\"}\n\
             terminationGracePeriodSeconds: 35\nnetworkPolicy: {from: []}\n",
        )
        .expect("dedicated app settings"),
    };
    let backoff = Backoff { base: Duration::from_millis(100), max: Duration::from_millis(800) };
    Arc::new(Context::new(client, app, config, metrics, "test".into()).with_backoff(backoff))
}

/// Both controllers running against the fake API server and the real app (through a proxy).
pub struct Harness {
    pub fake: FakeApi,
    pub client: Client,
    pub app: TestApp,
    pub proxy: Proxy,
    pub ctx: Arc<Context>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Harness {
    /// Starts everything; the app is reachable unless `app_up` is false.
    pub async fn start(app_up: bool) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("debug,hyper=info,h2=info,sqlx=warn,tower=info")
                .with_test_writer()
                .try_init();
        }
        let app = spawn_app().await;
        let proxy = Proxy::start(&app.url).await;
        proxy.set_up(app_up);
        let fake = FakeApi::default();
        // Tests act as a user through `client`; the operator has a client of its own.
        let client = Client::new(fake.as_agent("user"), "default");
        let operator = Client::new(fake.as_agent("operator"), "default");
        // The chart provides the dedicated apps' environment in the operator's namespace.
        let env = Secret {
            metadata: kube::api::ObjectMeta { name: Some("replenish-app-env".into()), ..Default::default() },
            string_data: Some(PLATFORM_SECRETS.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
            ..Secret::default()
        };
        Api::<Secret>::namespaced(client.clone(), OPERATOR_NAMESPACE)
            .create(&PostParams::default(), &env)
            .await
            .unwrap();
        let ctx = context(operator, app.client(&proxy.url), Metrics::default());
        let (stop, rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        tokio::spawn(reconcile::run_tenants(ctx.clone(), stopped(rx.clone())));
        tokio::spawn(reconcile::run_devices(ctx.clone(), stopped(rx)));
        Self { fake, client, app, proxy, ctx, stop }
    }

    /// A stored object or None.
    pub fn get(&self, gvr: &str, namespace: &str, name: &str) -> Option<Value> {
        self.fake.get(gvr, namespace, name)
    }

    /// Waits until nothing has been written for half a second (up to 20 s).
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let writes = self.fake.writes();
            tokio::time::sleep(Duration::from_millis(500)).await;
            if self.fake.writes() == writes || tokio::time::Instant::now() > deadline {
                return;
            }
        }
    }

    /// Events whose reason is `reason`.
    pub fn events(&self, reason: &str) -> Vec<Value> {
        self.fake.list("events.k8s.io/v1/events").into_iter().filter(|e| e["reason"] == reason).collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Polls `check` until it returns Some, for up to 20 seconds.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The status of condition `type_` of a stored custom resource.
pub fn condition(object: &Value, type_: &str) -> Option<Value> {
    object["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_).cloned()
}

/// Secret data field `key`, decoded.
pub fn secret_field(secret: &Value, key: &str) -> Option<String> {
    use base64_decode as decode;
    secret["data"][key].as_str().and_then(decode)
}

/// Standard base64 encoding (with padding), as Secret data is stored.
pub fn base64_encode(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Minimal standard base64 decoding, enough for Secret data in tests.
fn base64_decode(text: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).ok()
}
