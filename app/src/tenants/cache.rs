//! A short-lived, per-replica snapshot of each tenant's limits and catalog,
//! so the detection path does not read them from the database every time.
//!
//! Changes made through this replica invalidate the snapshot at once; changes
//! made through another replica show after at most the TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::catalog::entity::{product, variant};
use crate::catalog::model::FillLevel;
use crate::error::Error;
use crate::tenants::entity::tenant;
use crate::tenants::model::{EffectiveLimits, Plan, TenantLimits};

/// What a detection needs to know about a product.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    /// Product id.
    pub product_id: String,
    /// Prompt at or below this fill level.
    pub threshold: FillLevel,
    /// Default SKU.
    pub sku: String,
    /// Its label.
    pub label: String,
    /// Its price in cents.
    pub unit_price_cents: i64,
}

/// A tenant's limits and catalog at one moment.
#[derive(Debug, Clone)]
pub struct TenantSnapshot {
    /// Whether the tenant is active.
    pub active: bool,
    /// Limits in force.
    pub limits: EffectiveLimits,
    /// Products by object class.
    pub catalog: HashMap<String, CatalogEntry>,
}

/// Snapshots by tenant id.
pub struct TenantCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<TenantSnapshot>)>>,
}

impl TenantCache {
    /// A cache whose snapshots live for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn fresh(&self, tenant: &str) -> Option<Arc<TenantSnapshot>> {
        let entries = self.entries.lock().ok()?;
        entries.get(tenant).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, s)| s.clone())
    }

    /// The tenant's snapshot, loading it when missing or stale.
    pub async fn get(&self, db: &DatabaseConnection, tenant: &str) -> Result<Arc<TenantSnapshot>, Error> {
        if let Some(snapshot) = self.fresh(tenant) {
            return Ok(snapshot);
        }
        let snapshot = Arc::new(load(db, tenant).await?);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(tenant.to_owned(), (Instant::now(), snapshot.clone()));
        }
        Ok(snapshot)
    }

    /// Forgets the tenant's snapshot after a change made through this replica.
    pub fn invalidate(&self, tenant: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(tenant);
        }
    }
}

async fn load(db: &DatabaseConnection, tenant_id: &str) -> Result<TenantSnapshot, Error> {
    let tenant = tenant::Entity::find_by_id(tenant_id).one(db).await?.ok_or(Error::NotFound("tenant"))?;
    let plan = Plan::parse(&tenant.plan)?;
    let overrides: TenantLimits = serde_json::from_str(&tenant.limits)
        .map_err(|e| Error::Internal(format!("stored limits of {tenant_id} do not parse: {e}")))?;
    let products = product::Entity::find().filter(product::Column::TenantId.eq(tenant_id)).all(db).await?;
    let variants = variant::Entity::find().filter(variant::Column::TenantId.eq(tenant_id)).all(db).await?;
    let mut catalog = HashMap::with_capacity(products.len());
    for p in products {
        let Some(v) = variants.iter().find(|v| v.product_id == p.id && v.sku == p.default_sku) else {
            continue;
        };
        catalog.insert(
            p.object_class.clone(),
            CatalogEntry {
                product_id: p.id.clone(),
                threshold: FillLevel::parse(&p.reorder_threshold)?,
                sku: v.sku.clone(),
                label: v.label.clone(),
                unit_price_cents: v.unit_price_cents,
            },
        );
    }
    Ok(TenantSnapshot { active: tenant.active, limits: overrides.effective(plan), catalog })
}
