//! Builds the application: database, migrations, admin token, HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Condition, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use replenish_migrations::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};

use crate::assistant::Assistant;
use crate::auth::credentials::CredentialCache;
use crate::config::Settings;
use crate::http::{BodyLimit, method_not_allowed, path_config, problem_fallback, query_config, route_not_found};
use crate::limits::{Limiter, SharedLimiter};
use crate::replenishment::{LoopSettings, Services};
use crate::telemetry::Metrics;
use crate::{
    assistant, auth, catalog, devices, funnel, health, intents, limits, openapi, orders, platform, stores, telemetry,
    tenants,
};

/// Shared state every handler can reach through `web::Data<AppState>`.
pub struct AppState {
    /// The database pool.
    pub db: DatabaseConnection,
    /// Hex SHA-256 of the platform admin token.
    pub admin_token_hash: String,
    /// Redis pool, when `REDIS_URL` is set.
    pub redis: Option<deadpool_redis::Pool>,
    /// The replenishment loop's actors and caches.
    pub services: Arc<Services>,
    /// IP and tenant rate limits.
    pub limiter: Limiter,
    /// Credentials the database confirmed recently.
    pub credentials: Arc<CredentialCache>,
    /// Whether the client IP comes from forwarding headers.
    pub trust_forwarded_for: bool,
}

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

/// A built, bound, not yet running application.
pub struct Application {
    port: u16,
    server: Server,
    generated_admin_token: Option<SecretString>,
}

impl Application {
    /// Connects, migrates (unless disabled), settles the admin token and binds
    /// the listener. Port 0 in `settings.listen` picks a free port.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let db =
            if settings.run_migrations { migrate(&settings).await? } else { crate::db::connect(&settings).await? };
        let admin = platform::admin_token(&db, &settings).await.map_err(|e| StartupError::Config(e.to_string()))?;
        let redis = match &settings.redis_url {
            Some(url) => Some(
                deadpool_redis::Config::from_url(url.expose_secret())
                    .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                    .map_err(|e| StartupError::Config(format!("REDIS_URL: {e}")))?,
            ),
            None => None,
        };
        let listener = TcpListener::bind(settings.listen)?;
        let port = listener.local_addr()?.port();
        let metrics = Arc::new(Metrics::default());
        let loop_settings = LoopSettings {
            idle_timeout: Duration::from_millis(settings.actor_idle_timeout_ms.max(100)),
            mailbox_capacity: settings.mailbox_capacity.max(1),
            store_mailbox_capacity: settings.store_mailbox_capacity.max(1),
            commerce_timeout: Duration::from_millis(settings.commerce_timeout_ms.max(1)),
            actor_timeout: Duration::from_millis(settings.commerce_timeout_ms.max(1)) + Duration::from_secs(5),
            sweep_interval: Duration::from_secs(settings.sweep_interval_secs.max(1)),
        };
        let services = Services::new(db.clone(), loop_settings, metrics.clone());
        services.spawn_sweeper();
        services.spawn_checkpointer();
        let shared = redis.clone().map(|pool| SharedLimiter::new(pool, settings.redis_prefix.clone()));
        let limiter = Limiter::new(settings.ip_per_minute, shared, metrics.clone());
        let assistant = web::Data::new(Assistant::new(&settings.assistant, db.clone(), metrics.clone()));
        let credentials = credential_cache(&settings);
        let state = web::Data::new(AppState {
            db,
            admin_token_hash: admin.hash,
            redis,
            services,
            limiter,
            credentials,
            trust_forwarded_for: settings.trust_forwarded_for,
        });
        let metrics = web::Data::from(metrics);
        let body_limit = settings.body_limit_bytes;
        let batch_limit = settings.batch_body_limit_bytes;
        let image_limit = settings.assistant.assistant_body_limit_bytes;
        let sentry_enabled = sentry::Hub::current().client().is_some_and(|client| client.is_enabled());
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(assistant.clone())
                .app_data(BodyLimit(body_limit))
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(path_config())
                .app_data(query_config())
                .wrap(ErrorHandlers::new().default_handler(problem_fallback))
                // Without a Sentry client the middleware would still build a scope per request.
                .wrap(Condition::new(sentry_enabled, sentry::integrations::actix::Sentry::new()))
                .wrap(from_fn(telemetry::track_request))
                .configure(operations_routes)
                .service(
                    web::scope("/admin/v1")
                        .wrap(from_fn(auth::authenticate))
                        .configure(tenants::routes::configure)
                        .configure(devices::routes::configure_admin)
                        .default_service(web::to(route_not_found)),
                )
                .service(
                    web::scope("/api/v1")
                        .wrap(from_fn(limits::tenant_limit))
                        .wrap(from_fn(auth::authenticate))
                        .wrap(from_fn(limits::ip_limit))
                        .configure(stores::routes::configure)
                        .configure(catalog::routes::configure)
                        .configure(|cfg| devices::routes::configure_api(cfg, batch_limit))
                        .configure(intents::routes::configure)
                        .configure(orders::routes::configure)
                        .configure(funnel::configure)
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
        Ok(Self { port, server: server.run(), generated_admin_token: admin.generated })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin token, when this start generated it (first start on SQLite
    /// without `REPLENISH_ADMIN_TOKEN`). It is not stored and never shown again.
    pub fn generated_admin_token(&self) -> Option<&SecretString> {
        self.generated_admin_token.as_ref()
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (graceful: in-flight requests finish) or
    /// until [`ServerHandle::stop`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Most credentials one replica remembers (a device token entry is ~200 bytes).
const CREDENTIAL_CACHE_CAPACITY: u64 = 200_000;

fn credential_cache(settings: &Settings) -> Arc<CredentialCache> {
    let ttl = Duration::from_secs(settings.credential_cache_secs);
    // One process owns an SQLite file: every revocation happens here and is seen here.
    // On Postgres the cache stays off until the listener hears other replicas.
    let cache = Arc::new(CredentialCache::new(ttl, CREDENTIAL_CACHE_CAPACITY, settings.is_sqlite()));
    if !ttl.is_zero() {
        cache.spawn_housekeeping();
        if !settings.is_sqlite() {
            cache.spawn_listener(settings.database_url.expose_secret().to_owned());
        }
    }
    cache
}

fn operations_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz").route(web::get().to(health::healthz)).default_service(method_not_allowed("GET")),
    )
    .service(web::resource("/readyz").route(web::get().to(health::readyz)).default_service(method_not_allowed("GET")))
    .service(
        web::resource("/metrics")
            .route(web::get().to(telemetry::metrics_endpoint))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/openapi.json")
            .route(web::get().to(openapi::openapi_json))
            .default_service(method_not_allowed("GET")),
    );
}
