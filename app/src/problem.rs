//! The HTTP edge's errors and their one mapping to `application/problem+json`
//! (RFC 9457) with a stable `type` URI.
//!
//! Domain code returns [`Error`]; what only the edge can get wrong (no route,
//! a body that is not JSON, too large, the wrong media type) is an
//! [`EdgeError`]. Both render through [`render`]. Client mistakes are 4xx;
//! causes of 5xx are logged (and reported to Sentry) but never sent to the
//! client. Every body names its request in the extension member `request_id`
//! (the response's `X-Request-Id`; not `instance`, which must be a URI and a
//! client's id need not be one).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::error::{Error, FieldError, RateLimitInfo};

/// The RFC 9457 problem document (the wire type every client shares).
pub use replenish_api::problem::Problem;

/// Prefix of every problem `type` URI.
pub const PROBLEM_BASE: &str = "https://replenish.dev/problems/";
/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What only the HTTP edge can get wrong, before a request reaches the domain.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// No route matches the path.
    #[error("no route matches this path")]
    RouteNotFound,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is not JSON at all.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// JSON of the wrong shape: wrong types, unknown enum values, missing or unknown fields.
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    /// The body is larger than the route accepts.
    #[error("request body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    /// A body that is not `application/json`.
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// A domain error, raised while handling the request.
    #[error(transparent)]
    Domain(#[from] Error),
}

impl EdgeError {
    fn kind(&self) -> &'static str {
        match self {
            EdgeError::RouteNotFound => "route-not-found",
            EdgeError::MethodNotAllowed => "method-not-allowed",
            EdgeError::MalformedJson(_) => "malformed-json",
            EdgeError::InvalidBody(_) => "invalid-body",
            EdgeError::PayloadTooLarge(_) => "payload-too-large",
            EdgeError::UnsupportedMediaType => "unsupported-media-type",
            EdgeError::Domain(err) => err.kind(),
        }
    }
}

/// The HTTP status of a domain error.
fn domain_status(err: &Error) -> StatusCode {
    match err {
        Error::Unauthorized => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::InvalidId(_) | Error::InvalidQuery(_) | Error::InvalidTimestamp(_) | Error::InvalidHeader { .. } => {
            StatusCode::BAD_REQUEST
        }
        Error::Validation(_) | Error::BudgetExceeded(_) | Error::Unprocessable { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Error::Gone(_) => StatusCode::GONE,
        Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Overloaded(_) | Error::Unavailable(_) | Error::UpstreamUnavailable { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        Error::UpstreamInvalid(_) => StatusCode::BAD_GATEWAY,
        Error::Database(_) if err.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
        Error::Database(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ResponseError for EdgeError {
    fn status_code(&self) -> StatusCode {
        match self {
            EdgeError::RouteNotFound => StatusCode::NOT_FOUND,
            EdgeError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            EdgeError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            EdgeError::InvalidBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EdgeError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            EdgeError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            EdgeError::Domain(err) => domain_status(err),
        }
    }

    fn error_response(&self) -> HttpResponse {
        render(self)
    }
}

/// Handlers and middleware return domain errors directly; they render like
/// [`EdgeError::Domain`].
impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        domain_status(self)
    }

    fn error_response(&self) -> HttpResponse {
        let status = domain_status(self);
        let detail = if status.is_server_error() {
            // The cause chain goes to the logs, never to the client.
            tracing::error!(error = ?self, "request failed");
            "the server could not complete the request; it has been logged".to_owned()
        } else {
            self.to_string()
        };
        let errors = match self {
            Error::Validation(errors) => errors.clone(),
            _ => Vec::new(),
        };
        let mut response = problem_response(status, self.kind(), title(status), detail, errors);
        let headers = response.headers_mut();
        if matches!(self, Error::Unauthorized) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let secs = match self {
                Error::UpstreamUnavailable { retry_after_secs, .. } => (*retry_after_secs).max(1),
                _ => 1,
            };
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Error::RateLimited(info) = self {
            write_rate_limit_headers(info, headers);
            // For the limit middleware, which adds the other limits in force.
            response.extensions_mut().insert(info.clone());
        }
        response
    }
}

/// The one rendering of an edge or domain error.
fn render(err: &EdgeError) -> HttpResponse {
    match err {
        EdgeError::Domain(err) => err.error_response(),
        edge => {
            let status = edge.status_code();
            problem_response(status, edge.kind(), title(status), edge.to_string(), Vec::new())
        }
    }
}

fn title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "Not Found",
        StatusCode::METHOD_NOT_ALLOWED => "Method Not Allowed",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::GONE => "Gone",
        StatusCode::TOO_MANY_REQUESTS => "Too Many Requests",
        StatusCode::PAYLOAD_TOO_LARGE => "Payload Too Large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported Media Type",
        StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable Content",
        StatusCode::BAD_GATEWAY => "Bad Gateway",
        StatusCode::SERVICE_UNAVAILABLE => "Service Unavailable",
        StatusCode::INTERNAL_SERVER_ERROR => "Internal Server Error",
        _ => "Bad Request",
    }
}

/// The IETF `RateLimit-Policy`/`RateLimit` headers and `Retry-After` of a 429.
fn write_rate_limit_headers(info: &RateLimitInfo, headers: &mut HeaderMap) {
    let retry_secs = info.retry_after_ms.div_ceil(1000).max(1);
    let values = [
        (header::RETRY_AFTER, retry_secs.to_string()),
        (
            header::HeaderName::from_static("ratelimit-policy"),
            format!("\"{}\";q={};w={}", info.scope, info.quota, info.window_secs),
        ),
        (header::HeaderName::from_static("ratelimit"), format!("\"{}\";r=0;t={retry_secs}", info.scope)),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// Builds a problem+json response for `status` with the given type suffix.
pub fn problem_response(
    status: StatusCode,
    kind: &str,
    title: &str,
    detail: String,
    errors: Vec<FieldError>,
) -> HttpResponse {
    let problem = Problem {
        problem_type: format!("{PROBLEM_BASE}{kind}"),
        title: title.to_owned(),
        status: status.as_u16(),
        detail,
        errors,
        // Every problem names its request, whichever layer produced it: the
        // request-id middleware renders errors inside the request's scope.
        request_id: crate::request_id::current().map(|id| id.to_string()),
    };
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)))
        .json(problem)
}
