//! The app's admin API over HTTP: the only way the operator touches the app.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Body of `PUT /admin/v1/tenants/{tenant}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantRequest {
    /// Name shown to people.
    pub display_name: String,
    /// `starter`, `growth` or `enterprise`.
    pub plan: String,
    /// Limit overrides; absent fields keep the app's plan defaults.
    pub limits: LimitsRequest,
}

/// The app's limit overrides (snake_case, absent means "plan default").
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LimitsRequest {
    /// Requests per minute per device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_per_minute: Option<u32>,
    /// Requests per second for the whole tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_per_second: Option<u32>,
    /// Daily order budget per device owner, in USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_order_budget_usd: Option<f64>,
    /// Seconds between prompts for one product on one device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown_seconds: Option<u32>,
}

/// Body of `PUT /admin/v1/tenants/{tenant}/devices/{device}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceRequest {
    /// Store the device orders from.
    pub store: String,
    /// Hardware model.
    pub model: String,
    /// Hardware serial number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Wearer or household.
    pub owner: String,
}

/// What the app says about a tenant (the fields the operator reads).
#[derive(Debug, Clone, Deserialize)]
pub struct TenantView {
    /// Tenant id.
    pub tenant_id: String,
    /// `starter`, `growth` or `enterprise`.
    pub plan: String,
    /// `active` or `deactivated`.
    pub status: String,
    /// The limits in force, as the app reports them.
    pub effective_limits: serde_json::Value,
    /// The API key: only in the response that issued it.
    #[serde(default)]
    pub api_key: Option<String>,
}

/// What the app says about a device (the fields the operator reads).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceView {
    /// Device id.
    pub device_id: String,
    /// `active` or `revoked`.
    pub status: String,
    /// Registration time (RFC 3339).
    pub created_at: String,
    /// The token: only in the response that issued it.
    #[serde(default)]
    pub token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RotatedKey {
    api_key: String,
}

#[derive(Debug, Default, Deserialize)]
struct Problem {
    #[serde(rename = "type", default)]
    type_: String,
    #[serde(default)]
    detail: String,
}

/// A client of the app's admin API.
#[derive(Clone)]
pub struct AppClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
}

impl std::fmt::Debug for AppClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl AppClient {
    /// A client for the app at `base` (e.g. `http://replenish:8080`) using the admin `token`.
    pub fn new(base: &str, token: SecretString) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), token })
    }

    /// Creates, updates or reactivates a tenant. The key is `Some` when the app issued one
    /// (creation or reactivation): it is shown this once.
    pub async fn put_tenant(&self, tenant: &str, request: &TenantRequest) -> Result<TenantView> {
        let path = format!("/admin/v1/tenants/{tenant}");
        let response = self.send("put tenant", Method::PUT, &path, Some(request)).await?;
        parse("put tenant", response).await
    }

    /// Reads a tenant; `None` when the app does not know it.
    pub async fn get_tenant(&self, tenant: &str) -> Result<Option<TenantView>> {
        let path = format!("/admin/v1/tenants/{tenant}");
        match self.send::<()>("get tenant", Method::GET, &path, None).await {
            Ok(response) => parse("get tenant", response).await.map(Some),
            Err(Error::AppRejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Issues a new API key; the previous ones stop at once.
    pub async fn rotate_api_key(&self, tenant: &str) -> Result<String> {
        let path = format!("/admin/v1/tenants/{tenant}/api-keys");
        let response = self.send::<()>("rotate api key", Method::POST, &path, None).await?;
        Ok(parse::<RotatedKey>("rotate api key", response).await?.api_key)
    }

    /// Deactivates a tenant (idempotent); a tenant the app never knew counts as done.
    pub async fn deactivate_tenant(&self, tenant: &str) -> Result<()> {
        let path = format!("/admin/v1/tenants/{tenant}");
        match self.send::<()>("deactivate tenant", Method::DELETE, &path, None).await {
            Ok(_) | Err(Error::AppRejected { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Registers or updates a device. The token is `Some` when the app issued one.
    pub async fn put_device(&self, tenant: &str, device: &str, request: &DeviceRequest) -> Result<DeviceView> {
        let path = format!("/admin/v1/tenants/{tenant}/devices/{device}");
        let response = self.send("put device", Method::PUT, &path, Some(request)).await?;
        parse("put device", response).await
    }

    /// Revokes a device's token (idempotent); an unknown device or tenant counts as done.
    pub async fn revoke_device(&self, tenant: &str, device: &str) -> Result<()> {
        let path = format!("/admin/v1/tenants/{tenant}/devices/{device}");
        match self.send::<()>("revoke device", Method::DELETE, &path, None).await {
            Ok(_) | Err(Error::AppRejected { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn send<B: Serialize>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response> {
        let mut request =
            self.http.request(method, format!("{}{path}", self.base)).bearer_auth(self.token.expose_secret());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| Error::AppUnavailable(format!("{operation}: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Error::AppUnavailable(format!("{operation}: {status}: {text}")));
        }
        let problem: Problem = serde_json::from_str(&text).unwrap_or_default();
        Err(Error::AppRejected {
            operation,
            status: status.as_u16(),
            problem: problem.type_.rsplit('/').next().unwrap_or_default().to_owned(),
            detail: if problem.detail.is_empty() { text } else { problem.detail },
        })
    }
}

async fn parse<T: serde::de::DeserializeOwned>(operation: &'static str, response: reqwest::Response) -> Result<T> {
    let bytes = response.bytes().await.map_err(|e| Error::AppUnavailable(format!("{operation}: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::AppProtocol(format!("{operation}: {e}")))
}
