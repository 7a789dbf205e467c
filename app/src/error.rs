//! The crate's one error type and its single mapping to HTTP.
//!
//! Every error leaves the service as `application/problem+json` (RFC 9457)
//! with a stable `type` URI. Client mistakes are 4xx; causes of 5xx are
//! logged (and reported to Sentry) but never sent to the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

/// Prefix of every problem `type` URI.
pub const PROBLEM_BASE: &str = "https://replenish.dev/problems/";
/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

pub use replenish_api::problem::{FieldError, Problem};

/// Everything that can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credentials, or credentials that are unknown, revoked or expired.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// Valid credentials of a kind that may not use this route.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The resource does not exist for this caller (also: belongs to another tenant).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No route matches the path.
    #[error("no route matches this path")]
    RouteNotFound,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A path id that is not a valid resource id.
    #[error(
        "invalid id {0:?}: ids are 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit"
    )]
    InvalidId(String),
    /// A device timestamp too far from server time.
    #[error("{0}")]
    InvalidTimestamp(String),
    /// A query string that does not parse.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The body is not JSON at all.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// JSON of the wrong shape: wrong types, unknown enum values, missing or unknown fields.
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    /// Well-formed input that breaks a rule.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The body is larger than the route accepts.
    #[error("request body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    /// A body that is not `application/json`.
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// The request conflicts with existing state; `kind` becomes the problem type.
    #[error("{detail}")]
    Conflict {
        /// Stable problem-type suffix, e.g. `object-class-taken`.
        kind: &'static str,
        /// Human-readable explanation.
        detail: String,
    },
    /// The intent expired before the wearer decided.
    #[error("{0}")]
    Gone(String),
    /// Placing the order would exceed the owner's daily budget.
    #[error("{0}")]
    BudgetExceeded(String),
    /// A rate limit was hit.
    #[error("rate limit exceeded: {} requests per {} s ({})", .0.quota, .0.window_secs, .0.scope)]
    RateLimited(RateLimitInfo),
    /// An actor's mailbox is full; the client should retry shortly.
    #[error("too many requests in flight for this {0}; retry shortly")]
    Overloaded(&'static str),
    /// The database could not be reached.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The model provider answered something that does not validate; nothing was recorded.
    #[error("the model provider's answer is invalid: {0}")]
    UpstreamInvalid(String),
    /// The model provider is unreachable, failing or too slow, or the breaker is open.
    #[error("the model provider is unavailable: {detail}")]
    UpstreamUnavailable {
        /// Seconds the client should wait (the `Retry-After` header).
        retry_after_secs: u64,
        /// Why, for the logs.
        detail: String,
    },
    /// A database error that is not the client's fault.
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
    /// Any other server-side failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable suffix of this error's problem `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not-found",
            Error::RouteNotFound => "route-not-found",
            Error::MethodNotAllowed => "method-not-allowed",
            Error::InvalidId(_) => "invalid-id",
            Error::InvalidQuery(_) => "invalid-query",
            Error::InvalidTimestamp(_) => "invalid-timestamp",
            Error::MalformedJson(_) => "malformed-json",
            Error::InvalidBody(_) => "invalid-body",
            Error::Validation(_) => "validation-failed",
            Error::PayloadTooLarge(_) => "payload-too-large",
            Error::UnsupportedMediaType => "unsupported-media-type",
            Error::Conflict { kind, .. } => kind,
            Error::Gone(_) => "intent-expired",
            Error::BudgetExceeded(_) => "budget-exceeded",
            Error::RateLimited(_) => "rate-limited",
            Error::Overloaded(_) => "overloaded",
            Error::Unavailable(_) => "unavailable",
            Error::UpstreamInvalid(_) => "upstream-invalid",
            Error::UpstreamUnavailable { .. } => "upstream-unavailable",
            Error::Database(_) if self.is_unavailable() => "unavailable",
            Error::Database(_) | Error::Internal(_) => "internal",
        }
    }

    fn is_unavailable(&self) -> bool {
        match self {
            Error::Unavailable(_) => true,
            Error::Database(err) => matches!(err, sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_)),
            _ => false,
        }
    }

    fn title(&self) -> &'static str {
        match self.status_code() {
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
    };
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)))
        .json(problem)
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) | Error::RouteNotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::InvalidId(_) | Error::InvalidQuery(_) | Error::InvalidTimestamp(_) | Error::MalformedJson(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::InvalidBody(_) | Error::Validation(_) | Error::BudgetExceeded(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Gone(_) => StatusCode::GONE,
            Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Unavailable(_) | Error::UpstreamUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::UpstreamInvalid(_) => StatusCode::BAD_GATEWAY,
            Error::Database(_) if self.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Error::Database(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
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
        let mut response = problem_response(status, self.kind(), self.title(), detail, errors);
        if matches!(self, Error::Unauthorized) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let secs = match self {
                Error::UpstreamUnavailable { retry_after_secs, .. } => (*retry_after_secs).max(1),
                _ => 1,
            };
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Error::RateLimited(info) = self {
            info.write_headers(response.headers_mut());
        }
        response
    }
}

/// What a 429 tells the client, in the IETF `RateLimit-Policy`/`RateLimit` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// `device`, `ip` or `tenant`.
    pub scope: &'static str,
    /// Requests allowed per window.
    pub quota: u64,
    /// Window length in seconds.
    pub window_secs: u64,
    /// Milliseconds until a request would be allowed.
    pub retry_after_ms: u64,
}

impl RateLimitInfo {
    fn write_headers(&self, headers: &mut actix_web::http::header::HeaderMap) {
        let retry_secs = self.retry_after_ms.div_ceil(1000).max(1);
        let values = [
            (header::RETRY_AFTER, retry_secs.to_string()),
            (
                header::HeaderName::from_static("ratelimit-policy"),
                format!("\"{}\";q={};w={}", self.scope, self.quota, self.window_secs),
            ),
            (header::HeaderName::from_static("ratelimit"), format!("\"{}\";r=0;t={retry_secs}", self.scope)),
        ];
        for (name, value) in values {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
}

/// Collects field errors and turns them into one [`Error::Validation`].
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    /// Records a failure of `field` when `failed` holds.
    pub fn check(&mut self, failed: bool, field: impl Into<String>, message: impl Into<String>) {
        if failed {
            self.0.push(FieldError::new(field, message));
        }
    }

    /// `Ok(())` when nothing failed, else the collected validation error.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() { Ok(()) } else { Err(Error::Validation(self.0)) }
    }
}

impl From<replenish_api::Invalid> for Error {
    fn from(err: replenish_api::Invalid) -> Self {
        match err {
            replenish_api::Invalid::Fields(errors) => Error::Validation(errors),
            replenish_api::Invalid::Timestamp(detail) => Error::InvalidTimestamp(detail),
        }
    }
}

impl From<replenish_api::UnknownValue> for Error {
    fn from(err: replenish_api::UnknownValue) -> Self {
        Error::Internal(format!("{err} in database"))
    }
}

impl From<replenish_api::InvalidId> for Error {
    fn from(err: replenish_api::InvalidId) -> Self {
        Error::InvalidId(err.0)
    }
}
