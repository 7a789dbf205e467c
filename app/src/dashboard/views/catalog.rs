//! The catalog, read-only: products and their variants.

use maud::{Markup, html};

use crate::catalog::model::ProductView;

/// The catalog page's body.
pub fn body(products: &[ProductView], next: Option<String>) -> Markup {
    html! {
        @if products.is_empty() {
            p { "No products yet. Add them with " code { "PUT /api/v1/products/{id}" } "." }
        } @else {
            div.scroll tabindex="0" role="region" aria-label="Scrollable table" {
                table #products {
                    caption { "Products and their variants" }
                    thead {
                        tr {
                            th scope="col" { "Product" } th scope="col" { "Object class" }
                            th scope="col" { "Reorder at" } th scope="col" { "Variants (default first)" }
                        }
                    }
                    tbody {
                        @for p in products {
                            tr {
                                th scope="row" { (p.display_name) br; small { (p.product_id) } }
                                td { (p.object_class) }
                                td { (p.reorder_threshold.as_str()) }
                                td {
                                    ul.variants {
                                        @for v in p.variants.iter().filter(|v| v.sku == p.default_sku).chain(p.variants.iter().filter(|v| v.sku != p.default_sku)) {
                                            li {
                                                (v.label) " — " code { (v.sku) } " — " (super::usd(v.unit_price_usd))
                                                @if let Some(size) = &v.size { " (" (size) ")" }
                                                @if v.sku == p.default_sku { " " span.badge { "default" } }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next { p { a href=(next) { "Next page" } } }
    }
}
