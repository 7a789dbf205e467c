//! The rig a chaos run owns: a private Postgres and Redis, a fault proxy per
//! app in front of each, the merchant's receivers (of orders, and of webhook
//! events) and the app processes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use replenish_api::EventType;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::checker::{ReadBack, WebhookLedger};
use super::cluster::{AppNode, Postgres, Redis, Scratch, ready};
use super::merchant::{Merchant, Mode};
use super::proxy::FaultProxy;
use crate::client::{Api, CATALOG, Device, STORE, is_success};
use crate::error::{Error, Result};
use crate::process::free_port;
use crate::receiver::{Receiver, new_secret};
use crate::webhooks;

/// The admin token of the rig's apps.
const ADMIN_TOKEN: &str = "chaos-admin-token-0123456789abcdef";
/// The webhook signing secret of the rig's store.
const SECRET: &str = "whsec_chaos_0123456789abcdef";
/// The webhook endpoint the chaos tenant registers for its events.
pub const WEBHOOK_ENDPOINT: &str = "chaos";
/// The apps' deadline for one event delivery, ms (`REPLENISH_WEBHOOK_TIMEOUT_MS`); the slow
/// webhook receiver answers after it.
const WEBHOOK_TIMEOUT_MS: u64 = 1000;

/// What the rig is built from.
#[derive(Debug, Clone)]
pub struct RigConfig {
    /// The `replenish` binary.
    pub app_bin: PathBuf,
    /// App processes (two in the setup).
    pub apps: usize,
    /// The apps' commerce deadline, ms (`REPLENISH_COMMERCE_TIMEOUT_MS`).
    pub commerce_timeout_ms: u64,
}

/// The provisioned tenant.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// Tenant id.
    pub tenant: String,
    /// Merchant API key.
    pub api_key: String,
    /// Devices and their tokens.
    pub devices: Vec<Device>,
}

/// Everything a chaos run starts, stopped when dropped.
pub struct Rig {
    /// The app processes.
    pub apps: Vec<Mutex<AppNode>>,
    /// Their base URLs.
    pub urls: Vec<String>,
    /// Between each app and Postgres.
    pub pg_proxies: Vec<FaultProxy>,
    /// Between each app and Redis.
    pub redis_proxies: Vec<FaultProxy>,
    /// One network fault per app at a time.
    pub net_turns: Vec<Mutex<()>>,
    /// The private Postgres.
    pub postgres: Arc<Postgres>,
    /// One Postgres restart at a time.
    pub postgres_turn: Mutex<()>,
    /// The private Redis.
    pub redis: Mutex<Redis>,
    /// The merchant's webhook receiver.
    pub merchant: Merchant,
    /// One merchant fault at a time.
    pub merchant_turn: Mutex<()>,
    /// The merchant's receiver of webhook events (endpoint [`WEBHOOK_ENDPOINT`]).
    pub webhooks: Receiver,
    /// How late the slow webhook receiver answers: after the apps' delivery deadline.
    pub webhook_slow: Duration,
    /// One webhook receiver fault at a time.
    pub webhook_turn: Mutex<()>,
    /// A client for setup and readiness probes.
    pub http: reqwest::Client,
    scratch: Scratch,
}

