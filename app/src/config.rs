//! Typed configuration: defaults, then an optional TOML file, then environment.
//!
//! Every setting has a default that makes `cargo run` work on a laptop with no
//! other server: a SQLite file in the working directory, no Redis, no Sentry.

use std::fmt;
use std::net::SocketAddr;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Which forwarding header the trusted proxy appends the client address to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, Envoy, most load balancers).
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log shippers.
    Json,
    /// Human-readable, for terminals.
    Pretty,
}

/// The whole configuration of the service.
///
/// Loaded by [`Settings::load`]: built-in defaults, then the TOML file named by
/// `REPLENISH_CONFIG_FILE` (if any), then `REPLENISH_*` variables, then the
/// conventional unprefixed `DATABASE_URL`, `REDIS_URL`, `SENTRY_DSN`,
/// `OPENAI_BASE_URL` and `OPENAI_API_KEY`.
#[derive(Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Address the HTTP server binds (`REPLENISH_LISTEN`).
    pub listen: SocketAddr,
    /// Address `/metrics` is served on, apart from the public listener because
    /// metrics name every tenant (`REPLENISH_METRICS_LISTEN`).
    pub metrics_listen: SocketAddr,
    /// Database URL: `postgres://…` or `sqlite://…` (`DATABASE_URL`).
    #[serde(serialize_with = "serialize_redacted_url")]
    pub database_url: SecretString,
    /// Redis URL; limits are shared across replicas only when set (`REDIS_URL`).
    #[serde(serialize_with = "serialize_redacted_optional_url")]
    pub redis_url: Option<SecretString>,
    /// Platform admin token (`REPLENISH_ADMIN_TOKEN`). On SQLite, when unset,
    /// one is generated at first start and only its hash is kept.
    #[serde(serialize_with = "serialize_optional_secret")]
    pub admin_token: Option<SecretString>,
    /// Tenant id this app serves alone (`REPLENISH_DEDICATED_TENANT`): a dedicated
    /// tenant's app. When set, other tenants' credentials are refused (401), there is
    /// no admin API and no admin token (`REPLENISH_ADMIN_TOKEN` is ignored), and the
    /// sweeper touches only this tenant's rows.
    pub dedicated_tenant: Option<String>,
    /// Sentry DSN; error reporting is off when unset (`SENTRY_DSN`).
    #[serde(serialize_with = "serialize_optional_secret")]
    pub sentry_dsn: Option<SecretString>,
    /// Deployment environment reported to Sentry (`REPLENISH_ENVIRONMENT`).
    pub environment: String,
    /// `json` or `pretty` (`REPLENISH_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// `tracing` filter directives (`REPLENISH_LOG_LEVEL`, or `RUST_LOG`).
    pub log_level: String,
    /// Base URL of an OpenTelemetry collector's OTLP/HTTP receiver, e.g.
    /// `http://otel-collector:4318` (`REPLENISH_OTLP_ENDPOINT`); spans are
    /// exported to `<it>/v1/traces`. Unset: no export, unless the standard
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    pub otlp_endpoint: Option<String>,
    /// Run pending migrations at startup (`REPLENISH_RUN_MIGRATIONS`).
    pub run_migrations: bool,
    /// Largest request body accepted on ordinary routes, in bytes (`REPLENISH_BODY_LIMIT_BYTES`).
    pub body_limit_bytes: usize,
    /// Largest request body accepted by batch routes, in bytes (`REPLENISH_BATCH_BODY_LIMIT_BYTES`).
    pub batch_body_limit_bytes: usize,
    /// Worker threads; 0 means one per core (`REPLENISH_WORKERS`).
    pub workers: usize,
    /// Maximum database connections in the pool (`REPLENISH_DB_MAX_CONNECTIONS`).
    pub db_max_connections: u32,
    /// Seconds given to in-flight requests on SIGTERM/SIGINT (`REPLENISH_SHUTDOWN_TIMEOUT_SECS`).
    pub shutdown_timeout_secs: u64,
    /// Requests per minute per client IP (`REPLENISH_IP_PER_MINUTE`).
    pub ip_per_minute: u32,
    /// Take the client IP from `Forwarded`/`X-Forwarded-For` (only behind a trusted proxy)
    /// (`REPLENISH_TRUST_FORWARDED_FOR`).
    pub trust_forwarded_for: bool,
    /// Which header the trusted proxy writes (`REPLENISH_FORWARDED_HEADER`:
    /// `x-forwarded-for` or `forwarded`); the other one is ignored.
    pub forwarded_header: ForwardedHeader,
    /// How many proxies in front of the service append to that header
    /// (`REPLENISH_TRUSTED_PROXY_HOPS`): the client is the entry this many
    /// places from the right. Entries further left were written by the client.
    pub trusted_proxy_hops: usize,
    /// Comma-separated CIDRs of the trusted proxies (`REPLENISH_TRUSTED_PROXIES`);
    /// when set, the client is the right-most address not in them (and the
    /// header counts only when the peer itself is one of them), instead of a hop count.
    pub trusted_proxies: String,
    /// Prefix of every Redis key this service writes (`REPLENISH_REDIS_PREFIX`).
    pub redis_prefix: String,
    /// Idle time after which a device or store actor passivates, ms (`REPLENISH_ACTOR_IDLE_TIMEOUT_MS`).
    pub actor_idle_timeout_ms: u64,
    /// Requests queued or in flight per actor before 503s (`REPLENISH_MAILBOX_CAPACITY`).
    pub mailbox_capacity: usize,
    /// Orders queued or in flight per store actor before 503s (`REPLENISH_STORE_MAILBOX_CAPACITY`);
    /// a store serves all its devices, so it gets more room than one device.
    pub store_mailbox_capacity: usize,
    /// Deadline for one commerce-provider call, ms (`REPLENISH_COMMERCE_TIMEOUT_MS`).
    pub commerce_timeout_ms: u64,
    /// How often lapsed intents expire and stuck orders are resubmitted, s (`REPLENISH_SWEEP_INTERVAL_SECS`).
    pub sweep_interval_secs: u64,
    /// How long after acceptance an order with no definite provider answer is
    /// still asked again before it fails as `provider-unreachable`, s
    /// (`REPLENISH_ORDER_RETRY_HORIZON_SECS`). Keep it inside the provider's
    /// idempotency-key window.
    pub order_retry_horizon_secs: u64,
    /// How long a replica may reuse a credential the database confirmed, s; 0 asks every time
    /// (`REPLENISH_CREDENTIAL_CACHE_SECS`). Revocations still apply at once (see `auth::credentials`).
    pub credential_cache_secs: u64,
    /// Statement timeout of a report's queries on Postgres, ms (`REPLENISH_REPORT_TIMEOUT_MS`);
    /// a report that runs longer is a 503. SQLite has no statement timeout.
    pub report_timeout_ms: u64,
    /// Calls to merchants' webhook endpoints.
    #[serde(flatten)]
    pub merchant_calls: MerchantCallSettings,
    /// How long an `Idempotency-Key` of a merchant or admin POST is kept, s
    /// (`REPLENISH_IDEMPOTENCY_KEY_TTL_SECS`); lapsed keys are pruned every sweep interval.
    pub idempotency_key_ttl_secs: u64,
    /// How long events are kept before they are pruned, days
    /// (`REPLENISH_EVENT_RETENTION_DAYS`, at least 30 by default).
    pub event_retention_days: u64,
    /// Delivery of events to merchants' webhook endpoints.
    #[serde(flatten)]
    pub webhooks: WebhookSettings,
    /// The vision assistant's model provider and guard rails.
    #[serde(flatten)]
    pub assistant: AssistantSettings,
    /// How long a merchant dashboard session lasts from sign-in, s
    /// (`REPLENISH_DASHBOARD_SESSION_SECS`); revoking or rotating the key or
    /// deactivating the tenant ends it sooner.
    pub dashboard_session_secs: u64,
    /// Whether the dashboard's cookies carry `Secure` (`REPLENISH_DASHBOARD_SECURE_COOKIES`).
    /// Unset: everywhere except `REPLENISH_ENVIRONMENT=development`, the default for a
    /// laptop's plain-http `cargo run`.
    pub dashboard_secure_cookies: Option<bool>,
}

