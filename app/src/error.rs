//! The domain's one error type: what can go wrong, with a stable kind, and
//! no notion of HTTP. The edge (`problem.rs`) maps it to problem+json in one
//! place.

pub use replenish_api::problem::FieldError;

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
    /// Well-formed input that breaks a rule.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The request conflicts with existing state; `kind` becomes the problem type.
    #[error("{detail}")]
    Conflict {
        /// Stable problem-type suffix, e.g. `object-class-taken`.
        kind: &'static str,
        /// Human-readable explanation.
        detail: String,
    },
    /// A request header that does not parse (e.g. `Idempotency-Key`); `kind` becomes the problem type.
    #[error("{detail}")]
    InvalidHeader {
        /// Stable problem-type suffix, e.g. `invalid-idempotency-key`.
        kind: &'static str,
        /// Human-readable explanation.
        detail: String,
    },
    /// Well-formed input the request cannot be processed with (e.g. an
    /// `Idempotency-Key` reused for another request); `kind` becomes the problem type.
    #[error("{detail}")]
    Unprocessable {
        /// Stable problem-type suffix, e.g. `idempotency-key-reused`.
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
            Error::InvalidId(_) => "invalid-id",
            Error::InvalidQuery(_) => "invalid-query",
            Error::InvalidTimestamp(_) => "invalid-timestamp",
            Error::Validation(_) => "validation-failed",
            Error::Conflict { kind, .. } | Error::InvalidHeader { kind, .. } | Error::Unprocessable { kind, .. } => {
                kind
            }
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

    /// Whether the cause is a database or dependency that cannot be reached.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Unavailable(_) => true,
            Error::Database(err) => database_unreachable(err),
            _ => false,
        }
    }
}

/// Whether a database error means the database could not be reached, rather
/// than that the statement was wrong: no connection to be had, or a
/// connection that broke (reset, closed) while a statement was on it — which
/// `replenish-load chaos` showed arrives as a query or exec error. Clients
/// and load balancers retry a 503; a 500 says the service is broken.
fn database_unreachable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => matches!(
            e.as_ref(),
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed
        ),
        _ => false,
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

/// Collects field errors; its `Invalid::Fields` becomes [`Error::Validation`].
pub use replenish_api::problem::Violations;

impl From<replenish_api::Invalid> for Error {
    fn from(err: replenish_api::Invalid) -> Self {
        match err {
            replenish_api::Invalid::Fields(errors) => Error::Validation(errors),
            replenish_api::Invalid::Timestamp(detail) => Error::InvalidTimestamp(detail),
            replenish_api::Invalid::Query(detail) => Error::InvalidQuery(detail),
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
