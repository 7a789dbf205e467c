//! Commerce providers: who actually places an order.

use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::stores::model::{CommerceProviderKind, CommerceSettings, MockOutcome};

/// What a provider is asked to do.
#[derive(Debug, Clone)]
pub struct OrderRequest {
    /// Our order id: the provider's idempotency key, so a retry never orders twice.
    pub order_id: Uuid,
    /// SKU to order.
    pub sku: String,
    /// Quantity.
    pub quantity: u32,
    /// Total in cents.
    pub total_cents: i64,
    /// Store's IANA time zone, for delivery dates.
    pub timezone: String,
    /// When the wearer accepted.
    pub placed_at: DateTime<Utc>,
}

/// A provider's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The provider's order reference.
    pub provider_ref: String,
    /// Expected delivery date, `YYYY-MM-DD`.
    pub eta: String,
}

/// Why a provider did not confirm.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommerceError {
    /// The provider said no: a definite answer, the order is FAILED and refunded.
    #[error("provider refused the order: {0}")]
    Refused(String),
    /// The provider did not answer in time: it may have placed the order.
    #[error("provider did not answer within {0:?}")]
    Timeout(Duration),
    /// No usable answer (connection error, 5xx, 408/429, an unreadable
    /// confirmation): it may have placed the order.
    #[error("provider unreachable: {0}")]
    Unreachable(String),
}

impl CommerceError {
    /// Whether the provider definitely did not place the order. Only then may
    /// the order fail and its budget come back; anything else is unknown and
    /// is asked again under the same idempotency key.
    pub fn is_definite(&self) -> bool {
        matches!(self, CommerceError::Refused(_))
    }
}

/// What a provider is asked to cancel.
#[derive(Debug, Clone)]
pub struct CancelRequest {
    /// Our order id (the idempotency key of the original submission).
    pub order_id: Uuid,
    /// The provider's reference, when it confirmed.
    pub provider_ref: Option<String>,
    /// Why (e.g. "wearer-cancelled").
    pub reason: String,
}

/// A commerce integration. Implementations must treat `order_id` as an
/// idempotency key: the same id submitted twice is one order.
pub trait CommerceProvider: Send + Sync {
    /// Places (or looks up) the order.
    fn submit<'a>(&'a self, request: &'a OrderRequest) -> BoxFuture<'a, Result<Confirmation, CommerceError>>;

    /// Cancels an order the provider may have placed; Ok when it is (or already was) cancelled.
    fn cancel<'a>(&'a self, request: &'a CancelRequest) -> BoxFuture<'a, Result<(), CommerceError>>;
}

/// The built-in provider: confirms with an ETA two days after the store-local
/// order date, or fails or hangs when the store's settings say so.
#[derive(Debug, Clone, Copy, Default)]
pub struct MockProvider {
    /// What to do with orders.
    pub outcome: MockOutcome,
}

impl MockProvider {
    /// The ETA the mock promises: two days after the store-local date of `placed_at`.
    pub fn eta(placed_at: DateTime<Utc>, timezone: &str) -> String {
        let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
        let local = placed_at.with_timezone(&tz).date_naive();
        local.checked_add_days(Days::new(2)).unwrap_or(local).format("%Y-%m-%d").to_string()
    }
}

impl CommerceProvider for MockProvider {
    fn submit<'a>(&'a self, request: &'a OrderRequest) -> BoxFuture<'a, Result<Confirmation, CommerceError>> {
        Box::pin(async move {
            match self.outcome {
                MockOutcome::Confirm => Ok(Confirmation {
                    provider_ref: format!("mock-{}", request.order_id.simple()),
                    eta: Self::eta(request.placed_at, &request.timezone),
                }),
                MockOutcome::Fail => Err(CommerceError::Refused("the mock provider is set to fail".into())),
                MockOutcome::Timeout => std::future::pending().await,
            }
        })
    }

