//! Resource ids: the names of tenants, stores, products and devices.

use serde::{Deserialize, Deserializer, Serialize};

/// A resource id as it appears in paths: `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`.
///
/// Ids become Kubernetes object names later, hence the DNS-label rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
pub struct ResourceId(String);

/// A string that is not a valid [`ResourceId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId(pub String);

impl std::fmt::Display for InvalidId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid id {:?}: ids are 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit",
            self.0
        )
    }
}

impl std::error::Error for InvalidId {}

impl ResourceId {
    /// Parses `value`, failing unless it is a valid id.
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        if is_valid_id(value) { Ok(Self(value.to_owned())) } else { Err(InvalidId(value.to_owned())) }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ResourceId {
    type Err = InvalidId;

    fn from_str(value: &str) -> Result<Self, InvalidId> {
        Self::parse(value)
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Whether `value` is a valid resource id (a DNS label).
pub fn is_valid_id(value: &str) -> bool {
    let bytes = value.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            bytes.len() <= 63 && allowed(first) && allowed(last) && bytes.iter().all(|b| allowed(b) || *b == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels_and_rejects_everything_else() {
        for ok in ["a", "0", "store-1", "abc-def-123", &"a".repeat(63)] {
            assert!(ResourceId::parse(ok).is_ok(), "{ok} should be valid");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "a b", "é", &"a".repeat(64), "a/b"] {
            assert!(ResourceId::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }
}
