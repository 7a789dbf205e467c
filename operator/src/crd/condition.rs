//! Status conditions in the Kubernetes convention (`metav1.Condition`).

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether a condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// It holds.
    True,
    /// It does not hold.
    False,
    /// Not known yet.
    Unknown,
}

/// One observation about a resource, keyed by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// The `metadata.generation` this condition was computed from.
    pub observed_generation: i64,
    /// CamelCase reason, machine-readable.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
    /// When `status` last changed (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: String,
}

impl Condition {
    /// A condition stamped now.
    pub fn new(
        type_: &str,
        status: ConditionStatus,
        generation: i64,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_: type_.to_owned(),
            status,
            observed_generation: generation,
            reason: reason.to_owned(),
            message: message.into(),
            last_transition_time: now(),
        }
    }
}

/// Now, as conditions write it.
pub fn now() -> String {
    format_time(Utc::now())
}

/// A time as conditions write it: RFC 3339, whole seconds, `Z`.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Puts `new` into `conditions`, replacing the one of the same type.
///
/// `lastTransitionTime` is kept from the old condition unless the status changed,
/// so a steady resource shows when it last flipped, not when it was last reconciled.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
            }
            *old = new;
        }
        None => conditions.push(new),
    }
}

/// Schema of a condition list: a `list-type: map` keyed by `type`, so server-side apply merges by type.
pub(crate) fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert("x-kubernetes-list-map-keys".into(), serde_json::json!(["type"]));
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(status: ConditionStatus, time: &str, reason: &str) -> Condition {
        Condition {
            type_: "Ready".into(),
            status,
            observed_generation: 1,
            reason: reason.into(),
            message: String::new(),
            last_transition_time: time.into(),
        }
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut conditions = vec![cond(ConditionStatus::True, "2020-01-01T00:00:00Z", "A")];
        set_condition(&mut conditions, cond(ConditionStatus::True, "2030-01-01T00:00:00Z", "B"));
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, "2020-01-01T00:00:00Z");
        assert_eq!(conditions[0].reason, "B");
        set_condition(&mut conditions, cond(ConditionStatus::False, "2031-01-01T00:00:00Z", "C"));
        assert_eq!(conditions[0].last_transition_time, "2031-01-01T00:00:00Z");
    }

    #[test]
    fn new_types_are_appended() {
        let mut conditions = vec![cond(ConditionStatus::True, "2020-01-01T00:00:00Z", "A")];
        let mut other = cond(ConditionStatus::False, "2021-01-01T00:00:00Z", "B");
        other.type_ = "Provisioned".into();
        set_condition(&mut conditions, other);
        assert_eq!(conditions.iter().map(|c| c.type_.as_str()).collect::<Vec<_>>(), ["Ready", "Provisioned"]);
    }
}
