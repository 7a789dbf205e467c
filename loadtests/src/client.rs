//! Provisioning and read-back through the admin and merchant APIs.

use replenish_api::{
    CommerceProviderKind, CommerceSettings, DeviceBatch, FillLevel, NewDevice, Page, Plan, ProductSpec, ProductView,
    RegisteredBatch, ResourceId, StoreSpec, Summary, TenantLimits, TenantSpec, TenantView, Variant,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::{RunConfig, Target};
use crate::error::{Error, Result};

/// The catalog every simulated fleet orders from: (product id, object class, SKU, price).
pub const CATALOG: [(&str, &str, &str, f64); 3] = [
    ("load-water", "water_bottle", "LOAD-WATER-24", 12.99),
    ("load-soap", "soap_dispenser", "LOAD-SOAP-1L", 4.99),
    ("load-sunscreen", "sunscreen", "LOAD-SUN-SPF50", 14.50),
];

/// The store the fleet belongs to.
pub const STORE: &str = "load-store";

/// A registered device and its token.
#[derive(Debug, Clone)]
pub struct Device {
    /// Device id (unique per run: it carries the run's prefix).
    pub id: String,
    /// Its bearer token.
    pub token: String,
}

/// What provisioning produced.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// Tenant id, when this run created it.
    pub tenant: Option<String>,
    /// The merchant API key.
    pub api_key: String,
    /// Prefix of every device id of this run.
    pub device_prefix: String,
    /// The devices.
    pub devices: Vec<Device>,
}

/// A thin JSON client for one deployment.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

fn excerpt(body: &str) -> String {
    body.chars().take(300).collect()
}

