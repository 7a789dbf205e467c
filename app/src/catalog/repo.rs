//! Product and variant queries; every one is scoped to a tenant.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::catalog::entity::{product, variant};
use crate::catalog::model::ProductViewExt as _;
use crate::catalog::model::{ProductSpec, ProductView, usd_to_cents};
use crate::changes::{Change, Changed, announce};
use crate::db::now;
use crate::db::retry::{UPSERT_ATTEMPTS, lost_unique_race, retry};
use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::http::{PageRequest, ResourceId};

/// Creates or replaces a product with its variants; `true` when it was created.
pub async fn upsert(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    id: &ResourceId,
    spec: &ProductSpec,
) -> Result<Changed<(bool, ProductView)>, Error> {
    // A concurrent writer took the id, class or a SKU: the second pass sees it and answers 409 or updates.
    retry(UPSERT_ATTEMPTS, lost_unique_race, || try_upsert(db, tenant, id.as_str(), spec)).await
}

fn variant_models(tenant: &TenantScope, id: &str, spec: &ProductSpec) -> Vec<variant::Model> {
    spec.variants
        .iter()
        .enumerate()
        .map(|(position, v)| variant::Model {
            tenant_id: tenant.as_str().to_owned(),
            product_id: id.to_owned(),
            sku: v.sku.clone(),
            label: v.label.trim().to_owned(),
            size: v.size.as_deref().map(|s| s.trim().to_owned()),
            unit_price_cents: usd_to_cents(v.unit_price_usd).unwrap_or_default(),
            position: position as i32,
        })
        .collect()
}

async fn check_conflicts(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    id: &str,
    spec: &ProductSpec,
) -> Result<(), Error> {
    let class_owner = tenant
        .find::<product::Entity>()
        .filter(product::Column::ObjectClass.eq(spec.object_class.as_str()))
        .filter(product::Column::Id.ne(id))
        .one(db)
        .await?;
    let skus: Vec<&str> = spec.variants.iter().map(|v| v.sku.as_str()).collect();
    let sku_owner = tenant
        .find::<variant::Entity>()
        .filter(variant::Column::Sku.is_in(skus))
        .filter(variant::Column::ProductId.ne(id))
        .one(db)
        .await?;
    let (kind, detail) = match (class_owner, sku_owner) {
        (Some(other), _) => {
            ("object-class-taken", format!("object_class {} already maps to product {}", spec.object_class, other.id))
        }
        (None, Some(other)) => {
            ("sku-taken", format!("sku {} already belongs to product {}", other.sku, other.product_id))
        }
        (None, None) => return Ok(()),
    };
    Err(Error::Conflict { kind, detail })
}

async fn try_upsert(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    id: &str,
    spec: &ProductSpec,
) -> Result<Changed<(bool, ProductView)>, Error> {
    let txn = crate::db::begin_write(db).await?;
    check_conflicts(&txn, tenant, id, spec).await?;
    let desired_variants = variant_models(tenant, id, spec);
    let display_name = spec.display_name.trim().to_owned();
    let threshold = spec.reorder_threshold.as_str().to_owned();
    let now = now();
    let existing = tenant.find::<product::Entity>().filter(product::Column::Id.eq(id)).one(&txn).await?;
    let created = existing.is_none();
    let model = match existing {
        None => {
            product::ActiveModel {
                tenant_id: Set(tenant.as_str().to_owned()),
                id: Set(id.to_owned()),
                object_class: Set(spec.object_class.clone()),
                display_name: Set(display_name),
                reorder_threshold: Set(threshold),
                default_sku: Set(spec.default_sku.clone()),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?
        }
        Some(current) => {
            let mut stored_variants = variants_of(&txn, tenant, &[id.to_owned()]).await?.remove(id).unwrap_or_default();
            stored_variants.sort_by_key(|v| v.position);
            let unchanged = current.object_class == spec.object_class
                && current.display_name == display_name
                && current.reorder_threshold == threshold
                && current.default_sku == spec.default_sku
                && stored_variants == desired_variants;
            if unchanged {
                txn.commit().await?;
                return Ok(Changed::new((false, ProductView::from_models(&current, stored_variants)?), Vec::new()));
            }
            let mut active: product::ActiveModel = current.into();
            active.object_class = Set(spec.object_class.clone());
            active.display_name = Set(display_name);
            active.reorder_threshold = Set(threshold);
            active.default_sku = Set(spec.default_sku.clone());
            active.updated_at = Set(now);
            let model = active.update(&txn).await?;
            tenant.delete::<variant::Entity>().filter(variant::Column::ProductId.eq(id)).exec(&txn).await?;
            model
        }
    };
    let rows: Vec<variant::ActiveModel> = desired_variants.iter().cloned().map(Into::into).collect();
    variant::Entity::insert_many(rows).exec(&txn).await?;
    let changes = vec![Change::Catalog { tenant: tenant.to_string() }];
    announce(&txn, &changes).await?;
    txn.commit().await?;
    Ok(Changed::new((created, ProductView::from_models(&model, desired_variants)?), changes))
}

/// Variants of the given products, grouped by product id.
async fn variants_of(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    ids: &[String],
) -> Result<HashMap<String, Vec<variant::Model>>, Error> {
    let rows = tenant
        .find::<variant::Entity>()
        .filter(variant::Column::ProductId.is_in(ids.iter().map(String::as_str)))
        .all(db)
        .await?;
    let mut grouped: HashMap<String, Vec<variant::Model>> = HashMap::new();
    for row in rows {
        grouped.entry(row.product_id.clone()).or_default().push(row);
    }
    Ok(grouped)
}

/// One product of the tenant.
pub async fn get(db: &DatabaseConnection, tenant: &TenantScope, id: &ResourceId) -> Result<ProductView, Error> {
    let model = tenant
        .find::<product::Entity>()
        .filter(product::Column::Id.eq(id.as_str()))
        .one(db)
        .await?
        .ok_or(Error::NotFound("product"))?;
    let variants =
        variants_of(db, tenant, std::slice::from_ref(&model.id)).await?.remove(&model.id).unwrap_or_default();
    ProductView::from_models(&model, variants)
}

/// A page of the tenant's products with their variants, ordered by id.
pub async fn list(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    page: &PageRequest,
) -> Result<Vec<ProductView>, Error> {
    let mut query = tenant.find::<product::Entity>().order_by_asc(product::Column::Id);
    if let Some(after) = &page.after {
        query = query.filter(product::Column::Id.gt(after.as_str()));
    }
    let products = query.limit(page.limit + 1).all(db).await?;
    let ids: Vec<String> = products.iter().map(|p| p.id.clone()).collect();
    let mut variants = variants_of(db, tenant, &ids).await?;
    products.iter().map(|p| ProductView::from_models(p, variants.remove(&p.id).unwrap_or_default())).collect()
}

/// Deletes a product and its variants.
pub async fn delete(db: &DatabaseConnection, tenant: &TenantScope, id: &ResourceId) -> Result<Changed<()>, Error> {
    let txn = crate::db::begin_write(db).await?;
    tenant.delete::<variant::Entity>().filter(variant::Column::ProductId.eq(id.as_str())).exec(&txn).await?;
    let deleted = tenant.delete::<product::Entity>().filter(product::Column::Id.eq(id.as_str())).exec(&txn).await?;
    if deleted.rows_affected == 0 {
        return Err(Error::NotFound("product"));
    }
    let changes = vec![Change::Catalog { tenant: tenant.to_string() }];
    announce(&txn, &changes).await?;
    txn.commit().await?;
    Ok(Changed::new((), changes))
}
