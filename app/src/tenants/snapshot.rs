//! What the detection path knows of a tenant: its limits in force and its
//! catalog by object class.

use std::collections::HashMap;

use crate::catalog::model::FillLevel;
use crate::tenants::model::EffectiveLimits;

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
    /// Limits in force.
    pub limits: EffectiveLimits,
    /// Products by object class.
    pub catalog: HashMap<String, CatalogEntry>,
}
