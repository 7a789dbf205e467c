//! What the merchant API says about products. The wire types live in
//! `replenish_api::catalog`; this module adds what needs the database.

use crate::catalog::entity::{product, variant};
use crate::error::Error;

pub use replenish_api::catalog::{FillLevel, ProductSpec, ProductView, Variant, usd_to_cents};

/// Builds the API view of a stored product.
pub trait ProductViewExt: Sized {
    /// Builds the view of a stored product and its variants (any order).
    fn from_models(product: &product::Model, variants: Vec<variant::Model>) -> Result<Self, Error>;
}

impl ProductViewExt for ProductView {
    fn from_models(product: &product::Model, mut variants: Vec<variant::Model>) -> Result<Self, Error> {
        variants.sort_by_key(|v| v.position);
        Ok(Self {
            product_id: product.id.clone(),
            object_class: product.object_class.clone(),
            display_name: product.display_name.clone(),
            reorder_threshold: FillLevel::parse(&product.reorder_threshold)?,
            default_sku: product.default_sku.clone(),
            variants: variants
                .into_iter()
                .map(|v| Variant {
                    sku: v.sku,
                    label: v.label,
                    size: v.size,
                    unit_price_usd: v.unit_price_cents as f64 / 100.0,
                })
                .collect(),
            created_at: product.created_at,
            updated_at: product.updated_at,
        })
    }
}
