//! The chaos run's history: every request the load generator sent and what came of it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A 2xx: the service acknowledged it, so its effect must exist.
    Ok {
        /// The status.
        status: u16,
        /// The answer.
        body: Value,
    },
    /// A 4xx: a definite refusal; nothing was done (or the answer says why not).
    Refused {
        /// The status.
        status: u16,
    },
    /// A 5xx: the service failed while handling it; the effect may or may not exist.
    ServerError {
        /// The status.
        status: u16,
        /// The last segment of the problem document's `type` (`unavailable`, `internal`, ...), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        problem: Option<String>,
    },
    /// No answer in time, or the connection broke after the request went out: unknown.
    Timeout,
    /// The connection was never made (the app was down): certainly no effect.
    NotSent,
}

impl Outcome {
    /// Whether the request may have had an effect that nobody acknowledged.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Outcome::ServerError { .. } | Outcome::Timeout)
    }

    /// The body of a 2xx.
    pub fn acknowledged(&self) -> Option<&Value> {
        match self {
            Outcome::Ok { body, .. } => Some(body),
            _ => None,
        }
    }

    /// A short label for the report's "requests by outcome" table.
    pub fn label(&self) -> String {
        match self {
            Outcome::Ok { .. } => "2xx".to_owned(),
            Outcome::Refused { status } => status.to_string(),
            Outcome::ServerError { status, problem: Some(problem) } => format!("{status} {problem}"),
            Outcome::ServerError { status, problem: None } => status.to_string(),
            Outcome::Timeout => "timeout".to_owned(),
            Outcome::NotSent => "not_sent".to_owned(),
        }
    }
}

/// Which request it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpKind {
    /// `POST /api/v1/detections`.
    Detection {
        /// Device id.
        device: String,
        /// The detection's event id.
        event_id: String,
        /// A re-send of an event id already sent (to the other app).
        repeat: bool,
    },
    /// `POST /api/v1/decisions`.
    Decision {
        /// Device id.
        device: String,
        /// The intent decided.
        intent: Uuid,
        /// Accepted (true) or declined.
        accept: bool,
        /// A re-send of a decision already sent (to the other app).
        repeat: bool,
    },
}

impl OpKind {
    /// `detection` or `decision`, for the report.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Detection { .. } => "detection",
            OpKind::Decision { .. } => "decision",
        }
    }
}

/// One request and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// The arrival number it belongs to (its traffic comes from the seed and this number).
    pub n: u64,
    /// Which app process it went to.
    pub app: usize,
    /// Milliseconds since the load started, when it was sent.
    pub at_ms: u64,
    /// The request.
    #[serde(flatten)]
    pub kind: OpKind,
    /// What came of it.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The whole history, in the order the answers came.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    /// Every request.
    pub ops: Vec<Op>,
}
