//! Logs, metrics and error reporting.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};
use secrecy::ExposeSecret;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{LogFormat, Settings};
use crate::otlp::ExportGuard;

/// Installs the global `tracing` subscriber (JSON or pretty, filtered by
/// `RUST_LOG` when set, else by the configured level), exporting spans over
/// OTLP when an endpoint is configured ([`crate::otlp`]). Safe to call twice.
/// Keep the guard for the life of the process: dropping it flushes the export.
pub fn init_tracing(settings: &Settings) -> Option<ExportGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log_level));
    // async-openai logs response bodies it cannot parse, which may be model
    // output; no prompt or reply content may reach the logs.
    let filter = match "async_openai=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match settings.log_format {
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
        LogFormat::Pretty => fmt.boxed(),
    };
    let (export, guard, failure) = match crate::otlp::layer(settings) {
        Ok(Some((layer, guard))) => (Some(layer), Some(guard), None),
        Ok(None) => (None, None, None),
        Err(err) => (None, None, Some(err)),
    };
    let _ = tracing_subscriber::registry().with(fmt).with(export).with(filter).try_init();
    if let Some(err) = failure {
        tracing::warn!(error = %err, "the OTLP exporter could not be built; spans are not exported");
    }
    guard
}

/// Starts Sentry when `SENTRY_DSN` is set; tests pass a transport of their own.
/// Server errors (5xx) and panics are reported; keep the guard alive.
pub fn init_sentry(
    settings: &Settings,
    transport: Option<Arc<dyn sentry::TransportFactory>>,
) -> Option<sentry::ClientInitGuard> {
    let dsn = match settings.sentry_dsn.as_ref()?.expose_secret().parse() {
        Ok(dsn) => dsn,
        Err(err) => {
            tracing::warn!(error = %err, "SENTRY_DSN does not parse; error reporting is off");
            return None;
        }
    };
    let mut options = sentry::ClientOptions::default();
    options.release = sentry::release_name!();
    options.environment = Some(settings.environment.clone().into());
    options.send_default_pii = false;
    // Request bodies carry speech, prompts, locations and images: never captured.
    options.max_request_body_size = sentry::MaxRequestBodySize::None;
    options.before_send = Some(Arc::new(|event| Some(scrub_event(event))));
    options.dsn = Some(dsn);
    if let Some(transport) = transport {
        options.transport = Some(transport);
    }
    Some(sentry::init(options))
}

/// Headers an event may keep; everything else (credentials, cookies,
/// forwarding chains naming clients) is dropped.
const REPORTED_HEADERS: [&str; 3] = ["content-type", "content-length", "user-agent"];