    fn cancel<'a>(&'a self, _: &'a CancelRequest) -> BoxFuture<'a, Result<(), CommerceError>> {
        // The mock places nothing real, so any order is cancelled at once.
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A provider behind an HTTP endpoint: each order is POSTed as JSON with
/// header `Idempotency-Key: <order id>`. A 2xx with `{"provider_ref", "eta"}`
/// confirms; another 4xx (but 408 and 429) refuses; anything else is unknown.
pub struct HttpProvider {
    /// Shared client (connection pool); it follows no redirects.
    pub client: commerce_http::Client,
    /// Where orders go.
    pub endpoint: String,
}

#[derive(serde::Deserialize)]
struct HttpConfirmation {
    provider_ref: String,
    eta: String,
}

impl HttpProvider {
    /// A client for every store's `http` provider: no redirects, so a store's
    /// endpoint reaches only the host it names.
    pub fn client() -> commerce_http::Client {
        commerce_http::Client::builder().redirect(commerce_http::redirect::Policy::none()).build().unwrap_or_default()
    }

    async fn call(&self, request: &OrderRequest) -> Result<Confirmation, CommerceError> {
        let body = serde_json::json!({
            "order_id": request.order_id,
            "sku": request.sku,
            "quantity": request.quantity,
            "total_cents": request.total_cents,
            "timezone": request.timezone,
            "placed_at": request.placed_at,
        });
        let unreachable = |e: commerce_http::Error| CommerceError::Unreachable(e.without_url().to_string());
        let response = self
            .client
            .post(&self.endpoint)
            .header("idempotency-key", request.order_id.to_string())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
            return Err(CommerceError::Refused(format!("HTTP {}", status.as_u16())));
        }
        if !status.is_success() {
            return Err(CommerceError::Unreachable(format!("HTTP {}", status.as_u16())));
        }
        let bytes = response.bytes().await.map_err(unreachable)?;
        let answer: HttpConfirmation = serde_json::from_slice(&bytes)
            .map_err(|e| CommerceError::Unreachable(format!("unreadable confirmation: {e}")))?;
        Ok(Confirmation { provider_ref: answer.provider_ref, eta: answer.eta })
    }
}

impl CommerceProvider for HttpProvider {
    fn submit<'a>(&'a self, request: &'a OrderRequest) -> BoxFuture<'a, Result<Confirmation, CommerceError>> {
        Box::pin(self.call(request))
    }

    fn cancel<'a>(&'a self, _: &'a CancelRequest) -> BoxFuture<'a, Result<(), CommerceError>> {
        // The plain `http` provider has no cancel endpoint; the webhook provider cancels for real.
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The provider a store's settings name; `http` providers share `client`.
pub fn provider_for(settings: &CommerceSettings, client: &commerce_http::Client) -> Box<dyn CommerceProvider> {
    match settings.provider {
        CommerceProviderKind::Mock => Box::new(MockProvider { outcome: settings.mock_outcome }),
        CommerceProviderKind::Http => {
            Box::new(HttpProvider { client: client.clone(), endpoint: settings.endpoint.clone().unwrap_or_default() })
        }
    }
}

/// Submits with a deadline: a provider that hangs becomes [`CommerceError::Timeout`].
pub async fn submit_with_timeout(
    provider: &dyn CommerceProvider,
    request: &OrderRequest,
    timeout: Duration,
) -> Result<Confirmation, CommerceError> {
    match tokio::time::timeout(timeout, provider.submit(request)).await {
        Ok(result) => result,
        Err(_) => Err(CommerceError::Timeout(timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> OrderRequest {
        OrderRequest {
            order_id: Uuid::new_v4(),
            sku: "W".into(),
            quantity: 1,
            total_cents: 1299,
            timezone: "America/Los_Angeles".into(),
            // 2026-11-25 03:00 UTC is still the 24th in Los Angeles.
            placed_at: DateTime::parse_from_rfc3339("2026-11-25T03:00:00Z").map(|t| t.to_utc()).unwrap_or_default(),
        }
    }

    #[tokio::test]
    async fn mock_confirms_deterministically_in_store_time() {
        let req = request();
        let first = MockProvider::default().submit(&req).await;
        let second = MockProvider::default().submit(&req).await;
        assert_eq!(first.as_ref().ok(), second.as_ref().ok(), "same order id, same confirmation");
        assert_eq!(first.map(|c| c.eta).ok().as_deref(), Some("2026-11-26"));
    }

    #[tokio::test]
    async fn failing_and_hanging_providers_are_reported() {
        let req = request();
        let refused = MockProvider { outcome: MockOutcome::Fail }.submit(&req).await;
        assert!(matches!(refused, Err(CommerceError::Refused(_))));
        let hung =
            submit_with_timeout(&MockProvider { outcome: MockOutcome::Timeout }, &req, Duration::from_millis(20)).await;
        assert!(matches!(hung, Err(CommerceError::Timeout(_))));
    }
}
