//! Commerce providers: who actually places an order. `mock` answers in
//! process; `webhook` (and its deprecated unsigned form `http`) POSTs to the
//! merchant's endpoint.

mod mock;
mod webhook;

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::clock::Clock;
use crate::outbound::UrlPolicy;
use crate::stores::model::{CommerceProviderKind, CommerceSettings};

pub use mock::MockProvider;
pub use webhook::WebhookProvider;

/// What a provider is asked to place; serialized as is, it is the webhook's
/// order payload (README, "Merchant integration guide").
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrderRequest {
    /// Our order id: the provider's idempotency key, so a retry never orders twice.
    pub order_id: Uuid,
    /// The accepted intent.
    pub intent_id: Uuid,
    /// Product ordered.
    pub product_id: String,
    /// The SKU's label, e.g. `1 L`.
    pub variant: String,
    /// SKU to order.
    pub sku: String,
    /// Quantity.
    pub quantity: u32,
    /// Price of one, in cents.
    pub unit_price_cents: i64,
    /// Total in cents.
    pub total_cents: i64,
    /// ISO 4217 currency of the amounts.
    pub currency: String,
    /// Device whose wearer accepted.
    pub device_id: String,
    /// Household that pays.
    pub owner: String,
    /// Store that fulfils it.
    pub store_id: String,
    /// Store's IANA time zone, for delivery dates (the mock's; not sent to merchants).
    #[serde(skip)]
    pub timezone: String,
    /// When the wearer accepted.
    pub placed_at: DateTime<Utc>,
    /// A rehearsal order of a test device: the merchant must not fulfil it.
    pub test: bool,
}

/// A provider's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The provider's order reference, when it gave one.
    pub provider_ref: Option<String>,
    /// Expected delivery date, `YYYY-MM-DD`, when it gave one.
    pub eta: Option<String>,
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

/// Why a provider did not confirm.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommerceError {
    /// The provider said no: a definite answer, the order is FAILED and refunded.
    #[error("provider refused the order: {0}")]
    Refused(String),
    /// The provider did not answer in time: it may have placed the order.
    #[error("provider did not answer within {0:?}")]
    Timeout(Duration),
    /// No usable answer (connection error, 5xx, 408, an unreadable
    /// confirmation): it may have placed the order.
    #[error("provider unreachable: {0}")]
    Unreachable(String),
    /// The provider asked to be called again later (429 or 503 with
    /// `Retry-After`); it did not place the order, but it is asked again, not failed.
    #[error("provider asked to retry after {0:?}")]
    RetryAfter(Duration),
}

impl CommerceError {
    /// Whether the provider definitely did not place the order. Only then may
    /// the order fail and its budget come back; anything else is unknown and
    /// is asked again under the same idempotency key.
    pub fn is_definite(&self) -> bool {
        matches!(self, CommerceError::Refused(_))
    }

    /// How long the provider asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CommerceError::RetryAfter(after) => Some(*after),
            _ => None,
        }
    }
}

/// A commerce integration. Implementations must treat `order_id` as an
/// idempotency key: the same id submitted twice is one order.
pub trait CommerceProvider: Send + Sync {
    /// Places (or looks up) the order.
    fn submit<'a>(&'a self, request: &'a OrderRequest) -> BoxFuture<'a, Result<Confirmation, CommerceError>>;
    /// Cancels an order the provider may have placed; Ok when it is (or already was) cancelled.
    fn cancel<'a>(&'a self, request: &'a CancelRequest) -> BoxFuture<'a, Result<(), CommerceError>>;
}

/// Whether orders of this provider leave the process (and so go through the
/// store's concurrency bound, rate limit and circuit breaker).
pub fn is_remote(kind: CommerceProviderKind) -> bool {
    !matches!(kind, CommerceProviderKind::Mock)
}

/// What remote providers share: the client, which URLs it may call, and the
/// clock their signatures carry.
#[derive(Clone)]
pub struct Remote {
    /// The client (see [`UrlPolicy::client`]).
    pub client: commerce_http::Client,
    /// Which merchant URLs may be called, checked again before every call.
    pub urls: UrlPolicy,
    /// The time signatures carry.
    pub clock: Clock,
}

impl Remote {
    /// Remote calls under `urls`, signed with `clock`'s time.
    pub fn new(urls: UrlPolicy, clock: Clock) -> Self {
        Self { client: urls.client(), urls, clock }
    }
}

/// The provider a store's settings name.
pub fn provider_for(settings: &CommerceSettings, remote: &Remote) -> Box<dyn CommerceProvider> {
    let webhook = |url: &Option<String>, cancel_url: Option<String>, secret: Option<String>| WebhookProvider {
        remote: remote.clone(),
        url: url.clone().unwrap_or_default(),
        cancel_url,
        secret,
    };
    match settings.provider {
        CommerceProviderKind::Mock => Box::new(MockProvider { outcome: settings.mock_outcome }),
        CommerceProviderKind::Http => Box::new(webhook(&settings.endpoint, None, None)),
        CommerceProviderKind::Webhook => {
            Box::new(webhook(&settings.url, settings.cancel_url.clone(), settings.secret.clone()))
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

/// Cancels with a deadline: a provider that hangs becomes [`CommerceError::Timeout`].
pub async fn cancel_with_timeout(
    provider: &dyn CommerceProvider,
    request: &CancelRequest,
    timeout: Duration,
) -> Result<(), CommerceError> {
    match tokio::time::timeout(timeout, provider.cancel(request)).await {
        Ok(result) => result,
        Err(_) => Err(CommerceError::Timeout(timeout)),
    }
}
