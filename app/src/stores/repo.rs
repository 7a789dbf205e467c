//! Store queries; every one is scoped to a tenant.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::db::now;
use crate::db::retry::{UPSERT_ATTEMPTS, lost_unique_race, retry};
use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::error::FieldError;
use crate::http::{PageRequest, ResourceId};
use crate::stores::entity;
use crate::stores::model::{CommerceProviderKind, CommerceSettings, StoreSpec, StoreView};
use crate::stores::model::{CommerceSettingsExt as _, StoreViewExt as _};

/// Creates or updates a store; `true` when it was created.
pub async fn upsert(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    id: &ResourceId,
    spec: &StoreSpec,
) -> Result<(bool, StoreView), Error> {
    retry(UPSERT_ATTEMPTS, lost_unique_race, || try_upsert(db, tenant, id, spec)).await
}

async fn try_upsert(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    id: &ResourceId,
    spec: &StoreSpec,
) -> Result<(bool, StoreView), Error> {
    let name = spec.name.trim().to_owned();
    let provider = spec.commerce.provider.as_str().to_owned();
    let existing = find(db, tenant, id.as_str()).await?;
    let provider_settings = with_kept_secret(&spec.commerce, existing.as_ref())?.stored_json();
    let now = now();
    let (created, model) = match existing {
        None => {
            let model = entity::ActiveModel {
                tenant_id: Set(tenant.as_str().to_owned()),
                id: Set(id.to_string()),
                name: Set(name),
                timezone: Set(spec.timezone.clone()),
                commerce_provider: Set(provider),
                commerce_settings: Set(provider_settings),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
            (true, model)
        }
        Some(current)
            if current.name == name
                && current.timezone == spec.timezone
                && current.commerce_provider == provider
                && current.commerce_settings == provider_settings =>
        {
            (false, current)
        }
        Some(current) => {
            let mut active: entity::ActiveModel = current.into();
            active.name = Set(name);
            active.timezone = Set(spec.timezone.clone());
            active.commerce_provider = Set(provider);
            active.commerce_settings = Set(provider_settings);
            active.updated_at = Set(now);
            (false, active.update(db).await?)
        }
    };
    Ok((created, StoreView::from_model(&model)?))
}

/// The commerce settings to store: a webhook PUT without a secret keeps the
/// store's current one (the API never shows it, so a client cannot send it
/// back); a webhook store must have one.
fn with_kept_secret(commerce: &CommerceSettings, existing: Option<&entity::Model>) -> Result<CommerceSettings, Error> {
    if commerce.provider != CommerceProviderKind::Webhook || commerce.secret.is_some() {
        return Ok(commerce.clone());
    }
    let kept = existing
        .map(|m| CommerceSettings::from_stored(&m.commerce_provider, &m.commerce_settings))
        .transpose()?
        .and_then(|current| current.secret);
    match kept {
        Some(secret) => Ok(CommerceSettings { secret: Some(secret), ..commerce.clone() }),
        None => Err(Error::Validation(vec![FieldError::new(
            "commerce.secret",
            "the webhook provider needs a secret (16-256 characters) to sign its calls",
        )])),
    }
}

/// The stored row of one store.
pub async fn find(db: &impl ConnectionTrait, tenant: &TenantScope, id: &str) -> Result<Option<entity::Model>, Error> {
    Ok(tenant.find::<entity::Entity>().filter(entity::Column::Id.eq(id)).one(db).await?)
}

/// Whether the tenant has store `id`.
pub async fn exists(db: &impl ConnectionTrait, tenant: &TenantScope, id: &str) -> Result<bool, Error> {
    Ok(find(db, tenant, id).await?.is_some())
}

/// The tenant's store ids among `ids`.
pub async fn existing_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    ids: Vec<String>,
) -> Result<Vec<String>, Error> {
    let found = tenant.find::<entity::Entity>().filter(entity::Column::Id.is_in(ids)).all(db).await?;
    Ok(found.into_iter().map(|s| s.id).collect())
}

/// One store of the tenant.
pub async fn get(db: &DatabaseConnection, tenant: &TenantScope, id: &ResourceId) -> Result<StoreView, Error> {
    let model = find(db, tenant, id.as_str()).await?.ok_or(Error::NotFound("store"))?;
    StoreView::from_model(&model)
}

/// A page of the tenant's stores, ordered by id.
pub async fn list(db: &DatabaseConnection, tenant: &TenantScope, page: &PageRequest) -> Result<Vec<StoreView>, Error> {
    let mut query = tenant.find::<entity::Entity>().order_by_asc(entity::Column::Id);
    if let Some(after) = &page.after {
        query = query.filter(entity::Column::Id.gt(after.as_str()));
    }
    query.limit(page.limit + 1).all(db).await?.iter().map(StoreView::from_model).collect()
}
