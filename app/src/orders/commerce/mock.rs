//! The built-in provider, for demos, tests and test devices.

use chrono::{DateTime, Days, Utc};
use futures_util::future::BoxFuture;

use crate::orders::commerce::{CancelRequest, CommerceError, CommerceProvider, Confirmation, OrderRequest};
use crate::stores::model::MockOutcome;

/// Confirms with an ETA two days after the store-local order date, or fails
/// or hangs when the store's settings say so; cancels at once.
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
                    provider_ref: Some(format!("mock-{}", request.order_id.simple())),
                    eta: Some(Self::eta(request.placed_at, &request.timezone)),
                }),
                MockOutcome::Fail => Err(CommerceError::Refused("refused: the mock provider is set to fail".into())),
                MockOutcome::Timeout => std::future::pending().await,
            }
        })
    }

    fn cancel<'a>(&'a self, _: &'a CancelRequest) -> BoxFuture<'a, Result<(), CommerceError>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use uuid::Uuid;

    use super::*;
    use crate::orders::commerce::submit_with_timeout;

    fn request() -> OrderRequest {
        OrderRequest {
            order_id: Uuid::new_v4(),
            intent_id: Uuid::new_v4(),
            product_id: "water_bottle".into(),
            variant: "1 L".into(),
            sku: "W".into(),
            quantity: 1,
            unit_price_cents: 1299,
            total_cents: 1299,
            currency: "USD".into(),
            device_id: "d".into(),
            owner: "o".into(),
            store_id: "s".into(),
            timezone: "America/Los_Angeles".into(),
            // 2026-11-25 03:00 UTC is still the 24th in Los Angeles.
            placed_at: DateTime::parse_from_rfc3339("2026-11-25T03:00:00Z").map(|t| t.to_utc()).unwrap_or_default(),
            test: false,
        }
    }

    #[tokio::test]
    async fn mock_confirms_deterministically_in_store_time() {
        let req = request();
        let first = MockProvider::default().submit(&req).await;
        let second = MockProvider::default().submit(&req).await;
        assert_eq!(first.as_ref().ok(), second.as_ref().ok(), "same order id, same confirmation");
        assert_eq!(first.ok().and_then(|c| c.eta).as_deref(), Some("2026-11-26"));
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
