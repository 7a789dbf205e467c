//! Platform secret queries. Platform secrets belong to no tenant.

use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};

use crate::error::Error;
use crate::platform::entity;

/// The stored hash of platform secret `name`, if there is one.
pub async fn secret_hash(db: &DatabaseConnection, name: &str) -> Result<Option<String>, Error> {
    Ok(entity::Entity::find_by_id(name).one(db).await?.map(|stored| stored.value_hash))
}

/// Stores the hash of platform secret `name`; a unique violation means
/// another process stored one first.
pub async fn insert_secret(db: &DatabaseConnection, name: &str, hash: &str) -> Result<(), Error> {
    entity::ActiveModel {
        name: Set(name.to_owned()),
        value_hash: Set(hash.to_owned()),
        created_at: Set(crate::db::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}
