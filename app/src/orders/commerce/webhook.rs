//! The `webhook` provider: each order is POSTed as JSON to the merchant's
//! URL, signed (`Replenish-Signature`, see `crate::signing`) and with
//! `Idempotency-Key: <order id>`; cancellations go to its `cancel_url` with
//! `Idempotency-Key: cancel-<order id>`. The merchant's guide is README's
//! "Merchant integration guide".

use std::time::Duration;

use chrono::{DateTime, Utc};
use commerce_http::{Response, StatusCode};
use futures_util::future::BoxFuture;
use serde::Deserialize;

use crate::orders::commerce::{CancelRequest, CommerceError, CommerceProvider, Confirmation, OrderRequest, Remote};

/// What a merchant may answer with a 2xx; every field is optional.
#[derive(Debug, Default, Deserialize)]
struct Acknowledgement {
    #[serde(default, alias = "provider_ref")]
    provider_order_id: Option<String>,
    #[serde(default)]
    eta: Option<String>,
}

/// What a merchant may answer with a refusal.
#[derive(Debug, Default, Deserialize)]
struct Refusal {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

/// The longest refusal reason kept from a merchant's answer.
const MAX_REASON_CHARS: usize = 200;

/// A merchant's endpoint. Without a secret (the deprecated `http` provider)
/// calls go unsigned; without a `cancel_url` a cancellation needs no call.
pub struct WebhookProvider {
    /// Client, URL policy and clock.
    pub remote: Remote,
    /// Where orders go.
    pub url: String,
    /// Where cancellations go.
    pub cancel_url: Option<String>,
    /// The store's signing secret.
    pub secret: Option<String>,
}

impl WebhookProvider {
    /// POSTs `body`, signed, with `key` as the idempotency key.
    async fn post(&self, url: &str, key: &str, body: Vec<u8>) -> Result<Response, CommerceError> {
        // The resolver guards names; this guards the scheme and IP literals,
        // which reach no resolver. Not a refusal: the merchant may fix the URL
        // before the retry horizon.
        let url =
            self.remote.urls.check_shape(url).map_err(|reason| CommerceError::Unreachable(format!("URL {reason}")))?;
        let mut request = self
            .remote
            .client
            .post(url)
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .header("user-agent", concat!("replenish/", env!("CARGO_PKG_VERSION")));
        if let Some(secret) = &self.secret {
            let signature = crate::signing::sign(secret.as_bytes(), self.remote.clock.now().timestamp(), &body);
            request = request.header(crate::signing::HEADER, signature);
        }
        request.body(body).send().await.map_err(|e| CommerceError::Unreachable(e.without_url().to_string()))
    }

    async fn place(&self, request: &OrderRequest) -> Result<Confirmation, CommerceError> {
        let body = serde_json::to_vec(request)
            .map_err(|e| CommerceError::Unreachable(format!("order does not serialize: {e}")))?;
        let response = self.post(&self.url, &request.order_id.to_string(), body).await?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let bytes = response.bytes().await.unwrap_or_default();
        judge(status, retry_after, &bytes)?;
        // A 2xx is the confirmation; its body only adds detail.
        let ack: Acknowledgement = serde_json::from_slice(&bytes).unwrap_or_default();
        Ok(Confirmation { provider_ref: ack.provider_order_id, eta: ack.eta })
    }

    async fn call_cancel(&self, request: &CancelRequest) -> Result<(), CommerceError> {
        let Some(url) = &self.cancel_url else {
            // Nothing to call (the deprecated `http` provider, or no cancel_url):
            // the merchant learns of it through the order status API.
            return Ok(());
        };
        let body = serde_json::json!({
            "order_id": request.order_id,
            "provider_order_id": request.provider_ref,
            "reason": request.reason,
        });
        let key = format!("cancel-{}", request.order_id);
        let response = self.post(url, &key, body.to_string().into_bytes()).await?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let bytes = response.bytes().await.unwrap_or_default();
        judge(status, retry_after, &bytes)
    }
}

/// Sorts a merchant's answer: 2xx is Ok; another 4xx but 408, 409 and 429 is
/// a definite refusal (with the merchant's reason); anything else leaves the
/// outcome unknown.
fn judge(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Result<(), CommerceError> {
    if status.is_success() {
        return Ok(());
    }
    let code = status.as_u16();
    if status.is_client_error() && !matches!(code, 408 | 409 | 429) {
        let refusal: Refusal = serde_json::from_slice(body).unwrap_or_default();
        let reason = refusal.reason.or(refusal.detail).unwrap_or_else(|| format!("HTTP {code}"));
        return Err(CommerceError::Refused(reason.chars().take(MAX_REASON_CHARS).collect()));
    }
    match retry_after {
        Some(after) => Err(CommerceError::RetryAfter(after)),
        None => Err(CommerceError::Unreachable(format!("HTTP {code}"))),
    }
}

/// A `Retry-After` header: seconds, or an HTTP date.
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.to_utc();
    // A date in the past means "now".
    Some((at - Utc::now()).to_std().unwrap_or_default())
}

impl CommerceProvider for WebhookProvider {
    fn submit<'a>(&'a self, request: &'a OrderRequest) -> BoxFuture<'a, Result<Confirmation, CommerceError>> {
        Box::pin(self.place(request))
    }

    fn cancel<'a>(&'a self, request: &'a CancelRequest) -> BoxFuture<'a, Result<(), CommerceError>> {
        Box::pin(self.call_cancel(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted() {
        let ok = judge(StatusCode::CREATED, None, b"");
        assert!(ok.is_ok());
        let refused = judge(StatusCode::UNPROCESSABLE_ENTITY, None, br#"{"reason":"out of stock"}"#);
        assert!(matches!(refused, Err(CommerceError::Refused(r)) if r == "out of stock"));
        for unknown in [408, 409, 429, 500, 503] {
            let status = StatusCode::from_u16(unknown).unwrap_or(StatusCode::IM_A_TEAPOT);
            let judged = judge(status, None, b"");
            assert!(matches!(judged, Err(CommerceError::Unreachable(_))), "{unknown}");
        }
        let throttled = judge(StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(7)), b"");
        assert!(matches!(throttled, Err(CommerceError::RetryAfter(d)) if d == Duration::from_secs(7)));
    }
}