impl Rig {
    /// Initialises and starts everything; returns once every app is ready.
    pub async fn start(config: &RigConfig) -> Result<Self> {
        let scratch = Scratch::new("replenish-chaos")?;
        let pg_dir = scratch.path().join("pg");
        std::fs::create_dir_all(&pg_dir).map_err(Error::io("creating the Postgres directory"))?;
        let pg_port = free_port()?;
        let postgres = Arc::new(
            tokio::task::spawn_blocking(move || Postgres::init(&pg_dir, pg_port))
                .await
                .map_err(|e| Error::Bench(format!("initdb task: {e}")))??,
        );
        let redis = Redis::start(free_port()?).await?;
        // Slow answers come after the apps' deadline: placed, but an unknown outcome to the app.
        let merchant = Merchant::start(Duration::from_millis(config.commerce_timeout_ms + 500))?;
        let webhooks = Receiver::start("127.0.0.1:0", 2)?;
        let (mut apps, mut urls, mut pg_proxies, mut redis_proxies) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..config.apps {
            let pg_proxy = FaultProxy::start(postgres.port()).await?;
            let redis_proxy = FaultProxy::start(redis.port()).await?;
            let env = app_env(postgres.url_via(pg_proxy.port()), redis_proxy.port(), config.commerce_timeout_ms)?;
            let node = AppNode::new(&config.app_bin, free_port()?, env, scratch.path().join(format!("app-{i}.log")));
            urls.push(node.url());
            apps.push(Mutex::new(node));
            pg_proxies.push(pg_proxy);
            redis_proxies.push(redis_proxy);
        }
        let rig = Self {
            net_turns: apps.iter().map(|_| Mutex::new(())).collect(),
            apps,
            urls,
            pg_proxies,
            redis_proxies,
            postgres,
            postgres_turn: Mutex::new(()),
            redis: Mutex::new(redis),
            merchant,
            merchant_turn: Mutex::new(()),
            webhooks,
            webhook_slow: Duration::from_millis(WEBHOOK_TIMEOUT_MS + 500),
            webhook_turn: Mutex::new(()),
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
            scratch,
        };
        // One after the other: the first applies the migrations.
        for app in &rig.apps {
            rig.bring_up(&mut *app.lock().await).await?;
        }
        Ok(rig)
    }

    /// Where its logs and data live.
    pub fn dir(&self) -> PathBuf {
        self.scratch.path().to_owned()
    }

