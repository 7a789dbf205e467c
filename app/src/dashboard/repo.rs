//! Dashboard session queries: the only SQL of the dashboard (every page reads
//! through the other domains' repositories and services).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::dashboard::entity;
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;

/// A session to store.
pub struct NewSession<'a> {
    /// Hash of the cookie's token.
    pub token_hash: &'a str,
    /// Its tenant.
    pub tenant: &'a TenantScope,
    /// Hash of the API key that signed in.
    pub credential_hash: &'a str,
    /// The session's CSRF token.
    pub csrf_token: &'a str,
    /// Now.
    pub created_at: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// Stores a new session, pruning every lapsed one in the same transaction. Across
/// tenants by design: sign-ins are rare, and this keeps the table to live sessions
/// (and those lapsed since the last sign-in) without a background task.
pub async fn create(db: &DatabaseConnection, _: AcrossTenants, session: &NewSession<'_>) -> Result<(), Error> {
    let txn = crate::db::begin_write(db).await?;
    entity::Entity::delete_many().filter(entity::Column::ExpiresAt.lte(session.created_at)).exec(&txn).await?;
    entity::ActiveModel {
        token_hash: Set(session.token_hash.to_owned()),
        tenant_id: Set(session.tenant.as_str().to_owned()),
        credential_hash: Set(session.credential_hash.to_owned()),
        csrf_token: Set(session.csrf_token.to_owned()),
        created_at: Set(session.created_at),
        expires_at: Set(session.expires_at),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The unexpired session whose cookie token has this hash. Across tenants by
/// design: the cookie is what names the tenant, as a bearer token does.
pub async fn find_live(
    db: &DatabaseConnection,
    _: AcrossTenants,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<entity::Model>, Error> {
    Ok(entity::Entity::find()
        .filter(entity::Column::TokenHash.eq(token_hash))
        .filter(entity::Column::ExpiresAt.gt(now))
        .one(db)
        .await?)
}

/// Ends the session with this cookie-token hash (sign-out, or a session whose
/// key or tenant stopped being valid); ending it twice is fine.
pub async fn delete(db: &DatabaseConnection, _: AcrossTenants, token_hash: &str) -> Result<(), Error> {
    let txn = crate::db::begin_write(db).await?;
    entity::Entity::delete_many().filter(entity::Column::TokenHash.eq(token_hash)).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}
