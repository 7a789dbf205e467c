//! The operator's one error type.

use std::time::Duration;

/// Everything that can go wrong while reconciling or starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a request.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The app could not be reached or answered 5xx; worth retrying.
    #[error("app unavailable: {0}")]
    AppUnavailable(String),
    /// The app rejected a request (4xx problem); retrying will not help until something changes.
    #[error("app rejected {operation}: {status} {problem}: {detail}")]
    AppRejected {
        /// What the operator was doing.
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// Last segment of the problem `type` URI, e.g. `validation-failed`.
        problem: String,
        /// The problem's `detail`.
        detail: String,
    },
    /// The app answered something the operator does not understand.
    #[error("unexpected answer from the app: {0}")]
    AppProtocol(String),
    /// A resource cannot be reconciled as written (e.g. a Device outside a tenant namespace).
    #[error("invalid resource: {0}")]
    Invalid(String),
    /// A Secret (or key) a resource refers to is missing; retried until it appears.
    #[error("secret not found: {0}")]
    SecretNotFound(String),
    /// Bad configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// A call to the Kubernetes API did not finish within its deadline.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A value could not be (de)serialized.
    #[error("serialization: {0}")]
    Serialization(#[from] serde_json::Error),
    /// The finalizer helper failed (adding/removing the finalizer or the wrapped reconcile).
    #[error("finalizer: {0}")]
    Finalizer(Box<kube::runtime::finalizer::Error<Error>>),
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A short, stable label for the failures metric.
    pub fn metric_label(&self) -> String {
        match self {
            Error::Kube(_) => "kube".into(),
            Error::AppUnavailable(_) => "app_unavailable".into(),
            Error::AppRejected { problem, .. } => format!("app_rejected_{}", problem.replace('-', "_")),
            Error::AppProtocol(_) => "app_protocol".into(),
            Error::Invalid(_) => "invalid".into(),
            Error::SecretNotFound(_) => "secret_not_found".into(),
            Error::Config(_) => "config".into(),
            Error::Timeout(_) => "timeout".into(),
            Error::Serialization(_) => "serialization".into(),
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => {
                    e.metric_label()
                }
                _ => "finalizer".into(),
            },
        }
    }

    /// The error itself, looking through the finalizer helper's wrapping.
    pub fn root(&self) -> &Error {
        match self {
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => {
                    e.root()
                }
                _ => self,
            },
            other => other,
        }
    }

    /// The CamelCase reason a `Ready=False` condition and a Warning event carry.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubernetesApiError",
            Error::AppUnavailable(_) => "AppUnavailable",
            Error::AppRejected { .. } => "AppRejected",
            Error::AppProtocol(_) => "AppProtocolError",
            Error::Invalid(_) => "InvalidSpec",
            Error::SecretNotFound(_) => "SecretNotFound",
            Error::Config(_) => "ConfigError",
            Error::Timeout(_) => "Timeout",
            Error::Serialization(_) => "SerializationError",
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => {
                    e.reason()
                }
                _ => "FinalizerError",
            },
        }
    }
}

impl From<kube::runtime::finalizer::Error<Error>> for Error {
    fn from(e: kube::runtime::finalizer::Error<Error>) -> Self {
        Error::Finalizer(Box::new(e))
    }
}

/// Per-object exponential backoff: `base * 2^(failures-1)`, capped at `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay after `failures` consecutive failures (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        self.base.saturating_mul(1u32 << exponent).min(self.max)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_secs(5), max: Duration::from_secs(300) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff { base: Duration::from_secs(5), max: Duration::from_secs(60) };
        let delays: Vec<u64> = (1..=6).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 60, 60]);
        assert_eq!(b.delay(1_000), Duration::from_secs(60));
    }

    #[test]
    fn labels_name_the_problem() {
        let e = Error::AppRejected {
            operation: "put device",
            status: 422,
            problem: "validation-failed".into(),
            detail: String::new(),
        };
        assert_eq!(e.metric_label(), "app_rejected_validation_failed");
        assert_eq!(Error::AppUnavailable("x".into()).reason(), "AppUnavailable");
    }

    #[test]
    fn finalizer_wrapping_is_seen_through() {
        let wrapped: Error = kube::runtime::finalizer::Error::ApplyFailed(Error::AppUnavailable("down".into())).into();
        assert!(matches!(wrapped.root(), Error::AppUnavailable(_)));
        assert_eq!(wrapped.reason(), "AppUnavailable");
        assert_eq!(wrapped.metric_label(), "app_unavailable");
        let own: Error = kube::runtime::finalizer::Error::<Error>::UnnamedObject.into();
        assert_eq!(own.metric_label(), "finalizer");
        assert!(matches!(own.root(), Error::Finalizer(_)));
    }
}
