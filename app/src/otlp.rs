//! Optional OpenTelemetry export of the request spans (and every span inside
//! them) over OTLP, HTTP/protobuf. Off unless an endpoint is configured:
//! `REPLENISH_OTLP_ENDPOINT`, or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` /
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the other `OTEL_*` variables, such as
//! `OTEL_EXPORTER_OTLP_HEADERS` or `OTEL_SERVICE_NAME`, are honoured too).
//!
//! A `traceparent` header on a request makes its span a child of the
//! caller's trace (W3C Trace Context).

use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::registry::LookupSpan;

use crate::config::Settings;

/// The standard variables that turn export on by themselves.
const STANDARD_ENDPOINTS: [&str; 2] = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"];

/// Keeps the exporter alive; dropping it flushes the spans not yet sent.
#[must_use = "dropping the guard stops the export"]
pub struct ExportGuard(SdkTracerProvider);

impl Drop for ExportGuard {
    fn drop(&mut self) {
        let _ = self.0.shutdown();
    }
}

/// The `tracing` layer that exports spans.
pub type ExportLayer<S> = OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>;

/// The exporting layer and its guard, when an endpoint is configured; `Err`
/// says why the exporter could not be built (the app then runs without it).
pub fn layer<S>(settings: &Settings) -> Result<Option<(ExportLayer<S>, ExportGuard)>, String>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let standard = STANDARD_ENDPOINTS.iter().any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()));
    if settings.otlp_endpoint.is_none() && !standard {
        return Ok(None);
    }
    let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary);
    if let Some(base) = &settings.otlp_endpoint {
        // Like OTEL_EXPORTER_OTLP_ENDPOINT: the base URL of the collector.
        exporter = exporter.with_endpoint(format!("{}/v1/traces", base.trim_end_matches('/')));
    }
    let exporter = exporter.build().map_err(|e| e.to_string())?;
    let mut resource = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name("replenish");
    }
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("replenish"));
    Ok(Some((layer, ExportGuard(provider))))
}

/// Makes `span` a child of the trace named by the request's `traceparent`,
/// if it has one (a no-op while export is off).
pub fn adopt_remote_parent(span: &tracing::Span, headers: &HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&Headers(headers)));
    let _ = span.set_parent(parent);
}

/// An actix header map as OpenTelemetry's propagators read it.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}
