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
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use secrecy::ExposeSecret;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings};

/// Installs the global `tracing` subscriber (JSON or pretty, filtered by
/// `RUST_LOG` when set, else by the configured level). Safe to call twice.
pub fn init_tracing(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
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
    options.dsn = Some(dsn);
    if let Some(transport) = transport {
        options.transport = Some(transport);
    }
    Some(sentry::init(options))
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

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~4 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// The service's Prometheus metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("replenish");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        Self { registry, requests, latency }
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

/// `GET /metrics`: Prometheus exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn metrics_endpoint(metrics: web::Data<Metrics>) -> HttpResponse {
    match metrics.encode() {
        Ok(body) => {
            HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(body)
        }
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
