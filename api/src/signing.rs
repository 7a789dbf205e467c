//! Signatures of what the service sends to merchants (its order webhooks and
//! event deliveries), shared by the app that signs and the receivers that check: the
//! `Replenish-Signature` header, `t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<raw body>">` (Stripe's scheme). The timestamp is inside the MAC, so
//! a captured request cannot be replayed later with a fresh time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const HEADER: &str = "Replenish-Signature";

/// How far a receiver should accept a signature's time from its own clock, s.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value signing `body` with `secret` at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    sign_all(&[secret], timestamp, body)
}

/// The header value signing `body` at `timestamp` with each of `secrets`:
/// one `v1` per secret, as while a secret is being rolled.
pub fn sign_all(secrets: &[&[u8]], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac(secret, timestamp, body).finalize().into_bytes()));
    }
    header
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=…,v1=…`.
    #[error("the signature header is malformed")]
    Malformed,
    /// Its time is further than the tolerance from now.
    #[error("the signature is too old (or from the future)")]
    Stale,
    /// No `v1` value matches the body.
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks `header` against the raw `body` with `secret`: see [`verify_any`].
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> Result<(), SignatureError> {
    verify_any(&[secret], header, body, now, tolerance_secs)
}

/// Checks `header` against the raw `body`: its time within `tolerance_secs`
/// of `now` (unix seconds) and one of its `v1` values the HMAC of
/// `"<t>.<body>"` under one of `secrets` (compared in constant time). Several
/// `v1` values are allowed so a secret can be rolled over; unknown keys in
/// the header are ignored, as the scheme allows.
pub fn verify_any(
    secrets: &[&[u8]],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => signatures.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let matches =
        secrets.iter().any(|secret| signatures.iter().any(|s| mac(secret, timestamp, body).verify_slice(s).is_ok()));
    if matches { Ok(()) } else { Err(SignatureError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_tampering_fails() {
        let header = sign(b"whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(verify(b"whsec_test", &header, br#"{"a":1}"#, 1_700_000_010, 300), Ok(()));
        assert_eq!(verify(b"whsec_test", &header, br#"{"a":2}"#, 1_700_000_010, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"other", &header, br#"{"a":1}"#, 1_700_000_010, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"whsec_test", &header, br#"{"a":1}"#, 1_700_000_400, 300), Err(SignatureError::Stale));
        assert_eq!(verify(b"whsec_test", "v1=00", b"", 0, 300), Err(SignatureError::Malformed));
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256("key", "1.x"), computed independently with Python's hmac module.
        assert_eq!(sign(b"key", 1, b"x"), "t=1,v1=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec");
    }
}