/// How the store actors call merchants' endpoints (webhook provider).
/// Flattened into [`Settings`]: each field is one `REPLENISH_*` variable.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MerchantCallSettings {
    /// Also allow `http://` and private, loopback and link-local merchant URLs
    /// (`REPLENISH_COMMERCE_ALLOW_PRIVATE_URLS`); for tests and local development only.
    pub commerce_allow_private_urls: bool,
    /// Calls in flight at once per store and replica (`REPLENISH_COMMERCE_CONCURRENCY`).
    pub commerce_concurrency: usize,
    /// Calls per second per store and replica, sustained (`REPLENISH_COMMERCE_PER_SECOND`).
    pub commerce_per_second: u32,
    /// Calls a store may make at once above the sustained rate (`REPLENISH_COMMERCE_BURST`).
    pub commerce_burst: u32,
    /// Consecutive calls without a definite answer that open a store's circuit
    /// breaker (`REPLENISH_COMMERCE_BREAKER_FAILURES`).
    pub commerce_breaker_failures: u32,
    /// How long an open breaker holds a store's orders before one trial call, s
    /// (`REPLENISH_COMMERCE_BREAKER_OPEN_SECS`).
    pub commerce_breaker_open_secs: u64,
    /// First retry delay of an order without a definite answer, ms; it doubles
    /// per attempt, with jitter (`REPLENISH_COMMERCE_RETRY_BASE_MS`).
    pub commerce_retry_base_ms: u64,
    /// Longest retry delay, s (`REPLENISH_COMMERCE_RETRY_MAX_SECS`); also caps a merchant's `Retry-After`.
    pub commerce_retry_max_secs: u64,
}