/// The second line of defence behind `max_request_body_size` and
/// `send_default_pii`: whatever an integration attached, an event leaves with
/// no request body, no cookies, no credentials and no query string (tokens
/// have been seen in query strings).
pub fn scrub_event(mut event: sentry::protocol::Event<'static>) -> sentry::protocol::Event<'static> {
    if let Some(request) = event.request.as_mut() {
        request.data = None;
        request.cookies = None;
        request.query_string = None;
        request.env.clear();
        request.headers.retain(|name, _| REPORTED_HEADERS.contains(&name.to_ascii_lowercase().as_str()));
        if let Some(url) = request.url.as_mut() {
            url.set_query(None);
            url.set_fragment(None);
            let _ = url.set_password(None);
            let _ = url.set_username("");
        }
    }
    event.user = None;
    event
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    channel: String,
    accepted: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantScopeLabels {
    tenant: String,
    scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    tenant: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AssistantCallLabels {
    route: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
}

/// The commit the binary was built from: `REPLENISH_GIT_COMMIT` at build time (the
/// images pass it), else `unknown`.
const GIT_COMMIT: &str = match option_env!("REPLENISH_GIT_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~4 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// The service's Prometheus metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    detections: Family<OutcomeLabels, Counter>,
    prompts: Counter,
    decisions: Family<DecisionLabels, Counter>,
    orders: Family<StatusLabels, Counter>,
    rate_limited: Family<ScopeLabels, Counter>,
    tenant_rate_limited: Family<TenantScopeLabels, Counter>,
    active_actors: Family<KindLabels, Gauge>,
    mailbox_full: Family<KindLabels, Counter>,
    shared_limits_degraded: Gauge,
    assistant_tokens: Family<TokenLabels, Counter>,
    assistant_calls: Family<AssistantCallLabels, Counter>,
    assistant_breaker_open: Gauge,
    detection_batch_rows: Histogram,
    detection_batch_seconds: Histogram,
    prompt_batch_candidates: Histogram,
    prompt_batch_seconds: Histogram,
    activation_batch_devices: Histogram,
    activation_batch_seconds: Histogram,
    merchant_calls: Family<OutcomeLabels, Counter>,
    merchant_breaker_changes: Family<StatusLabels, Counter>,
    merchant_breakers_open: Gauge,
    events: Family<TypeLabels, Counter>,
    webhook_deliveries: Family<OutcomeLabels, Counter>,
    webhook_delivery_lag: Histogram,
    webhook_endpoints_disabled: Counter,
}

/// Registers `metric` under `name` and hands it back: the registry keeps one
/// handle for encoding, `Metrics` the other for recording.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("replenish");
        let r = &mut registry;
        // Fields are evaluated in order, so /metrics lists them as written here.
        let build: Family<BuildLabels, Gauge> =
            registered(r, "build_info", "Version and commit of the running binary (always 1)", Family::default());
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION"), commit: GIT_COMMIT }).set(1);
        let requests = registered(r, "http_requests", "HTTP requests by route and status", Family::default());
        let latency = registered(
            r,
            "http_request_duration_seconds",
            "HTTP request latency by route",
            LatencyFamily::new_with_constructor(latency_histogram),
        );
        let detections = registered(r, "detections", "Detections by outcome (reason)", Family::default());
        let prompts = registered(r, "prompts", "Detections that prompted the wearer", Counter::default());
        let decisions = registered(r, "decisions", "Decisions by channel and answer", Family::default());
        let orders = registered(r, "orders", "Orders by final status", Family::default());
        let rate_limited =
            registered(r, "rate_limited", "Requests refused by a rate limit, by scope", Family::default());
        // Per tenant for the merchant dashboard (tenant and device limits only: an IP is no tenant's).
        let tenant_rate_limited = registered(
            r,
            "tenant_rate_limited",
            "Requests refused by a tenant's or its devices' rate limit, by tenant and scope",
            Family::default(),
        );
        let active_actors = registered(r, "active_actors", "Live actors by kind", Family::default());
        let mailbox_full: Family<KindLabels, Counter> =
            registered(r, "mailbox_full", "Requests refused because an actor's mailbox was full", Family::default());
        // Rare by design, so created at 0: the series exists (and rate() works) before the first refusal.
        for kind in ["device", "store"] {
            mailbox_full.get_or_create(&KindLabels { kind: kind.to_owned() }).inc_by(0);
        }
        let shared_limits_degraded = registered(
            r,
            "shared_limits_degraded",
            "1 while Redis is unreachable and rate limits are enforced per replica",
            Gauge::default(),
        );
        let assistant_tokens = registered(
            r,
            "assistant_tokens",
            "Provider tokens by tenant and kind (prompt, completion)",
            Family::default(),
        );
        let assistant_calls =
            registered(r, "assistant_calls", "Assistant provider calls by route and outcome", Family::default());
        let assistant_breaker_open =
            registered(r, "assistant_breaker_open", "1 while the provider's circuit breaker is open", Gauge::default());
        let detection_batch_rows = registered(
            r,
            "detection_batch_rows",
            "Rows per group commit of settled detections",
            Histogram::new(exponential_buckets(1.0, 2.0, 10)),
        );
        let detection_batch_seconds = registered(
            r,
            "detection_batch_duration_seconds",
            "Time to write and commit one batch of detections, waiting for the write turn included",
            latency_histogram(),
        );
        let prompt_batch_candidates = registered(
            r,
            "prompt_batch_candidates",
            "Prompt candidates per group commit",
            Histogram::new(exponential_buckets(1.0, 2.0, 10)),
        );
        let prompt_batch_seconds = registered(
            r,
            "prompt_batch_duration_seconds",
            "Time to decide and commit one batch of prompt candidates, waiting for the write turn included",
            latency_histogram(),
        );
        let activation_batch_devices = registered(
            r,
            "activation_batch_devices",
            "Devices loaded per activation batch",
            Histogram::new(exponential_buckets(1.0, 2.0, 10)),
        );
        let activation_batch_seconds = registered(
            r,
            "activation_batch_duration_seconds",
            "Time to load one batch of devices for activation",
            latency_histogram(),
        );
        let merchant_calls = registered(
            r,
            "merchant_calls",
            "Order calls to merchants' webhooks by outcome (confirmed, refused, unknown, throttled, held)",
            Family::default(),
        );
        let merchant_breaker_changes = registered(
            r,
            "merchant_breaker_changes",
            "State changes of the stores' circuit breakers (open, half-open, closed)",
            Family::default(),
        );
        let merchant_breakers_open = registered(
            r,
            "merchant_breakers_open",
            "Stores whose circuit breaker is open or half-open on this replica",
            Gauge::default(),
        );
        let events: Family<TypeLabels, Counter> =
            registered(r, "events", "Events committed, by type (counted at fan-out)", Family::default());
        // Every type from the start, so a dashboard's query finds the series before the first event.
        for event_type in replenish_api::EventType::ALL {
            events.get_or_create(&TypeLabels { r#type: event_type.as_str().to_owned() }).inc_by(0);
        }
        let webhook_deliveries: Family<OutcomeLabels, Counter> = registered(
            r,
            "webhook_deliveries",
            "Webhook delivery attempts by outcome (succeeded, failed, abandoned)",
            Family::default(),
        );
        for outcome in ["succeeded", "failed", "abandoned"] {
            webhook_deliveries.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc_by(0);
        }
        let webhook_delivery_lag = registered(
            r,
            "webhook_delivery_lag_seconds",
            "Time from an event's creation to its successful delivery to one endpoint",
            // 10 ms … ~11 h: a retried delivery can take hours.
            Histogram::new(exponential_buckets(0.01, 3.0, 16)),
        );
        let webhook_endpoints_disabled = registered(
            r,
            "webhook_endpoints_disabled",
            "Webhook endpoints the service disabled after failing past the retry horizon",
            Counter::default(),
        );
        Self {
            registry,
            requests,
            latency,
            detections,
            prompts,
            decisions,
            orders,
            rate_limited,
            tenant_rate_limited,
            active_actors,
            mailbox_full,
            shared_limits_degraded,
            assistant_tokens,
            assistant_calls,
            assistant_breaker_open,
            detection_batch_rows,
            detection_batch_seconds,
            prompt_batch_candidates,
            prompt_batch_seconds,
            activation_batch_devices,
            activation_batch_seconds,
            merchant_calls,
            merchant_breaker_changes,
            merchant_breakers_open,
            events,
            webhook_deliveries,
            webhook_delivery_lag,
            webhook_endpoints_disabled,
        }
    }
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let route = route.to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.clone(),
                status: status.to_string(),
            })
            .inc();
        self.latency.get_or_create(&RouteLabels { method: method.to_owned(), route }).observe(seconds);
    }

    /// Records one group commit of detections.
    pub fn detection_batch(&self, rows: usize, seconds: f64) {
        self.detection_batch_rows.observe(rows as f64);
        self.detection_batch_seconds.observe(seconds);
    }

    /// Records one group commit of prompt candidates.
    pub fn prompt_batch(&self, candidates: usize, seconds: f64) {
        self.prompt_batch_candidates.observe(candidates as f64);
        self.prompt_batch_seconds.observe(seconds);
    }

    /// Records one batch of devices loaded for activation.
    pub fn activation_batch(&self, devices: usize, seconds: f64) {
        self.activation_batch_devices.observe(devices as f64);
        self.activation_batch_seconds.observe(seconds);
    }

    /// Counts a detection by its reason.
    pub fn detection(&self, outcome: &str, prompted: bool) {
        self.detections.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
        if prompted {
            self.prompts.inc();
        }
    }

    /// Counts a decision.
    pub fn decision(&self, channel: &str, accepted: bool) {
        self.decisions
            .get_or_create(&DecisionLabels { channel: channel.to_owned(), accepted: accepted.to_string() })
            .inc();
    }

    /// Counts an order reaching a status.
    pub fn order(&self, status: &str) {
        self.orders.get_or_create(&StatusLabels { status: status.to_owned() }).inc();
    }

    /// Counts an order call to a merchant by `outcome` (`held`: the store's gate kept it back).
    pub fn merchant_call(&self, outcome: &str) {
        self.merchant_calls.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
    }

    /// Records a change of a store's circuit breaker: `open`, `half-open`,
    /// `reopened` (a failed trial), `closed`, or `forgotten` (an open
    /// breaker's store went idle and its gate was dropped).
    pub fn merchant_breaker(&self, change: &str) {
        match change {
            "open" => {
                self.merchant_breakers_open.inc();
            }
            "closed" | "forgotten" => {
                self.merchant_breakers_open.dec();
            }
            _ => {}
        }
        let state = if change == "reopened" { "open" } else { change };
        self.merchant_breaker_changes.get_or_create(&StatusLabels { status: state.to_owned() }).inc();
    }

    /// Counts an event of `event_type` (when the dispatcher fans it out, so only committed ones).
    pub fn event(&self, event_type: &str) {
        self.events.get_or_create(&TypeLabels { r#type: event_type.to_owned() }).inc();
    }

    /// Counts `count` webhook delivery attempts (or abandonments) by `outcome`.
    pub fn webhook_deliveries(&self, outcome: &str, count: u64) {
        self.webhook_deliveries.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc_by(count);
    }

    /// Records a successful delivery `seconds` after its event was created.
    pub fn webhook_delivered(&self, seconds: f64) {
        self.webhook_deliveries("succeeded", 1);
        self.webhook_delivery_lag.observe(seconds.max(0.0));
    }

    /// Counts an endpoint disabled by the service.
    pub fn webhook_endpoint_disabled(&self) {
        self.webhook_endpoints_disabled.inc();
    }

    /// Counts a request refused by the `scope` limit.
    pub fn rate_limited(&self, scope: &str) {
        self.rate_limited.get_or_create(&ScopeLabels { scope: scope.to_owned() }).inc();
    }

    /// Counts a request of `tenant` refused by its `scope` (`tenant` or `device`) limit.
    pub fn tenant_rate_limited_by(&self, tenant: &str, scope: &str) {
        self.tenant_rate_limited
            .get_or_create(&TenantScopeLabels { tenant: tenant.to_owned(), scope: scope.to_owned() })
            .inc();
    }

    /// Requests of `tenant` refused by its tenant or device limits on this
    /// replica since it started (for the dashboard).
    pub fn tenant_rate_limited(&self, tenant: &str) -> u64 {
        ["tenant", "device"]
            .iter()
            .filter_map(|scope| {
                let labels = TenantScopeLabels { tenant: tenant.to_owned(), scope: (*scope).to_owned() };
                self.tenant_rate_limited.get(&labels).map(|counter| counter.get())
            })
            .sum()
    }

    /// An actor of `kind` started.
    pub fn actor_started(&self, kind: &str) {
        self.active_actors.get_or_create(&KindLabels { kind: kind.to_owned() }).inc();
    }

    /// An actor of `kind` stopped.
    pub fn actor_stopped(&self, kind: &str) {
        self.active_actors.get_or_create(&KindLabels { kind: kind.to_owned() }).dec();
    }

    /// A request found an actor's mailbox full.
    pub fn mailbox_full(&self, kind: &str) {
        self.mailbox_full.get_or_create(&KindLabels { kind: kind.to_owned() }).inc();
    }

    /// Whether shared (Redis) limits are currently replaced by local ones.
    pub fn set_shared_limits_degraded(&self, degraded: bool) {
        self.shared_limits_degraded.set(i64::from(degraded));
    }

    /// Meters the provider tokens one assistant call of `tenant` used.
    pub fn assistant_tokens(&self, tenant: &str, prompt: u64, completion: u64) {
        for (kind, n) in [("prompt", prompt), ("completion", completion)] {
            self.assistant_tokens
                .get_or_create(&TokenLabels { tenant: tenant.to_owned(), kind: kind.to_owned() })
                .inc_by(n);
        }
    }

    /// Counts an assistant call by route and outcome.
    pub fn assistant_call(&self, route: &str, outcome: &str) {
        self.assistant_calls
            .get_or_create(&AssistantCallLabels { route: route.to_owned(), outcome: outcome.to_owned() })
            .inc();
    }

    /// Whether the provider's circuit breaker is open.
    pub fn set_breaker_open(&self, open: bool) {
        self.assistant_breaker_open.set(i64::from(open));
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Middleware: counts and times every request by route pattern (never by raw
/// path, so ids cannot blow up the label set) and logs it.
pub async fn track_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();
    // Resolved from the resource map, so it is known before routing runs.
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.record(&method, &route, status.as_u16(), elapsed.as_secs_f64());
    }
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if status.is_client_error() {
        tracing::info!(%method, %route, status = status.as_u16(), latency_ms, "request");
    } else {
        tracing::debug!(%method, %route, status = status.as_u16(), latency_ms, "request");
    }
    result
}

/// `GET /metrics`: Prometheus exposition, on the metrics listener only (not in
/// the OpenAPI document, which describes the public one).
pub async fn metrics_endpoint(metrics: web::Data<Metrics>) -> HttpResponse {
    match metrics.encode() {
        Ok(body) => {
            HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(body)
        }
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
