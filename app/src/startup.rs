//! Builds the application: database, migrations, admin token, the public
//! HTTP server and the metrics server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Condition, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use replenish_migrations::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use tracing_actix_web::TracingLogger;

use crate::actors::{ActorSettings, Registry};
use crate::assistant::Assistant;
use crate::auth::credentials::CredentialCache;
use crate::changes::Invalidator;
use crate::clock::Clock;
use crate::config::Settings;
use crate::dashboard::session::DashboardConfig;
use crate::db::scope::TenantScope;
use crate::detections::actor::DeviceDeps;
use crate::detections::fleet::DeviceFleet;
use crate::detections::prompts::PromptWriter;
use crate::detections::writer::DetectionWriter;
use crate::http::{BodyLimit, method_not_allowed, path_config, problem_fallback, query_config, route_not_found};
use crate::idempotency::KeyPolicy;
use crate::idempotency::middleware::idempotency;
use crate::limits::client_ip::ClientIpPolicy;
use crate::limits::requests::Limiter;
use crate::limits::shared::SharedLimiter;
use crate::orders::actor::StoreActors;
use crate::orders::commerce::Remote;
use crate::orders::gate::GateSettings;
use crate::orders::lifecycle::OrderLifecycle;
use crate::orders::placement::{OrderPlacement, PlacementSettings};
use crate::orders::sweeper::Sweeper;
use crate::outbound::UrlPolicy;
use crate::request_id::RequestSpan;
use crate::state::{AppState, Audience};
use crate::tasks::TaskScope;
use crate::telemetry::Metrics;
use crate::tenants::cache::TenantCache;
use crate::webhooks::dispatcher::{DispatchSettings, Dispatcher};
use crate::{
    assistant, auth, catalog, dashboard, detections, devices, events, health, intents, limits, openapi, orders,
    platform, reports, request_id, stores, telemetry, tenants, webhooks,
};

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The listener could not be bound.
    #[error("listen: {0}")]
    Io(#[from] std::io::Error),
}

/// Connects to the database and applies pending migrations.
pub async fn migrate(settings: &Settings) -> Result<DatabaseConnection, StartupError> {
    let db = crate::db::connect(settings).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// A built, bound, not yet running application: the public server (API,
/// health, OpenAPI) and the metrics server on a listener of its own.
pub struct Application {
    port: u16,
    metrics_port: u16,
    server: Server,
    metrics_server: Server,
    generated_admin_token: Option<SecretString>,
}

/// Stops both servers of an [`Application`] together.
#[derive(Clone)]
pub struct ApplicationHandle {
    public: ServerHandle,
    metrics: ServerHandle,
}

impl ApplicationHandle {
    /// Stops the public server, then the metrics server (so the last
    /// requests are still counted while they drain); `graceful` lets
    /// in-flight requests finish.
    pub async fn stop(&self, graceful: bool) {
        self.public.stop(graceful).await;
        self.metrics.stop(graceful).await;
    }
}

/// The services the public routes reach through `web::Data`.
struct Wiring {
    state: web::Data<AppState>,
    assistant: web::Data<Assistant>,
}

impl Application {
    /// Connects, migrates (unless disabled), settles the admin token and binds
    /// both listeners. Port 0 in `settings.listen` or `settings.metrics_listen`
    /// picks a free port. Runs on the system clock.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Clock::system()).await
    }

    /// Like [`Application::build`], reading time from `clock` (tests pass a
    /// manual clock and advance it instead of sleeping).
    pub async fn build_with_clock(settings: Settings, clock: Clock) -> Result<Self, StartupError> {
        let db =
            if settings.run_migrations { migrate(&settings).await? } else { crate::db::connect(&settings).await? };
        let (audience, generated_admin_token) = audience(&db, &settings).await?;
        let listener = TcpListener::bind(settings.listen)?;
        let port = listener.local_addr()?.port();
        // Metrics name every tenant: they get a listener of their own, never the public one.
        let metrics_listener = TcpListener::bind(settings.metrics_listen)?;
        let metrics_port = metrics_listener.local_addr()?.port();
        let metrics = Arc::new(Metrics::default());
        let wiring = wire(&settings, db, audience, &metrics, clock)?;
        let server = public_server(&settings, listener, wiring, metrics.clone())?;
        let metrics_server = metrics_server(&settings, metrics_listener, metrics)?;
        Ok(Self { port, metrics_port, server, metrics_server, generated_admin_token })
    }

    /// The port the public server (API, health, OpenAPI) listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// The admin token, when this start generated it (first start on SQLite
    /// without `REPLENISH_ADMIN_TOKEN`). It is not stored and never shown again.
    pub fn generated_admin_token(&self) -> Option<&SecretString> {
        self.generated_admin_token.as_ref()
    }

    /// A handle that stops both servers gracefully.
    pub fn handle(&self) -> ApplicationHandle {
        ApplicationHandle { public: self.server.handle(), metrics: self.metrics_server.handle() }
    }

    /// Serves until SIGTERM/SIGINT (graceful: in-flight requests finish) or
    /// until [`ApplicationHandle::stop`]. Both servers hear the signal; when
    /// either stops for any other reason (an error, one handle) the other is
    /// stopped too, so the process never keeps half of itself running.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (public_handle, metrics_handle) = (self.server.handle(), self.metrics_server.handle());
        let public = async move {
            let result = self.server.await;
            metrics_handle.stop(true).await;
            result
        };
        let metrics = async move {
            let result = self.metrics_server.await;
            public_handle.stop(true).await;
            result
        };
        let (public, metrics) = tokio::join!(public, metrics);
        public.and(metrics)
    }
}