impl Default for MerchantCallSettings {
    fn default() -> Self {
        Self {
            commerce_allow_private_urls: false,
            commerce_concurrency: 8,
            commerce_per_second: 20,
            commerce_burst: 40,
            commerce_breaker_failures: 5,
            commerce_breaker_open_secs: 30,
            commerce_retry_base_ms: 1_000,
            commerce_retry_max_secs: 300,
        }
    }
}

/// How the webhook dispatcher delivers events (see `crate::webhooks::dispatcher`).
/// Flattened into [`Settings`]: each field is one `REPLENISH_*` variable.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookSettings {
    /// Deadline of one delivery attempt, ms (`REPLENISH_WEBHOOK_TIMEOUT_MS`).
    pub webhook_timeout_ms: u64,
    /// First retry delay of a failed delivery, ms; it doubles per attempt,
    /// with jitter (`REPLENISH_WEBHOOK_RETRY_BASE_MS`).
    pub webhook_retry_base_ms: u64,
    /// Longest retry delay, s (`REPLENISH_WEBHOOK_RETRY_MAX_SECS`).
    pub webhook_retry_max_secs: u64,
    /// How long after its first attempt a delivery is retried before the
    /// endpoint is disabled, s (`REPLENISH_WEBHOOK_RETRY_HORIZON_SECS`).
    pub webhook_retry_horizon_secs: u64,
    /// Deliveries in flight at once per replica (`REPLENISH_WEBHOOK_CONCURRENCY`).
    pub webhook_concurrency: usize,
    /// How often the dispatcher looks for new events and due deliveries, ms
    /// (`REPLENISH_WEBHOOK_POLL_INTERVAL_MS`).
    pub webhook_poll_interval_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            webhook_timeout_ms: 10_000,
            webhook_retry_base_ms: 5_000,
            webhook_retry_max_secs: 3_600,
            webhook_retry_horizon_secs: 3 * 24 * 3_600,
            webhook_concurrency: 16,
            webhook_poll_interval_ms: 250,
        }
    }
}

