//! `Idempotency-Key` on merchant and admin POSTs (the Stripe convention and
//! the IETF httpapi draft): a client that lost a response retries with the
//! same key and gets the same response instead of a second effect — above
//! all the one-time device token of `POST /api/v1/devices`.
//!
//! A key belongs to one principal (a tenant, or the platform admin) and is
//! kept [`KeyPolicy::ttl`] (24 h by default). The first request claims it
//! in progress, runs, and stores its status, `content-type`, `location` and
//! body; 5xx responses are not stored (the key is released, so a retry runs
//! again). A repeat with the same method, path and body replays the stored
//! response with `Idempotent-Replayed: true`; the same key on another body or
//! path is a 422 `idempotency-key-reused`; a repeat while the first is still
//! running is a 409 `idempotency-key-in-progress`. Device-token POSTs
//! (detections, decisions) carry their own idempotency (event ids) and are
//! not covered.
//!
//! Layers: [`middleware`] is the HTTP edge, [`repo`] the only SQL, [`entity`]
//! the table.

pub mod entity;
pub mod middleware;
pub mod repo;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::tasks::TaskScope;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The header marking a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key accepted, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// How keys are kept, read by the middleware from the app data.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    /// How long a key is remembered after its first request.
    pub ttl: Duration,
    /// How long a request may hold a key in progress before another request
    /// may take it over (its replica died mid-request).
    pub stale_after: Duration,
    /// Largest body fingerprinted: the largest any covered route accepts.
    pub max_body_bytes: usize,
}

/// Validates an `Idempotency-Key` value: 1–255 visible ASCII characters. The
/// IETF draft sends it as a structured-field string (`"abc"`), Stripe bare
/// (`abc`); both are accepted and mean the same key.
pub fn parse_key(raw: &[u8]) -> Result<String, Error> {
    let unquoted = match raw {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    let invalid = |detail: String| Error::InvalidHeader { kind: "invalid-idempotency-key", detail };
    if unquoted.is_empty() || unquoted.len() > MAX_KEY_LEN {
        return Err(invalid(format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} characters")));
    }
    if !unquoted.iter().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("Idempotency-Key must be visible ASCII characters (no spaces)".into()));
    }
    Ok(String::from_utf8_lossy(unquoted).into_owned())
}

/// Hex SHA-256 of a request body: what "the same request" means.
pub fn fingerprint(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// What a repeat of a keyed request gets, given the live record of the key.
pub fn verdict(record: repo::Existing, request: &repo::KeyedRequest) -> Result<repo::StoredResponse, Error> {
    if record.method != request.method || record.path != request.path {
        return Err(Error::Unprocessable {
            kind: "idempotency-key-reused",
            detail: format!(
                "this Idempotency-Key was used for {} {}; use a new key for another request",
                record.method, record.path
            ),
        });
    }
    if record.fingerprint != request.fingerprint {
        return Err(Error::Unprocessable {
            kind: "idempotency-key-reused",
            detail: "this Idempotency-Key was used with another request body; use a new key for another request".into(),
        });
    }
    record.response.ok_or_else(|| Error::Conflict {
        kind: "idempotency-key-in-progress",
        detail: "a request with this Idempotency-Key is still being processed; retry shortly".into(),
    })
}

/// Prunes lapsed keys every `period` while `tasks` lives: every principal's,
/// or tenant `only`'s alone (a dedicated tenant's app).
pub fn spawn_pruning(
    tasks: &TaskScope,
    db: DatabaseConnection,
    clock: Clock,
    period: Duration,
    only: Option<TenantScope>,
) {
    let only = Arc::new(only);
    tasks.every(period, move || {
        let (db, clock, only) = (db.clone(), clock.clone(), only.clone());
        async move {
            let now = clock.now();
            let pruned = match only.as_ref() {
                Some(tenant) => repo::prune_tenant(&db, tenant, now).await,
                None => repo::prune_all(&db, AcrossTenants, now).await,
            };
            match pruned {
                Ok(0) => {}
                Ok(count) => tracing::debug!(count, "pruned lapsed idempotency keys"),
                Err(err) => tracing::warn!(error = %err, "pruning idempotency keys failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255_characters() {
        assert_eq!(parse_key(b"abc-123").ok().as_deref(), Some("abc-123"));
        assert_eq!(parse_key(b"\"abc-123\"").ok().as_deref(), Some("abc-123"), "structured-field string form");
        assert!(parse_key(&[b'k'; 255]).is_ok());
        assert!(parse_key(&[b'k'; 256]).is_err());
        for bad in [&b""[..], b"\"\"", b"has space", b"tab\t", "caf\u{e9}".as_bytes()] {
            assert!(matches!(parse_key(bad), Err(Error::InvalidHeader { .. })), "{bad:?}");
        }
    }

    #[test]
    fn fingerprint_is_hex_sha256() {
        assert_eq!(fingerprint(b"").len(), 64);
        assert_ne!(fingerprint(b"{\"a\":1}"), fingerprint(b"{\"a\":2}"));
    }
}
