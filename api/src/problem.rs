//! Errors: the problem+json body every error response carries, and the small
//! error types of this crate's validation and parsing.

use serde::{Deserialize, Serialize};

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// JSON pointer-like path of the field, e.g. `variants[0].sku`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A validation failure of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// The RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// Stable URI naming the kind of problem.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    pub detail: String,
    /// Per-field validation failures, when there are any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The id of the request this answers, as in its `X-Request-Id` response
    /// header: quote it when asking the operator about this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    /// The stable suffix of the problem type, e.g. `validation-failed`.
    pub fn kind(&self) -> &str {
        self.problem_type.rsplit('/').next().unwrap_or_default()
    }
}

/// Why a well-formed request was refused by this crate's validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Fields that break rules serde cannot express (the app answers 422 `validation-failed`).
    Fields(Vec<FieldError>),
    /// A device timestamp too far from server time (the app answers 400 `invalid-timestamp`).
    Timestamp(String),
    /// A query parameter out of range, e.g. a time outside [`crate::time`]'s
    /// bounds or a report window that is too long (the app answers 400 `invalid-query`).
    Query(String),
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Fields(errors) => {
                f.write_str("validation failed")?;
                for (i, e) in errors.iter().enumerate() {
                    write!(f, "{} {}: {}", if i == 0 { ":" } else { ";" }, e.field, e.message)?;
                }
                Ok(())
            }
            Invalid::Timestamp(detail) | Invalid::Query(detail) => f.write_str(detail),
        }
    }
}

impl std::error::Error for Invalid {}

/// Collects field errors and turns them into one [`Invalid::Fields`].
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    /// Records a failure of `field` when `failed` holds.
    pub fn check(&mut self, failed: bool, field: impl Into<String>, message: impl Into<String>) {
        if failed {
            self.0.push(FieldError::new(field, message));
        }
    }

    /// `Ok(())` when nothing failed, else the collected failures.
    pub fn finish(self) -> Result<(), Invalid> {
        if self.0.is_empty() { Ok(()) } else { Err(Invalid::Fields(self.0)) }
    }
}

/// A string that names no value of an enum of this API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    /// Which enum, e.g. `plan`.
    pub kind: &'static str,
    /// The string that did not parse.
    pub value: String,
}

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} {:?}", self.kind, self.value)
    }
}

impl std::error::Error for UnknownValue {}

/// Whether `value` can be stored as text: Postgres refuses U+0000 (NUL) in
/// `text` columns, so a NUL that got past the edge would come back as a 500.
/// Every free-text field is checked with this (or [`text_ok`]).
pub fn storable_text(value: &str) -> bool {
    !value.contains('\0')
}

/// Whether `value` is 1-`max` characters once trimmed, with no NUL.
pub fn text_ok(value: &str, max: usize) -> bool {
    let trimmed = value.trim();
    !trimmed.is_empty() && trimmed.chars().count() <= max && storable_text(value)
}