/// The Redis pool, when `REDIS_URL` is set.
fn redis_pool(settings: &Settings) -> Result<Option<deadpool_redis::Pool>, StartupError> {
    settings
        .redis_url
        .as_ref()
        .map(|url| {
            deadpool_redis::Config::from_url(url.expose_secret())
                .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                .map_err(|e| StartupError::Config(format!("REDIS_URL: {e}")))
        })
        .transpose()
}

/// Builds the shared state: caches, limiter, device fleet, change listener.
fn wire(
    settings: &Settings,
    db: DatabaseConnection,
    audience: Audience,
    metrics: &Arc<Metrics>,
    clock: Clock,
) -> Result<Wiring, StartupError> {
    let redis = redis_pool(settings)?;
    let shared = redis.clone().map(|pool| SharedLimiter::new(pool, settings.redis_prefix.clone()));
    let limiter = Limiter::new(settings.ip_per_minute, shared, metrics.clone());
    let assistant = web::Data::new(Assistant::new(&settings.assistant, db.clone(), metrics.clone()));
    let credentials = credential_cache(settings, &clock);
    let client_ip = ClientIpPolicy::from_settings(
        settings.trust_forwarded_for,
        settings.forwarded_header,
        settings.trusted_proxy_hops,
        &settings.trusted_proxies,
    )
    .map_err(StartupError::Config)?;
    let tenants = Arc::new(TenantCache::new(db.clone(), TENANT_SNAPSHOT_TTL, clock.clone()));
    let tasks = TaskScope::default();
    let only = audience.dedicated_tenant().cloned();
    let devices = Arc::new(loop_services(settings, &db, &tenants, metrics, &tasks, &clock, only));
    let commerce_timeout = Duration::from_millis(settings.commerce_timeout_ms.max(1));
    let merchant_urls = UrlPolicy { allow_private: settings.merchant_calls.commerce_allow_private_urls };
    // Events reach merchants' webhook endpoints from a background task on every replica.
    let dispatch = DispatchSettings::from(&settings.webhooks);
    let only = audience.dedicated_tenant().cloned();
    Arc::new(Dispatcher::new(db.clone(), clock.clone(), metrics.clone(), dispatch, merchant_urls, only)).spawn(&tasks);
    let remote = Remote::new(merchant_urls, clock.clone());
    let orders = Arc::new(OrderLifecycle::new(db.clone(), remote, commerce_timeout, clock.clone()));
    let changes = Arc::new(Invalidator::new(vec![credentials.clone(), tenants.clone(), devices.clone()]));
    if !settings.is_sqlite() {
        // One process owns an SQLite file: every change happens here and is applied here.
        changes.listen(settings.database_url.expose_secret().to_owned());
    }
    let state = web::Data::new(AppState {
        db,
        audience,
        redis,
        tenants,
        devices,
        orders,
        limiter,
        credentials,
        client_ip,
        changes,
        tasks,
        clock,
        merchant_urls,
    });
    Ok(Wiring { state, assistant })
}

