//! The app's admin API over HTTP: the only way the operator touches the app.
//!
//! Bodies and answers are the app's own types from `replenish_api`, so every limit the app
//! knows is sent and read back.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::error::{Error, Result};

pub use crate::desired::stores::StoreBody;
pub use crate::desired::webhooks::WebhookBody;
pub use replenish_api::webhooks::WebhookEndpointView;
pub use replenish_api::{
    DeviceSpec, DeviceStatus, DeviceView, Plan, Problem, RotatedKey, StoreView, TenantLimits, TenantSpec, TenantStatus,
    TenantView,
};

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
    pub async fn put_tenant(&self, tenant: &str, request: &TenantSpec) -> Result<TenantView> {
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
    pub async fn put_device(&self, tenant: &str, device: &str, request: &DeviceSpec) -> Result<DeviceView> {
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

    /// Creates or updates a store through the merchant API, as the tenant: `api_key` is the
    /// tenant's key (the admin token has no merchant routes).
    pub async fn put_store(&self, api_key: &str, store: &str, body: &StoreBody) -> Result<StoreView> {
        let path = format!("/api/v1/stores/{store}");
        let response = self.send_as("put store", api_key, Method::PUT, &path, Some(body)).await?;
        parse("put store", response).await
    }

    /// Creates or updates a webhook endpoint through the merchant API, as the tenant. The
    /// app treats the secret it already has as no change and a different one as a roll.
    pub async fn put_webhook_endpoint(
        &self,
        api_key: &str,
        endpoint: &str,
        body: &WebhookBody,
    ) -> Result<WebhookEndpointView> {
        let path = format!("/api/v1/webhook-endpoints/{endpoint}");
        let response = self.send_as("put webhook endpoint", api_key, Method::PUT, &path, Some(body)).await?;
        parse("put webhook endpoint", response).await
    }

    /// Deletes a webhook endpoint (idempotent); one the app does not know counts as done.
    pub async fn delete_webhook_endpoint(&self, api_key: &str, endpoint: &str) -> Result<()> {
        let path = format!("/api/v1/webhook-endpoints/{endpoint}");
        match self.send_as::<()>("delete webhook endpoint", api_key, Method::DELETE, &path, None).await {
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
        self.send_as(operation, self.token.expose_secret(), method, path, body).await
    }

    async fn send_as<B: Serialize>(
        &self,
        operation: &'static str,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token);
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
        let problem = serde_json::from_str::<Problem>(&text).ok();
        Err(Error::AppRejected {
            operation,
            status: status.as_u16(),
            problem: problem.as_ref().map(|p| p.kind().to_owned()).unwrap_or_default(),
            detail: match problem {
                Some(problem) if !problem.detail.is_empty() => with_fields(problem),
                _ => text,
            },
        })
    }
}

/// The problem's detail followed by its field errors (`commerce.secret: must be ...`), so
/// a condition says which field the app refused.
fn with_fields(problem: Problem) -> String {
    let fields: Vec<String> = problem.errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
    if fields.is_empty() { problem.detail } else { format!("{} ({})", problem.detail, fields.join("; ")) }
}

async fn parse<T: serde::de::DeserializeOwned>(operation: &'static str, response: reqwest::Response) -> Result<T> {
    let bytes = response.bytes().await.map_err(|e| Error::AppUnavailable(format!("{operation}: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::AppProtocol(format!("{operation}: {e}")))
}
