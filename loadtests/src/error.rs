//! The library's error type.

/// What can stop a load run or a bench before it produces a report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client could not send a request or read its answer.
    #[error("HTTP transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// A setup or read-back call got an unexpected status.
    #[error("{call} answered {status}: {body}")]
    Status {
        /// What was being called, e.g. `PUT /admin/v1/tenants/load`.
        call: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// A response did not have the shape the API documents.
    #[error("unexpected response from {call}: {detail}")]
    Shape {
        /// What was being called.
        call: String,
        /// What was wrong.
        detail: String,
    },
    /// The options do not make sense together.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A local file or process could not be handled.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Something in the bench's environment is missing (app binary, database).
    #[error("bench: {0}")]
    Bench(String),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
