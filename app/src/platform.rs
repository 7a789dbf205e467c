//! Platform-wide secrets: the admin token's hash.

use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{TokenKind, hash_token, issue_token};
use crate::config::Settings;
use crate::db::retry::{UPSERT_ATTEMPTS, lost_unique_race, retry};
use crate::error::Error;

pub mod entity;
pub mod repo;

const ADMIN_TOKEN: &str = "admin_token";

/// The admin token's hash, and the token itself when it was generated just now.
pub struct AdminToken {
    /// Hex SHA-256 of the admin token.
    pub hash: String,
    /// Set only on the first start that generated the token: print it once.
    pub generated: Option<SecretString>,
}

/// Works out the admin token: `REPLENISH_ADMIN_TOKEN` when set; otherwise, on
/// SQLite, the stored one, generating and storing (the hash of) one on first
/// start. Postgres deployments must set the variable.
pub async fn admin_token(db: &DatabaseConnection, settings: &Settings) -> Result<AdminToken, Error> {
    if let Some(token) = &settings.admin_token {
        if token.expose_secret().trim().len() < 16 {
            return Err(Error::Internal("REPLENISH_ADMIN_TOKEN must be at least 16 characters".into()));
        }
        return Ok(AdminToken { hash: hash_token(token.expose_secret().trim()), generated: None });
    }
    if !settings.is_sqlite() {
        return Err(Error::Internal(
            "REPLENISH_ADMIN_TOKEN must be set when the database is not the embedded SQLite default".into(),
        ));
    }
    let token = issue_token(TokenKind::Admin);
    let ours = token.hash.as_str();
    // A concurrent first start may store its token between our read and our
    // insert: the retry then reads theirs, and theirs is the one.
    let stored = retry(UPSERT_ATTEMPTS, lost_unique_race, move || async move {
        match repo::secret_hash(db, ADMIN_TOKEN).await? {
            Some(hash) => Ok(Some(hash)),
            None => repo::insert_secret(db, ADMIN_TOKEN, ours).await.map(|()| None),
        }
    })
    .await?;
    Ok(match stored {
        Some(hash) => AdminToken { hash, generated: None },
        None => AdminToken { hash: token.hash, generated: Some(token.secret) },
    })
}
