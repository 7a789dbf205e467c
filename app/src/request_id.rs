//! Request ids: every request of the public server carries one, taken from
//! its `X-Request-Id` when that is well-formed or generated (a UUID) when it
//! is missing or not, and echoed in the response's `X-Request-Id`.
//!
//! The id is the `request_id` field of the request's root tracing span (so
//! every log line of the request names it, and an OpenTelemetry exporter sees
//! it on the span) and the `request_id` member of every problem+json body
//! ([`crate::problem`] reads it with [`current`]).

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse};
use tracing::Span;
use tracing::field::Empty;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use uuid::Uuid;

/// The header a request id travels in, both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a client: enough for any UUID, ULID or
/// trace id, short enough that a client cannot stuff the logs through it.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// One request's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// A client's id, when it is 1–[`MAX_REQUEST_ID_LEN`] visible ASCII
    /// characters (no spaces, no control characters, nothing that could forge
    /// a log line or break a header).
    pub fn parse(raw: &[u8]) -> Option<Self> {
        let visible = raw.iter().all(|b| (0x21..=0x7e).contains(b));
        if raw.is_empty() || raw.len() > MAX_REQUEST_ID_LEN || !visible {
            return None;
        }
        std::str::from_utf8(raw).ok().map(|id| Self(id.into()))
    }

    /// A fresh id: a random UUID.
    pub fn generate() -> Self {
        Self(Uuid::new_v4().to_string().into())
    }

    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

tokio::task_local! {
    // A task-local, not an argument: problem+json bodies are rendered by
    // `ResponseError::error_response`, which sees no request.
    static CURRENT: RequestId;
}

/// The id of the request being served by this task, if any.
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(RequestId::clone).ok()
}

/// Middleware, outermost: settles the request's id, makes it [`current`]
/// while the request is served and echoes it in `X-Request-Id`.
pub async fn assign(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| RequestId::parse(value.as_bytes()))
        .unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(id.clone());
    let header = HeaderValue::from_str(id.as_str()).ok();
    let echo = |headers: &mut HeaderMap| {
        if let Some(value) = header.clone() {
            headers.insert(REQUEST_ID_HEADER, value);
        }
    };
    CURRENT
        .scope(id.clone(), async move {
            match next.call(req).await {
                Ok(mut response) => {
                    echo(response.headers_mut());
                    Ok(response)
                }
                // An error no inner layer turned into a response is rendered
                // here, while the id is still current, so its body names it.
                Err(err) => Err(render_error(err, |response| echo(response.headers_mut()))),
            }
        })
        .await
}

/// Renders `err` now (a middleware's error would otherwise be rendered by
/// the server, outside every middleware) and lets `adjust` amend the
/// response; the error then stands for exactly that response.
///
/// Middleware cannot turn an error into a `ServiceResponse` of its own: that
/// needs the request, which is gone once passed on (and must not be cloned
/// before routing, which needs it unshared).
pub fn render_error(err: Error, adjust: impl FnOnce(&mut HttpResponse)) -> Error {
    let mut response = err.error_response();
    adjust(&mut response);
    InternalError::from_response(err, response).into()
}

/// The root span of every request (for `tracing-actix-web`'s
/// `TracingLogger`), named by the request's [`RequestId`].
///
/// It records the method and route pattern, never the raw path's query
/// string (tokens have been seen there), the client address or user agent.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request.extensions().get::<RequestId>().cloned().unwrap_or_else(RequestId::generate);
        let method = request.method().as_str();
        let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        // ERROR level so the span is enabled under any log level: with an INFO
        // span, `REPLENISH_LOG_LEVEL=warn` would keep the warnings and drop
        // the id they belong to.
        let span = tracing::error_span!(
            "request",
            request_id = %id,
            http.method = %method,
            http.route = %route,
            http.status_code = Empty,
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = Empty,
            exception.message = Empty,
            exception.details = Empty,
        );
        crate::otlp::adopt_remote_parent(&span, request.headers());
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_ids_are_taken() {
        assert_eq!(RequestId::parse(b"abc-123_X.y:z").map(|id| id.to_string()), Some("abc-123_X.y:z".to_owned()));
        assert!(RequestId::parse(&[b'a'; MAX_REQUEST_ID_LEN]).is_some());
    }

    #[test]
    fn malformed_ids_are_refused() {
        for raw in [&b""[..], b"has space", b"tab\t", b"line\nbreak", "caf\u{e9}".as_bytes()] {
            assert_eq!(RequestId::parse(raw), None, "{raw:?}");
        }
        assert_eq!(RequestId::parse(&[b'a'; MAX_REQUEST_ID_LEN + 1]), None);
    }

    #[test]
    fn generated_ids_are_well_formed_and_distinct() {
        let (a, b) = (RequestId::generate(), RequestId::generate());
        assert_ne!(a, b);
        assert_eq!(RequestId::parse(a.as_str().as_bytes()), Some(a));
    }
}
