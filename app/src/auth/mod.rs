//! Credentials and callers.
//!
//! Three kinds of caller send `Authorization: Bearer <token>`: the platform
//! admin, a merchant (a tenant's API key, `rpl_t_…`) and a device (`rpl_d_…`).
//! Tokens carry 190 random bits; only their SHA-256 is stored, and hashes are
//! compared in constant time. A middleware authenticates before any extractor
//! runs, so a request with bad credentials is always a 401, whatever else is
//! wrong with it; handlers then ask for the caller they need as an argument.
//!
//! Layers: [`tokens`] mints and hashes tokens; [`caller`] is who a request
//! acts as, and the extractors that hand it to handlers; [`repo`] looks
//! credentials up; [`credentials`] caches what it confirmed; [`middleware`]
//! puts them together at the HTTP edge.

pub mod caller;
pub mod credentials;
pub mod middleware;
pub mod repo;
pub mod tokens;

pub use caller::{Admin, Caller, DeviceCaller, Merchant};
pub use tokens::{IssuedToken, TokenKind, hash_token, hashes_match, issue_token};
