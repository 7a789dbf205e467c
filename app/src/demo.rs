//! `replenish demo`: seeds tenant `demo` with the reference catalog.

use std::net::SocketAddr;

use sea_orm::DatabaseConnection;

use crate::catalog::model::{FillLevel, ProductSpec, Variant};
use crate::db::scope::TenantScope;
use crate::devices::model::DeviceSpec;
use crate::devices::repo::OnExisting;
use crate::error::Error;
use crate::http::ResourceId;
use crate::stores::model::{CommerceProviderKind, CommerceSettings, StoreSpec};
use crate::tenants::model::{Plan, RotateKeyRequest, TenantLimits, TenantSpec};
use crate::{catalog, devices, stores, tenants};

/// Fresh credentials for the demo tenant.
pub struct DemoCredentials {
    /// The tenant's API key.
    pub api_key: String,
    /// The demo device's token.
    pub device_token: String,
}

fn id(value: &str) -> Result<ResourceId, Error> {
    Ok(ResourceId::parse(value)?)
}

/// Seeds (or refreshes) tenant `demo`: store `demo-store`, the three products
/// of the design note and device `demo-glasses`. Running it again keeps the
/// data and issues fresh credentials, since stored ones exist only as hashes.
pub async fn seed(db: &DatabaseConnection) -> Result<DemoCredentials, Error> {
    let tenant = TenantScope::new(&id("demo")?);
    let spec = TenantSpec { display_name: "Demo Market".into(), plan: Plan::Starter, limits: TenantLimits::default() };
    let (_, view) = tenants::repo::upsert(db, &tenant, &spec).await?.into_value();
    let api_key = match view.api_key {
        Some(key) => key,
        None => {
            tenants::repo::rotate_api_key(db, &tenant, &RotateKeyRequest::default(), crate::db::now())
                .await?
                .into_value()
                .api_key
        }
    };
    let store = id("demo-store")?;
    let store_spec = StoreSpec {
        name: "Demo Store".into(),
        timezone: "America/Los_Angeles".into(),
        commerce: CommerceSettings::of(CommerceProviderKind::Mock),
    };
    stores::repo::upsert(db, &tenant, &store, &store_spec).await?;
    for (product, object_class, name, sku, label, size, price) in [
        ("spring-water", "water_bottle", "Spring Water", "WATER-24PK", "Spring Water 24-pack", "24 x 500 ml", 12.99),
        ("spf50-sunscreen", "sunscreen", "Sunscreen", "SPF50-200ML", "SPF 50 Sunscreen", "200 ml", 15.49),
        ("foaming-soap", "soap_dispenser", "Hand Soap", "SOAP-REFILL-1L", "Foaming Soap Refill", "1 l", 9.99),
    ] {
        let spec = ProductSpec {
            object_class: object_class.into(),
            display_name: name.into(),
            reorder_threshold: FillLevel::Low,
            default_sku: sku.into(),
            variants: vec![Variant {
                sku: sku.into(),
                label: label.into(),
                size: Some(size.into()),
                unit_price_usd: price,
            }],
        };
        catalog::repo::upsert(db, &tenant, &id(product)?, &spec).await?.into_value();
    }
    let device = id("demo-glasses")?;
    let device_spec = DeviceSpec {
        store: store.clone(),
        model: "spectacles-5".into(),
        serial: Some("DEMO-0001".into()),
        owner: "demo-household".into(),
        test: false,
    };
    // Revoke first so registration issues a fresh token the demo can print.
    if devices::repo::get(db, &tenant, &device).await.is_ok() {
        devices::repo::revoke(db, &tenant, &device).await?.into_value();
    }
    let (_, view) = devices::repo::register(db, &tenant, &device, &device_spec, OnExisting::Update).await?.into_value();
    let device_token = view.token.ok_or_else(|| Error::Internal("demo device got no token".into()))?;
    Ok(DemoCredentials { api_key, device_token })
}

/// What to print after seeding: credentials and the next commands to try.
pub fn instructions(credentials: &DemoCredentials, listen: SocketAddr) -> String {
    let base = format!("http://{listen}");
    let key = &credentials.api_key;
    let token = &credentials.device_token;
    format!(
        "Seeded tenant `demo` (store demo-store, 3 products, device demo-glasses).\n\
         These credentials are shown once; run `replenish demo` again for new ones.\n\n\
         export REPLENISH_API_KEY={key}\n\
         export REPLENISH_DEVICE_TOKEN={token}\n\n\
         Start the service (`cargo run -p replenish-app`), then open the merchant dashboard at\n\
         {base}/dashboard and sign in with REPLENISH_API_KEY, or try the API:\n\n\
         curl -s {base}/api/v1/products -H \"Authorization: Bearer $REPLENISH_API_KEY\"\n\
         curl -s {base}/api/v1/devices -H \"Authorization: Bearer $REPLENISH_API_KEY\"\n\
         curl -s {base}/api/v1/device -H \"Authorization: Bearer $REPLENISH_DEVICE_TOKEN\"\n\
         curl -s -X PUT {base}/api/v1/stores/downtown -H \"Authorization: Bearer $REPLENISH_API_KEY\" \\\n  \
         -H 'Content-Type: application/json' \\\n  \
         -d '{{\"name\":\"Downtown\",\"timezone\":\"America/New_York\",\"commerce\":{{\"provider\":\"mock\"}}}}'\n"
    )
}