/// Settings of the vision assistant (see `crate::assistant`). Flattened into
/// [`Settings`], so each field is one `REPLENISH_*` variable, except the
/// provider's conventional unprefixed `OPENAI_BASE_URL` and `OPENAI_API_KEY`.
#[derive(Clone, Serialize, Deserialize)]
pub struct AssistantSettings {
    /// Base URL of any OpenAI-compatible API (`OPENAI_BASE_URL`).
    pub openai_base_url: String,
    /// API key of the provider; the assistant routes answer 503 when unset (`OPENAI_API_KEY`).
    #[serde(serialize_with = "serialize_optional_secret")]
    pub openai_api_key: Option<SecretString>,
    /// Chat model with vision and structured output (`REPLENISH_VISION_MODEL`).
    pub vision_model: String,
    /// Text-to-speech model (`REPLENISH_SPEECH_MODEL`).
    pub speech_model: String,
    /// Text-to-speech voice (`REPLENISH_SPEECH_VOICE`).
    pub speech_voice: String,
    /// Longest text `POST /api/v1/speech` accepts, in characters (`REPLENISH_SPEECH_MAX_CHARS`).
    pub speech_max_chars: usize,
    /// Largest audio passed back to a device, in bytes (`REPLENISH_SPEECH_MAX_BYTES`).
    pub speech_max_bytes: usize,
    /// Largest request body of the assistant routes, in bytes (`REPLENISH_ASSISTANT_BODY_LIMIT_BYTES`).
    pub assistant_body_limit_bytes: usize,
    /// Deadline of one provider call including its retries, ms (`REPLENISH_ASSISTANT_TIMEOUT_MS`).
    pub assistant_timeout_ms: u64,
    /// Provider calls per minute from this replica, all tenants together (`REPLENISH_PROVIDER_PER_MINUTE`).
    pub provider_per_minute: u32,
    /// Assistant requests per tenant per UTC day (`REPLENISH_ASSISTANT_TENANT_REQUESTS_PER_DAY`).
    pub assistant_tenant_requests_per_day: u64,
    /// Provider tokens per tenant per UTC day (`REPLENISH_ASSISTANT_TENANT_TOKENS_PER_DAY`).
    pub assistant_tenant_tokens_per_day: u64,
    /// Consecutive failed provider calls that open the circuit breaker (`REPLENISH_BREAKER_FAILURES`).
    pub breaker_failures: u32,
    /// How long the open breaker answers 503 before letting one trial call through, ms
    /// (`REPLENISH_BREAKER_OPEN_MS`).
    pub breaker_open_ms: u64,
}

impl Default for AssistantSettings {
    fn default() -> Self {
        Self {
            openai_base_url: "https://api.openai.com/v1".into(),
            openai_api_key: None,
            vision_model: "gpt-4o-mini".into(),
            speech_model: "gpt-4o-mini-tts".into(),
            speech_voice: "alloy".into(),
            speech_max_chars: 1_000,
            speech_max_bytes: 4 * 1024 * 1024,
            // Base64 of a 4 MiB image is ~5.4 MiB; the rest is prompt and history.
            assistant_body_limit_bytes: 6 * 1024 * 1024,
            assistant_timeout_ms: 30_000,
            provider_per_minute: 500,
            assistant_tenant_requests_per_day: 2_000,
            assistant_tenant_tokens_per_day: 2_000_000,
            breaker_failures: 5,
            breaker_open_ms: 30_000,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            database_url: SecretString::from("sqlite://replenish.db?mode=rwc"),
            redis_url: None,
            admin_token: None,
            dedicated_tenant: None,
            sentry_dsn: None,
            environment: "development".into(),
            log_format: LogFormat::Pretty,
            log_level: "info".into(),
            otlp_endpoint: None,
            run_migrations: true,
            body_limit_bytes: 64 * 1024,
            batch_body_limit_bytes: 1024 * 1024,
            workers: 0,
            db_max_connections: 16,
            shutdown_timeout_secs: 30,
            ip_per_minute: 1_000,
            trust_forwarded_for: false,
            forwarded_header: ForwardedHeader::XForwardedFor,
            trusted_proxy_hops: 1,
            trusted_proxies: String::new(),
            redis_prefix: "replenish:".into(),
            actor_idle_timeout_ms: 10 * 60 * 1000,
            mailbox_capacity: 64,
            store_mailbox_capacity: 1_024,
            commerce_timeout_ms: 5_000,
            sweep_interval_secs: 30,
            order_retry_horizon_secs: 3_600,
            credential_cache_secs: 60,
            report_timeout_ms: 5_000,
            merchant_calls: MerchantCallSettings::default(),
            idempotency_key_ttl_secs: 24 * 60 * 60,
            event_retention_days: 30,
            webhooks: WebhookSettings::default(),
            assistant: AssistantSettings::default(),
            dashboard_session_secs: 8 * 60 * 60,
            dashboard_secure_cookies: None,
        }
    }
}

impl Settings {
    /// Loads the settings from the process environment (and the optional file).
    pub fn load() -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Ok(path) = std::env::var("REPLENISH_CONFIG_FILE") {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment
            .merge(Env::prefixed("REPLENISH_").ignore(&["config_file"]))
            .merge(Env::raw().only(&["database_url", "redis_url", "sentry_dsn", "openai_base_url", "openai_api_key"]))
            .extract()
            .map_err(Box::new)
    }

    /// Whether the dashboard's cookies are `Secure`: as set, else everywhere
    /// but local development (plain http on a laptop).
    pub fn dashboard_cookies_secure(&self) -> bool {
        self.dashboard_secure_cookies.unwrap_or(self.environment != "development")
    }

