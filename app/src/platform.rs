//! Platform-wide secrets: the admin token's hash.

use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{TokenKind, hash_token, issue_token};
use crate::config::Settings;
use crate::db::{is_unique_violation, now};
use crate::error::Error;

/// The `platform_secrets` table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// A named platform secret, stored only as a hash.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "platform_secrets")]
    pub struct Model {
        /// Secret name, e.g. `admin_token`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        /// Hex SHA-256 of the secret.
        pub value_hash: String,
        /// When it was generated.
        pub created_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

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
    if let Some(stored) = entity::Entity::find_by_id(ADMIN_TOKEN).one(db).await? {
        return Ok(AdminToken { hash: stored.value_hash, generated: None });
    }
    let token = issue_token(TokenKind::Admin);
    let inserted = entity::ActiveModel {
        name: Set(ADMIN_TOKEN.to_owned()),
        value_hash: Set(token.hash.clone()),
        created_at: Set(now()),
    }
    .insert(db)
    .await;
    match inserted {
        Ok(_) => Ok(AdminToken { hash: token.hash, generated: Some(token.secret) }),
        // Another process generated it first; theirs is the one.
        Err(err) if is_unique_violation(&err) => {
            let stored = entity::Entity::find_by_id(ADMIN_TOKEN)
                .one(db)
                .await?
                .ok_or_else(|| Error::Internal("admin token vanished".into()))?;
            Ok(AdminToken { hash: stored.value_hash, generated: None })
        }
        Err(err) => Err(err.into()),
    }
}