/// The public server: API, health, readiness and the OpenAPI document.
fn public_server(
    settings: &Settings,
    listener: TcpListener,
    wiring: Wiring,
    metrics: Arc<Metrics>,
) -> Result<Server, StartupError> {
    let Wiring { state, assistant } = wiring;
    let metrics = web::Data::from(metrics);
    let body_limit = settings.body_limit_bytes;
    let batch_limit = settings.batch_body_limit_bytes;
    let image_limit = settings.assistant.assistant_body_limit_bytes;
    let report_timeout = Duration::from_millis(settings.report_timeout_ms);
    let dashboard = DashboardConfig {
        session_ttl: Duration::from_secs(settings.dashboard_session_secs.max(60)),
        secure_cookies: settings.dashboard_cookies_secure(),
        report_timeout,
    };
    let sentry_enabled = sentry::Hub::current().client().is_some_and(|client| client.is_enabled());
    let admin = state.audience.dedicated_tenant().is_none();
    let key_policy = KeyPolicy {
        ttl: Duration::from_secs(settings.idempotency_key_ttl_secs),
        stale_after: IDEMPOTENCY_STALE_AFTER,
        max_body_bytes: body_limit.max(batch_limit),
    };
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(metrics.clone())
            .app_data(assistant.clone())
            .app_data(BodyLimit(body_limit))
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(path_config())
            .app_data(query_config())
            .app_data(key_policy)
            .wrap(ErrorHandlers::new().default_handler(problem_fallback))
            // Without a Sentry client the middleware would still build a scope per request.
            .wrap(Condition::new(sentry_enabled, sentry::integrations::actix::Sentry::new()))
            .wrap(from_fn(telemetry::track_request))
            // Outside the request log, so its line and every other one of the request is in the span.
            .wrap(TracingLogger::<RequestSpan>::new())
            .wrap(from_fn(request_id::assign))
            .configure(operations_routes)
            .configure(|cfg| admin_routes(cfg, admin))
            .configure(|cfg| dashboard::routes::configure(cfg, dashboard))
            .service(
                web::scope("/api/v1")
                    // Innermost: it needs the caller, and a throttled request never touches a key.
                    .wrap(from_fn(idempotency))
                    .wrap(from_fn(limits::middleware::tenant_limit))
                    .wrap(from_fn(auth::middleware::authenticate))
                    .wrap(from_fn(limits::middleware::ip_limit))
                    .wrap(from_fn(limits::middleware::report_limits))
                    .configure(stores::routes::configure)
                    .configure(catalog::routes::configure)
                    .configure(|cfg| devices::routes::configure_api(cfg, batch_limit))
                    .configure(detections::routes::configure)
                    .configure(intents::routes::configure)
                    .configure(orders::routes::configure)
                    .configure(events::routes::configure)
                    .configure(webhooks::routes::configure)
                    .configure(webhooks::deliveries_routes::configure)
                    .configure(|cfg| reports::routes::configure(cfg, report_timeout))
                    .configure(|cfg| assistant::routes::configure(cfg, image_limit))
                    .default_service(web::to(route_not_found)),
            )
            .default_service(web::to(route_not_found))
    })
    .listen(listener)?
    .shutdown_timeout(settings.shutdown_timeout_secs);
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    Ok(server.run())
}

/// The metrics server: `GET /metrics` and nothing else. One worker is plenty
/// for a scrape every few seconds.
fn metrics_server(settings: &Settings, listener: TcpListener, metrics: Arc<Metrics>) -> Result<Server, StartupError> {
    let metrics = web::Data::from(metrics);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .wrap(ErrorHandlers::new().default_handler(problem_fallback))
            .wrap(from_fn(request_id::assign))
            .service(
                web::resource("/metrics")
                    .route(web::get().to(telemetry::metrics_endpoint))
                    .default_service(method_not_allowed("GET")),
            )
            .default_service(web::to(route_not_found))
    })
    .workers(1)
    .listen(listener)?
    .shutdown_timeout(settings.shutdown_timeout_secs);
    Ok(server.run())
}

/// Whom the app serves: one dedicated tenant (`REPLENISH_DEDICATED_TENANT`; no admin
/// token is required, generated or accepted), or the platform with its admin token
/// (returned too when this start generated it).
async fn audience(
    db: &DatabaseConnection,
    settings: &Settings,
) -> Result<(Audience, Option<SecretString>), StartupError> {
    if let Some(tenant) = &settings.dedicated_tenant {
        let tenant = TenantScope::parse(tenant)
            .map_err(|e| StartupError::Config(format!("REPLENISH_DEDICATED_TENANT is no tenant id: {e}")))?;
        if settings.admin_token.is_some() {
            tracing::warn!("REPLENISH_ADMIN_TOKEN is ignored: a dedicated tenant's app has no admin API");
        }
        return Ok((Audience::Dedicated(tenant), None));
    }
    let admin = platform::admin_token(db, settings).await.map_err(|e| StartupError::Config(e.to_string()))?;
    Ok((Audience::Platform { admin_token_hash: admin.hash }, admin.generated))
}

/// The platform admin's API; not mounted in a dedicated tenant's app (404 there).
fn admin_routes(cfg: &mut web::ServiceConfig, mounted: bool) {
    if mounted {
        cfg.service(
            web::scope("/admin/v1")
                .wrap(from_fn(idempotency))
                .wrap(from_fn(auth::middleware::authenticate))
                .configure(tenants::routes::configure)
                .configure(devices::routes::configure_admin)
                .default_service(web::to(route_not_found)),
        );
    }
}

