//! Commerce providers: who actually places an order.

use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::stores::model::{CommerceSettings, MockOutcome};

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
    /// The provider said no.
    #[error("provider refused the order: {0}")]
    Refused(String),
    /// The provider did not answer in time.
    #[error("provider did not answer within {0:?}")]
    Timeout(Duration),
}

/// A commerce integration. Implementations must treat `order_id` as an
/// idempotency key: the same id submitted twice is one order.
pub trait CommerceProvider: Send + Sync {
    /// Places (or looks up) the order.
    fn submit<'a>(&'a self, request: &'a OrderRequest) -> BoxFuture<'a, Result<Confirmation, CommerceError>>;
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
}

/// The provider a store's settings name.
pub fn provider_for(settings: &CommerceSettings) -> Box<dyn CommerceProvider> {
    match settings.provider {
        crate::stores::model::CommerceProviderKind::Mock => Box::new(MockProvider { outcome: settings.mock_outcome }),
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