    /// True when the database is the embedded SQLite default (or any SQLite file).
    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose_secret().starts_with("sqlite:")
    }
}

impl fmt::Debug for Settings {
    /// The effective configuration as JSON with every secret redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(json) => f.write_str(&json),
            Err(_) => f.write_str("<settings>"),
        }
    }
}

/// Hides the password of a URL (`postgres://user:***@host/db`), keeps the rest.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

fn serialize_redacted_url<S: serde::Serializer>(url: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url.expose_secret()))
}

fn serialize_redacted_optional_url<S: serde::Serializer>(url: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serialize_redacted_url(url, s),
        None => s.serialize_none(),
    }
}

fn serialize_optional_secret<S: serde::Serializer>(secret: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => s.serialize_str("<set>"),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
// figment's `Jail` closures return its (large) error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_and_keeps_host() {
        assert_eq!(redact_url("postgres://app:hunter2@db:5432/replenish"), "postgres://app:***@db:5432/replenish");
        assert_eq!(redact_url("sqlite://replenish.db?mode=rwc"), "sqlite://replenish.db?mode=rwc");
    }

    #[test]
    fn environment_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("REPLENISH_LISTEN", "0.0.0.0:9000");
            jail.set_env("REPLENISH_METRICS_LISTEN", "0.0.0.0:9100");
            jail.set_env("DATABASE_URL", "postgres://app@db/replenish");
            jail.set_env("REPLENISH_LOG_FORMAT", "json");
            jail.set_env("REPLENISH_RUN_MIGRATIONS", "false");
            let settings = Settings::load().map_err(|e| e.to_string())?;
            assert_eq!(settings.listen.to_string(), "0.0.0.0:9000");
            assert_eq!(settings.metrics_listen.to_string(), "0.0.0.0:9100");
            assert_eq!(settings.database_url.expose_secret(), "postgres://app@db/replenish");
            assert_eq!(settings.log_format, LogFormat::Json);
            assert!(!settings.run_migrations);
            assert!(!settings.is_sqlite());
            assert_eq!(settings.body_limit_bytes, 64 * 1024, "unset values keep their defaults");
            assert_eq!(settings.assistant.vision_model, "gpt-4o-mini");
            Ok(())
        });
    }

    #[test]
    fn provider_variables_are_unprefixed_and_the_key_never_prints() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
            jail.set_env("OPENAI_API_KEY", "sk-verysecret");
            jail.set_env("REPLENISH_VISION_MODEL", "llava");
            jail.set_env("REPLENISH_PROVIDER_PER_MINUTE", "7");
            let settings = Settings::load().map_err(|e| e.to_string())?;
            assert_eq!(settings.assistant.openai_base_url, "http://127.0.0.1:9/v1");
            assert_eq!(settings.assistant.vision_model, "llava");
            assert_eq!(settings.assistant.provider_per_minute, 7);
            assert!(settings.assistant.openai_api_key.is_some());
            assert!(!format!("{settings:?}").contains("verysecret"));
            Ok(())
        });
    }

    #[test]
    fn config_file_sits_between_defaults_and_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("replenish.toml", "listen = \"127.0.0.1:7000\"\nworkers = 3\n")?;
            jail.set_env("REPLENISH_CONFIG_FILE", "replenish.toml");
            jail.set_env("REPLENISH_WORKERS", "5");
            let settings = Settings::load().map_err(|e| e.to_string())?;
            assert_eq!(settings.listen.to_string(), "127.0.0.1:7000");
            assert_eq!(settings.workers, 5);
            Ok(())
        });
    }

    #[test]
    fn a_wrong_value_is_an_error_not_a_default() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("REPLENISH_LOG_FORMAT", "xml");
            assert!(Settings::load().is_err());
            Ok(())
        });
    }

    #[test]
    fn debug_output_never_contains_secrets() {
        let settings = Settings {
            admin_token: Some(SecretString::from("rpl_a_supersecret")),
            sentry_dsn: Some(SecretString::from("https://key@sentry.example/1")),
            database_url: SecretString::from("postgres://u:pw-in-url@h/db"),
            ..Settings::default()
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("supersecret"), "{printed}");
        assert!(!printed.contains("pw-in-url"), "{printed}");
        assert!(!printed.contains("key@sentry"), "{printed}");
        assert!(printed.contains("\"admin_token\":\"<set>\""), "{printed}");
    }
}