/// How long a request may hold an idempotency key in progress before a retry
/// may take it over (its replica died mid-request): far beyond any request,
/// whose longest wait is the shutdown grace.
const IDEMPOTENCY_STALE_AFTER: Duration = Duration::from_secs(5 * 60);
/// How long a tenant snapshot is served before it is reloaded.
const TENANT_SNAPSHOT_TTL: Duration = Duration::from_secs(2);
/// How often the SQLite WAL is checkpointed.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// Wires the replenishment loop: order placement, store and device actors,
/// the detection writer; starts the sweeper (over tenant `only` alone, when given)
/// and (SQLite) the WAL checkpoints.
fn loop_services(
    settings: &Settings,
    db: &DatabaseConnection,
    tenants: &Arc<TenantCache>,
    metrics: &Arc<Metrics>,
    tasks: &TaskScope,
    clock: &Clock,
    only: Option<TenantScope>,
) -> DeviceFleet {
    let commerce_timeout = Duration::from_millis(settings.commerce_timeout_ms.max(1));
    let answer_timeout = commerce_timeout + Duration::from_secs(5);
    let idle_timeout = Duration::from_millis(settings.actor_idle_timeout_ms.max(100));
    let horizon = Duration::from_secs(settings.order_retry_horizon_secs);
    let calls = &settings.merchant_calls;
    let placement_settings = PlacementSettings {
        commerce_timeout,
        retry_horizon: horizon,
        retry_base: Duration::from_millis(calls.commerce_retry_base_ms.max(1)),
        retry_max: Duration::from_secs(calls.commerce_retry_max_secs.max(1)),
        urls: UrlPolicy { allow_private: calls.commerce_allow_private_urls },
        gate: GateSettings {
            concurrency: calls.commerce_concurrency,
            per_second: calls.commerce_per_second,
            burst: calls.commerce_burst,
            breaker_failures: calls.commerce_breaker_failures,
            breaker_open: Duration::from_secs(calls.commerce_breaker_open_secs),
        },
    };
    let placement = Arc::new(OrderPlacement::new(db.clone(), metrics.clone(), placement_settings, clock.clone()));
    let sweep_interval = Duration::from_secs(settings.sweep_interval_secs.max(1));
    let store_settings =
        ActorSettings { idle_timeout, mailbox_capacity: settings.store_mailbox_capacity.max(1), answer_timeout };
    let stores = Arc::new(StoreActors::new(placement.clone(), store_settings, metrics.clone(), clock.clone()));
    crate::idempotency::spawn_pruning(tasks, db.clone(), clock.clone(), sweep_interval, only.clone());
    let event_retention = Duration::from_secs(settings.event_retention_days.saturating_mul(24 * 3600));
    events::pruning::spawn_pruning(tasks, db.clone(), clock.clone(), sweep_interval, event_retention, only.clone());
    let sweeper = Arc::new(Sweeper::new(db.clone(), placement, clock.clone(), only));
    tasks.every(sweep_interval, move || {
        let sweeper = sweeper.clone();
        async move {
            if let Err(err) = sweeper.sweep().await {
                tracing::warn!(error = %err, "sweep failed");
            }
        }
    });
    if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        let db = db.clone();
        tasks.every(CHECKPOINT_INTERVAL, move || {
            let db = db.clone();
            async move {
                if let Err(err) = crate::db::checkpoint(&db).await {
                    tracing::warn!(error = %err, "WAL checkpoint failed");
                }
            }
        });
    }
    DeviceFleet::new(DeviceDeps {
        db: db.clone(),
        tenants: tenants.clone(),
        writer: DetectionWriter::spawn(db.clone(), metrics.clone()),
        prompts: PromptWriter::spawn(db.clone(), metrics.clone()),
        stores,
        metrics: metrics.clone(),
        settings: ActorSettings { idle_timeout, mailbox_capacity: settings.mailbox_capacity.max(1), answer_timeout },
        registry: Arc::new(Registry::default()),
        clock: clock.clone(),
    })
}

/// Most credentials one replica remembers (a device token entry is ~200 bytes).
const CREDENTIAL_CACHE_CAPACITY: u64 = 200_000;

fn credential_cache(settings: &Settings, clock: &Clock) -> Arc<CredentialCache> {
    let ttl = Duration::from_secs(settings.credential_cache_secs);
    // On Postgres the invalidator keeps the cache off until it hears other replicas.
    let cache = Arc::new(CredentialCache::new(ttl, CREDENTIAL_CACHE_CAPACITY, clock.clone()));
    if !ttl.is_zero() {
        cache.spawn_housekeeping();
    }
    cache
}

fn operations_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz").route(web::get().to(health::healthz)).default_service(method_not_allowed("GET")),
    )
    .service(web::resource("/readyz").route(web::get().to(health::readyz)).default_service(method_not_allowed("GET")))
    .service(
        web::resource("/openapi.json")
            .route(web::get().to(openapi::openapi_json))
            .default_service(method_not_allowed("GET")),
    )
    .configure(openapi::configure_docs);
}