    /// Starts `node` and waits until it is ready, starting it again when it
    /// exits (it may, while Postgres is down or cut off).
    pub async fn bring_up(&self, node: &mut AppNode) -> Result<()> {
        node.start()?;
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if ready(&self.http, &node.url()).await {
                return Ok(());
            }
            if !node.running() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                node.start()?;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Error::Bench(format!("{} did not become ready; its log ends:\n{}", node.url(), node.log_tail())))
    }

    /// Undoes every network and merchant fault and waits until every app is ready again.
    pub async fn heal(&self) -> Result<()> {
        for proxy in self.pg_proxies.iter().chain(&self.redis_proxies) {
            proxy.heal();
        }
        self.merchant.set_mode(Mode::Normal);
        self.webhooks.set_delay(Duration::ZERO);
        self.webhooks.set_down(false);
        for app in &self.apps {
            let mut node = app.lock().await;
            if !ready(&self.http, &node.url()).await {
                self.bring_up(&mut node).await?;
            }
        }
        Ok(())
    }

    /// Creates tenant `tenant` (daily budget `budget_usd` per owner, intents
    /// lapsing after `intent_ttl` s), a store ordering through the merchant's
    /// webhook, a webhook endpoint taking every event type to [`Rig::webhooks`],
    /// the load catalog and `devices` devices shared by `owners` owners.
    pub async fn provision(
        &self,
        tenant: &str,
        devices: usize,
        owners: usize,
        budget_usd: f64,
        intent_ttl: u32,
    ) -> Result<Fleet> {
        let api = Api::new(&self.urls[0], self.http.clone());
        let limits = json!({"tenant_per_second": 1_000_000, "device_per_minute": 1_000_000, "cooldown_seconds": 0,
            "daily_order_budget_usd": budget_usd, "intent_ttl_seconds": intent_ttl});
        let body = json!({"display_name": format!("Chaos {tenant}"), "plan": "enterprise", "limits": limits});
        let created = expect(&api, Method::PUT, &format!("/admin/v1/tenants/{tenant}"), ADMIN_TOKEN, &body).await?;
        let key = created["api_key"].as_str().ok_or_else(|| Error::Bench("no api_key".into()))?.to_owned();
        let store = json!({"name": "Chaos store", "timezone": "UTC",
            "commerce": {"provider": "webhook", "url": self.merchant.url(), "secret": SECRET}});
        expect(&api, Method::PUT, &format!("/api/v1/stores/{STORE}"), &key, &store).await?;
        // Registered before anything else happens, so every event of the load is subscribed.
        let url = Receiver::url_for(self.webhooks.base(), WEBHOOK_ENDPOINT);
        let secret = new_secret();
        self.webhooks.expect(WEBHOOK_ENDPOINT, &secret);
        webhooks::register(&api, &key, WEBHOOK_ENDPOINT, &url, &secret, EventType::ALL).await?;
        for (id, class, sku, price) in CATALOG {
            let product = json!({"object_class": class, "display_name": id, "reorder_threshold": "LOW",
                "default_sku": sku, "variants": [{"sku": sku, "label": id, "unit_price_usd": price}]});
            expect(&api, Method::PUT, &format!("/api/v1/products/{id}"), &key, &product).await?;
        }
        let list: Vec<Value> = (0..devices)
            .map(|i| {
                json!({"device_id": format!("cd-{i}"), "store": STORE, "owner": format!("co-{}", i % owners.max(1)),
                "model": "spectacles-5"})
            })
            .collect();
        let registered = expect(&api, Method::POST, "/api/v1/devices:batch", &key, &json!({"devices": list})).await?;
        let devices = registered["devices"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| {
                        Some(Device { id: d["device_id"].as_str()?.to_owned(), token: d["token"].as_str()?.to_owned() })
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        Ok(Fleet { tenant: tenant.to_owned(), api_key: key, devices })
    }

    /// Rows of `sql` (a SELECT) read directly from the private Postgres, as `T`s.
    pub fn rows<T: DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>> {
        let text = self.postgres.psql(&format!("SELECT coalesce(json_agg(t), '[]'::json) FROM ({sql}) t"))?;
        serde_json::from_str(text.trim()).map_err(|e| Error::Shape { call: sql.to_owned(), detail: e.to_string() })
    }

    /// Runs a statement on the private Postgres (for the tests that tamper with it).
    pub fn execute(&self, sql: &str) -> Result<String> {
        self.postgres.psql(sql)
    }

    /// Orders of `tenant` still without a definite answer from the merchant.
    pub fn unsettled(&self, tenant: &str) -> Result<u64> {
        let text = self.postgres.psql(&format!(
            "SELECT count(*) FROM orders WHERE tenant_id = '{tenant}' AND status IN ('PENDING', 'SUBMITTED')"
        ))?;
        text.trim().parse().map_err(|_| Error::Bench(format!("count of unsettled orders: {text}")))
    }

    /// Work of `tenant` that will still write or deliver events: unsettled orders, intents
    /// still PENDING (the sweep expires them, writing `intent.expired`), and events the
    /// webhook receiver has not received yet.
    pub fn outstanding(&self, tenant: &str) -> Result<u64> {
        let pending = self.postgres.psql(&format!(
            "SELECT (SELECT count(*) FROM orders WHERE tenant_id = '{tenant}' AND status IN ('PENDING', 'SUBMITTED')) \
             + (SELECT count(*) FROM intents WHERE tenant_id = '{tenant}' AND status = 'PENDING')"
        ))?;
        let pending: u64 =
            pending.trim().parse().map_err(|_| Error::Bench(format!("count of pending work: {pending}")))?;
        let ids: Vec<IdRow> = self.rows(&format!("SELECT id FROM events {}", since_endpoint(tenant)))?;
        let received = self.webhooks.tally().events(WEBHOOK_ENDPOINT);
        Ok(pending + ids.iter().filter(|row| !received.contains(&row.id)).count() as u64)
    }

    /// Everything of `tenant` in the database, and the merchants' records.
    pub fn read_back(&self, tenant: &str) -> Result<ReadBack> {
        let of = format!("WHERE tenant_id = '{tenant}'");
        Ok(ReadBack {
            detections: self.rows(&format!("SELECT device_id, event_id FROM detections {of}"))?,
            intents: self.rows(&format!("SELECT id, device_id, status, accepted FROM intents {of}"))?,
            orders: self.rows(&format!(
                "SELECT id, intent_id, owner, budget_day, total_cents, status, test FROM orders {of}"
            ))?,
            spend: self.rows(&format!("SELECT owner, day, cents FROM owner_daily_spend {of}"))?,
            merchant: self.merchant.ledger(),
            events: self.rows(&format!(
                "SELECT id, event_type, tenant_id, object_kind, object_id FROM events {} ORDER BY seq",
                since_endpoint(tenant)
            ))?,
            webhooks: WebhookLedger::of(&self.webhooks.tally(), WEBHOOK_ENDPOINT),
        })
    }
}

/// `WHERE` of `tenant`'s events written since its webhook endpoint exists: the ones it must
/// receive. (The tenant's creation writes `tenant.limits_changed` before the endpoint can be
/// registered with the tenant's key; the dispatcher may fan that one out before the endpoint
/// exists, and then, rightly, nobody receives it.)
fn since_endpoint(tenant: &str) -> String {
    format!(
        "WHERE tenant_id = '{tenant}' AND created_at >= (SELECT created_at FROM webhook_endpoints \
         WHERE tenant_id = '{tenant}' AND id = '{WEBHOOK_ENDPOINT}')"
    )
}

/// A row with just an id.
#[derive(serde::Deserialize)]
struct IdRow {
    id: uuid::Uuid,
}

fn app_env(database_url: String, redis_port: u16, commerce_timeout_ms: u64) -> Result<Vec<(String, String)>> {
    let pairs = [
        ("DATABASE_URL", database_url),
        ("REDIS_URL", format!("redis://127.0.0.1:{redis_port}")),
        ("REPLENISH_ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("REPLENISH_METRICS_LISTEN", format!("127.0.0.1:{}", free_port()?)),
        ("REPLENISH_IP_PER_MINUTE", "1000000000".to_owned()),
        ("REPLENISH_LOG_LEVEL", "warn".to_owned()),
        ("REPLENISH_WORKERS", "2".to_owned()),
        ("REPLENISH_DB_MAX_CONNECTIONS", "8".to_owned()),
        ("REPLENISH_SHUTDOWN_TIMEOUT_SECS", "1".to_owned()),
        ("REPLENISH_COMMERCE_ALLOW_PRIVATE_URLS", "true".to_owned()),
        ("REPLENISH_COMMERCE_TIMEOUT_MS", commerce_timeout_ms.to_string()),
        // Quick retries and sweeps, so unknown outcomes settle within the run's tail.
        ("REPLENISH_SWEEP_INTERVAL_SECS", "1".to_owned()),
        ("REPLENISH_COMMERCE_RETRY_BASE_MS", "200".to_owned()),
        ("REPLENISH_COMMERCE_RETRY_MAX_SECS", "2".to_owned()),
        ("REPLENISH_COMMERCE_BREAKER_OPEN_SECS", "2".to_owned()),
        // The same for event deliveries: quick polls and retries, so they drain within the tail.
        ("REPLENISH_WEBHOOK_TIMEOUT_MS", WEBHOOK_TIMEOUT_MS.to_string()),
        ("REPLENISH_WEBHOOK_RETRY_BASE_MS", "200".to_owned()),
        ("REPLENISH_WEBHOOK_RETRY_MAX_SECS", "2".to_owned()),
        ("REPLENISH_WEBHOOK_POLL_INTERVAL_MS", "200".to_owned()),
    ];
    Ok(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

async fn expect(api: &Api, method: Method, path: &str, token: &str, body: &Value) -> Result<Value> {
    let (status, value) = api.call(method.clone(), path, token, Some(body)).await?;
    if !is_success(status) {
        return Err(Error::Status { call: format!("{method} {path}"), status, body: value.to_string() });
    }
    Ok(value)
}