impl Api {
    /// A client for `base` (no trailing slash) sharing `http`'s connection pool.
    pub fn new(base: &str, http: reqwest::Client) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), http }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The underlying HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends one call and returns its status and JSON body (Null when not JSON).
    pub async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&B>,
    ) -> Result<(u16, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(excerpt(&text)))))
    }

    /// Sends one call expecting one of the `ok` statuses and an answer of type `T`.
    async fn expect<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&B>,
        ok: &[u16],
    ) -> Result<T> {
        let call = format!("{method} {path}");
        let (status, value) = self.call(method, path, token, body).await?;
        if !ok.contains(&status) {
            return Err(Error::Status { call, status, body: excerpt(&value.to_string()) });
        }
        serde_json::from_value(value).map_err(|e| Error::Shape { call, detail: e.to_string() })
    }

    /// Creates the run's tenant, store, catalog and devices.
    pub async fn provision(&self, config: &RunConfig) -> Result<Fleet> {
        let Target { admin_token, api_key, tenant, .. } = &config.target;
        let (tenant, api_key) = match (api_key, admin_token) {
            (Some(key), _) => (None, key.clone()),
            (None, Some(admin)) => (Some(tenant.clone()), self.create_tenant(admin, tenant, config).await?),
            (None, None) => return Err(Error::Config("an admin token or an API key is needed".into())),
        };
        let store = StoreSpec {
            name: "Load test store".into(),
            timezone: "UTC".into(),
            commerce: CommerceSettings::of(CommerceProviderKind::Mock),
        };
        let path = format!("/api/v1/stores/{STORE}");
        self.expect::<_, Value>(Method::PUT, &path, &api_key, Some(&store), &[200, 201]).await?;
        // An existing tenant may already map the reference object classes to
        // products of its own (the demo's catalog does): the fleet only needs
        // some product per class, and a second one would be a 409.
        let existing: Vec<ProductView> = self.list_all("/api/v1/products", &api_key).await?;
        for (id, class, sku, price) in CATALOG {
            if existing.iter().any(|p| p.object_class == class && p.product_id != id) {
                continue;
            }
            let product = ProductSpec {
                object_class: class.into(),
                display_name: id.into(),
                reorder_threshold: FillLevel::Low,
                default_sku: sku.into(),
                variants: vec![Variant {
                    sku: sku.into(),
                    label: format!("{id} pack"),
                    size: None,
                    unit_price_usd: price,
                }],
            };
            let path = format!("/api/v1/products/{id}");
            self.expect::<_, Value>(Method::PUT, &path, &api_key, Some(&product), &[200, 201]).await?;
        }
        // A run-unique prefix keeps this run's devices (and so its orders) apart from earlier runs on the same tenant.
        let device_prefix = format!("ld{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let mut devices = Vec::with_capacity(config.devices);
        let ids: Vec<usize> = (0..config.devices).collect();
        let id = |value: String| ResourceId::parse(&value).map_err(|e| Error::Config(e.to_string()));
        for chunk in ids.chunks(1000) {
            let batch = DeviceBatch {
                devices: chunk
                    .iter()
                    .map(|i| {
                        Ok(NewDevice {
                            device_id: id(format!("{device_prefix}-{i}"))?,
                            store: id(STORE.to_owned())?,
                            owner: format!("{device_prefix}-owner-{i}"),
                            model: "spectacles-5".into(),
                            serial: None,
                            test: false,
                        })
                    })
                    .collect::<Result<_>>()?,
            };
            let registered: RegisteredBatch =
                self.expect(Method::POST, "/api/v1/devices:batch", &api_key, Some(&batch), &[200, 201]).await?;
            for device in registered.devices {
                let token = device.token.ok_or_else(|| Error::Shape {
                    call: "POST /api/v1/devices:batch".into(),
                    detail: "device without token".into(),
                })?;
                devices.push(Device { id: device.device_id, token });
            }
        }
        Ok(Fleet { tenant, api_key, device_prefix, devices })
    }

    async fn create_tenant(&self, admin: &str, tenant: &str, config: &RunConfig) -> Result<String> {
        let body = TenantSpec {
            display_name: format!("Load test {tenant}"),
            plan: Plan::Enterprise,
            limits: TenantLimits {
                // The tenant limit is not under test here; the device limit is whatever the run asks for.
                tenant_per_second: Some(10_000_000),
                device_per_minute: Some(config.device_per_minute),
                cooldown_seconds: Some(config.cooldown_seconds),
                daily_order_budget_usd: Some(1_000_000.0),
                ..TenantLimits::default()
            },
        };
        let path = format!("/admin/v1/tenants/{tenant}");
        let created: TenantView =
            self.expect(Method::PUT, &path, admin, Some(&body), &[201]).await.map_err(|e| match e {
                Error::Status { status: 200, call, body } => {
                    Error::Status { call: format!("{call} (tenant exists; pass its --api-key)"), status: 200, body }
                }
                other => other,
            })?;
        created.api_key.ok_or_else(|| Error::Shape { call: path, detail: "no api_key in a 201".into() })
    }

    /// Deactivates `tenant` (`DELETE /admin/v1/tenants/{tenant}`): its API keys
    /// and device tokens are revoked; its data stays for audit.
    pub async fn deactivate_tenant(&self, admin: &str, tenant: &str) -> Result<()> {
        let path = format!("/admin/v1/tenants/{tenant}");
        let (status, value) = self.call(Method::DELETE, &path, admin, None::<&()>).await?;
        if !is_success(status) {
            return Err(Error::Status { call: format!("DELETE {path}"), status, body: excerpt(&value.to_string()) });
        }
        Ok(())
    }

    /// Deactivates the run's tenant, `created` as (tenant, admin token), unless
    /// `keep`; what became of it, for the report (None when the run created none).
    pub async fn clean_up(&self, created: Option<(String, String)>, keep: bool) -> Option<String> {
        let (tenant, admin) = created?;
        if keep {
            return Some("kept (--keep)".to_owned());
        }
        Some(match self.deactivate_tenant(&admin, &tenant).await {
            Ok(()) => "deactivated".to_owned(),
            Err(err) => format!("could not be deactivated: {err}"),
        })
    }

    /// Every item of a paginated merchant listing (`/api/v1/orders`, `/api/v1/intents`, `/api/v1/events?…`).
    pub async fn list_all<T: DeserializeOwned>(&self, path: &str, key: &str) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let joiner = if path.contains('?') { '&' } else { '?' };
            let mut url = format!("{path}{joiner}limit=500");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page: Page<T> = self.expect(Method::GET, &url, key, None::<&()>, &[200]).await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                Some(_) => {
                    return Err(Error::Shape {
                        call: format!("GET {path}"),
                        detail: "next_cursor did not advance".into(),
                    });
                }
                None => return Ok(items),
            }
        }
    }

    /// The tenant's funnel counts (`GET /api/v1/telemetry/summary`, last 24 h).
    pub async fn summary(&self, key: &str) -> Result<Summary> {
        self.expect(Method::GET, "/api/v1/telemetry/summary", key, None::<&()>, &[200]).await
    }
}

/// Whether a status is a success.
pub fn is_success(status: u16) -> bool {
    StatusCode::from_u16(status).is_ok_and(|s| s.is_success())
}
