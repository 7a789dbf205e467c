//! Products (merchant API): fill levels, variants, the product body and view.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::problem::{Invalid, Violations, text_ok};

/// How full a container looks, fullest first; the order is the comparison order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FillLevel {
    /// Full.
    Full,
    /// About half.
    Half,
    /// Low.
    Low,
    /// Nearly empty.
    NearlyEmpty,
    /// Empty.
    Empty,
}

wire_enum!(FillLevel, "fill level" {
    Full => "FULL", Half => "HALF", Low => "LOW", NearlyEmpty => "NEARLY_EMPTY", Empty => "EMPTY",
});

/// One purchasable variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Stock-keeping unit, 1-64 characters, unique within the tenant.
    pub sku: String,
    /// Name shown to people.
    pub label: String,
    /// Free-form size, e.g. `24 x 500 ml`.
    #[serde(default)]
    pub size: Option<String>,
    /// Price in USD with at most two decimals.
    pub unit_price_usd: f64,
}

/// Body of `PUT /api/v1/products/{product}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "object_class": "water_bottle",
    "display_name": "Spring water",
    "reorder_threshold": "LOW",
    "default_sku": "WTR-24x500",
    "variants": [
        {"sku": "WTR-24x500", "label": "Spring water 24 x 500 ml", "size": "24 x 500 ml", "unit_price_usd": 12.99}
    ]
})))]
pub struct ProductSpec {
    /// Detector class, `^[a-z][a-z0-9_]{0,63}$`, unique within the tenant.
    pub object_class: String,
    /// Name shown to people.
    pub display_name: String,
    /// A detection at or below this fill level may prompt.
    pub reorder_threshold: FillLevel,
    /// SKU ordered by default; must be one of `variants`.
    pub default_sku: String,
    /// 1-50 variants.
    pub variants: Vec<Variant>,
}

/// The price of `usd` in whole cents, if it has at most two decimals and is in range.
pub fn usd_to_cents(usd: f64) -> Option<i64> {
    if !usd.is_finite() || !(0.0..=1_000_000.0).contains(&usd) {
        return None;
    }
    let cents = (usd * 100.0).round();
    ((usd * 100.0 - cents).abs() < 1e-6).then_some(cents as i64)
}

impl ProductSpec {
    /// Checks the rules serde cannot express.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut v = Violations::default();
        let class_ok = self.object_class.len() <= 64
            && self.object_class.starts_with(|c: char| c.is_ascii_lowercase())
            && self.object_class.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        v.check(!class_ok, "object_class", "must match ^[a-z][a-z0-9_]{0,63}$");
        v.check(!text_ok(&self.display_name, 200), "display_name", "must be 1-200 characters, without NUL");
        v.check(!(1..=50).contains(&self.variants.len()), "variants", "must hold 1-50 variants");
        let mut seen = HashSet::new();
        for (i, variant) in self.variants.iter().enumerate() {
            let sku_ok =
                !variant.sku.is_empty() && variant.sku.len() <= 64 && variant.sku.chars().all(|c| c.is_ascii_graphic());
            v.check(!sku_ok, format!("variants[{i}].sku"), "must be 1-64 printable ASCII characters");
            v.check(!seen.insert(variant.sku.as_str()), format!("variants[{i}].sku"), "is repeated");
            v.check(
                !text_ok(&variant.label, 200),
                format!("variants[{i}].label"),
                "must be 1-200 characters, without NUL",
            );
            v.check(
                variant.size.as_deref().is_some_and(|s| !text_ok(s, 64)),
                format!("variants[{i}].size"),
                "must be 1-64 characters without NUL when given",
            );
            v.check(
                usd_to_cents(variant.unit_price_usd).is_none(),
                format!("variants[{i}].unit_price_usd"),
                "must be 0-1000000 with at most two decimals",
            );
        }
        v.check(
            !self.variants.iter().any(|variant| variant.sku == self.default_sku),
            "default_sku",
            "must be the sku of one of the variants",
        );
        v.finish()
    }
}

/// A product as the merchant API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "product_id": "water-bottle",
    "object_class": "water_bottle",
    "display_name": "Spring water",
    "reorder_threshold": "LOW",
    "default_sku": "WTR-24x500",
    "variants": [
        {"sku": "WTR-24x500", "label": "Spring water 24 x 500 ml", "size": "24 x 500 ml", "unit_price_usd": 12.99}
    ],
    "created_at": "2026-05-01T09:00:00Z",
    "updated_at": "2026-05-01T09:00:00Z"
})))]
pub struct ProductView {
    /// Product id.
    pub product_id: String,
    /// Detector class.
    pub object_class: String,
    /// Name shown to people.
    pub display_name: String,
    /// Prompt threshold.
    pub reorder_threshold: FillLevel,
    /// Default SKU.
    pub default_sku: String,
    /// Variants in submitted order.
    pub variants: Vec<Variant>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_levels_order_fullest_first() {
        assert!(FillLevel::Full < FillLevel::Half);
        assert!(FillLevel::NearlyEmpty < FillLevel::Empty);
        for level in FillLevel::ALL {
            assert_eq!(FillLevel::parse(level.as_str()).ok(), Some(*level));
        }
    }

    #[test]
    fn prices_need_whole_cents() {
        assert_eq!(usd_to_cents(12.99), Some(1299));
        assert_eq!(usd_to_cents(0.0), Some(0));
        assert_eq!(usd_to_cents(15.49), Some(1549));
        assert_eq!(usd_to_cents(1.005), None);
        assert_eq!(usd_to_cents(-1.0), None);
        assert_eq!(usd_to_cents(f64::NAN), None);
    }
}
