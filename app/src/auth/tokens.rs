//! Tokens: minted with a kind prefix and ~190 random bits, stored only as
//! SHA-256 hashes, compared in constant time.

use rand::distr::{Alphanumeric, SampleString};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The kinds of token this service issues, told apart by prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Platform admin (`rpl_a_`); an admin token set by the operator may have any form.
    Admin,
    /// A tenant's API key (`rpl_t_`).
    Tenant,
    /// A device token (`rpl_d_`).
    Device,
}

impl TokenKind {
    /// The prefix that tells this kind of token apart.
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Admin => "rpl_a_",
            TokenKind::Tenant => "rpl_t_",
            TokenKind::Device => "rpl_d_",
        }
    }
}

/// A freshly minted token: the secret for the caller, the hash for the database.
pub struct IssuedToken {
    /// Shown to the caller once, never stored.
    pub secret: SecretString,
    /// Hex SHA-256 of the secret, the only form that is stored.
    pub hash: String,
}

/// Mints a random token of `kind`: its prefix and 32 alphanumerics (~190 bits).
pub fn issue_token(kind: TokenKind) -> IssuedToken {
    let secret = format!("{}{}", kind.prefix(), Alphanumeric.sample_string(&mut rand::rng(), 32));
    let hash = hash_token(&secret);
    IssuedToken { secret: SecretString::from(secret), hash }
}

/// Hex SHA-256 of a token. Tokens are high-entropy, so a fast hash suffices.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison of two token hashes.
pub fn hashes_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn tokens_are_prefixed_unique_and_hashed() {
        let a = issue_token(TokenKind::Tenant);
        let b = issue_token(TokenKind::Tenant);
        assert!(a.secret.expose_secret().starts_with("rpl_t_"));
        assert_eq!(a.secret.expose_secret().len(), 6 + 32);
        assert_ne!(a.secret.expose_secret(), b.secret.expose_secret());
        assert_eq!(a.hash, hash_token(a.secret.expose_secret()));
        assert!(!a.hash.contains(a.secret.expose_secret()));
        assert!(hashes_match(&a.hash, &hash_token(a.secret.expose_secret())));
        assert!(!hashes_match(&a.hash, &b.hash));
    }
}
