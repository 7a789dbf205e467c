//! The endpoint service: creating and replacing endpoints, their signing
//! secrets (shown once, rolled with a grace period during which both sign)
//! and the view the API shows.

use chrono::{DateTime, Duration, Utc};
use rand::distr::{Alphanumeric, SampleString};
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};

use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::http::ResourceId;
use crate::webhooks::entity::endpoint;
use crate::webhooks::repo;
use replenish_api::EventType;
use replenish_api::webhooks::{DEFAULT_ROLL_GRACE_SECONDS, RollSecret, WebhookEndpointSpec, WebhookEndpointView};

/// Prefix of generated signing secrets, so a leaked one is recognisable.
const SECRET_PREFIX: &str = "whsec_";

/// A new random signing secret (~238 bits).
fn generate_secret() -> String {
    format!("{SECRET_PREFIX}{}", Alphanumeric.sample_string(&mut rand::rng(), 40))
}

/// First 8 hex digits of the secret's SHA-256: tells secrets apart without showing them.
pub fn fingerprint(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))[..8].to_owned()
}

/// The secrets that sign a delivery made at `now`: the current one, and the
/// previous one while its grace period lasts.
pub fn signing_secrets(row: &endpoint::Model, now: DateTime<Utc>) -> Vec<&str> {
    let mut secrets = vec![row.secret.as_str()];
    if let (Some(previous), Some(until)) = (&row.previous_secret, row.previous_secret_expires_at)
        && until > now
    {
        secrets.push(previous);
    }
    secrets
}

/// The event types an endpoint subscribes to.
pub fn subscribed(row: &endpoint::Model) -> Result<Vec<EventType>, Error> {
    serde_json::from_str(&row.event_types)
        .map_err(|e| Error::Internal(format!("stored event types of endpoint {} do not parse: {e}", row.id)))
}

/// The API view of a stored endpoint; `shown_secret` is the secret to show
/// once (just generated), else none.
pub fn view(
    row: &endpoint::Model,
    shown_secret: Option<String>,
    now: DateTime<Utc>,
) -> Result<WebhookEndpointView, Error> {
    Ok(WebhookEndpointView {
        endpoint_id: row.id.clone(),
        url: row.url.clone(),
        event_types: subscribed(row)?,
        enabled: row.enabled,
        disabled_reason: row.disabled_reason.clone(),
        description: row.description.clone(),
        secret: shown_secret,
        secret_fingerprint: fingerprint(&row.secret),
        previous_secret_expires_at: row.previous_secret_expires_at.filter(|until| *until > now),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Creates or replaces endpoint `id` to match `spec` (the URL already checked
/// against the outbound policy). `true` when it was created.
pub async fn put(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    id: &ResourceId,
    spec: &WebhookEndpointSpec,
    now: DateTime<Utc>,
) -> Result<(bool, WebhookEndpointView), Error> {
    let event_types = serde_json::to_string(&spec.event_types).map_err(|e| Error::Internal(e.to_string()))?;
    let description = spec.description.as_deref().map(|d| d.trim().to_owned());
    let txn = crate::db::begin_write(db).await?;
    let (created, row, shown) = match repo::find(&txn, tenant, id.as_str()).await? {
        None => {
            let shown = spec.secret.is_none().then(generate_secret);
            let secret = spec.secret.clone().or_else(|| shown.clone()).unwrap_or_default();
            let row = endpoint::Model {
                tenant_id: tenant.as_str().to_owned(),
                id: id.to_string(),
                url: spec.url.clone(),
                event_types,
                enabled: spec.enabled,
                disabled_reason: None,
                description,
                secret,
                previous_secret: None,
                previous_secret_expires_at: None,
                created_at: now,
                updated_at: now,
            };
            (true, repo::insert(&txn, row).await?, shown)
        }
        Some(current) => {
            let mut next = current.clone();
            next.url = spec.url.clone();
            next.event_types = event_types;
            next.enabled = spec.enabled;
            next.description = description;
            if spec.enabled {
                next.disabled_reason = None;
            }
            if let Some(secret) = spec.secret.as_ref().filter(|s| **s != current.secret) {
                roll_into(&mut next, secret.clone(), DEFAULT_ROLL_GRACE_SECONDS, now);
            }
            if next == current {
                (false, current, None)
            } else {
                next.updated_at = now;
                (false, repo::save(&txn, next).await?, None)
            }
        }
    };
    txn.commit().await?;
    Ok((created, view(&row, shown, now)?))
}

/// Makes `secret` the signing secret of `row`; the old one keeps signing
/// for `grace_seconds`.
fn roll_into(row: &mut endpoint::Model, secret: String, grace_seconds: u64, now: DateTime<Utc>) {
    let old = std::mem::replace(&mut row.secret, secret);
    if grace_seconds == 0 {
        row.previous_secret = None;
        row.previous_secret_expires_at = None;
    } else {
        row.previous_secret = Some(old);
        row.previous_secret_expires_at = Some(now + Duration::seconds(grace_seconds as i64));
    }
}

/// Rolls endpoint `id`'s secret as `request` asks; the view shows the new
/// secret when the service generated it.
pub async fn roll_secret(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    id: &ResourceId,
    request: &RollSecret,
    now: DateTime<Utc>,
) -> Result<WebhookEndpointView, Error> {
    let txn = crate::db::begin_write(db).await?;
    let mut row = repo::find(&txn, tenant, id.as_str()).await?.ok_or(Error::NotFound("webhook endpoint"))?;
    let shown = request.secret.is_none().then(generate_secret);
    let secret = request.secret.clone().or_else(|| shown.clone()).unwrap_or_default();
    roll_into(&mut row, secret, request.grace_seconds.unwrap_or(DEFAULT_ROLL_GRACE_SECONDS), now);
    row.updated_at = now;
    let row = repo::save(&txn, row).await?;
    txn.commit().await?;
    view(&row, shown, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(now: DateTime<Utc>) -> endpoint::Model {
        endpoint::Model {
            tenant_id: "acme".into(),
            id: "hook".into(),
            url: "https://example.com".into(),
            event_types: "[\"order.confirmed\"]".into(),
            enabled: true,
            disabled_reason: None,
            description: None,
            secret: "old-secret".into(),
            previous_secret: None,
            previous_secret_expires_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_roll_keeps_the_old_secret_signing_until_the_grace_period_ends() {
        let now = Utc::now();
        let mut endpoint = row(now);
        roll_into(&mut endpoint, "new-secret".into(), 60, now);
        assert_eq!(signing_secrets(&endpoint, now), vec!["new-secret", "old-secret"]);
        assert_eq!(signing_secrets(&endpoint, now + Duration::seconds(61)), vec!["new-secret"]);
        roll_into(&mut endpoint, "newest-secret".into(), 0, now);
        assert_eq!(signing_secrets(&endpoint, now), vec!["newest-secret"], "a zero grace ends the old one at once");
    }

    #[test]
    fn generated_secrets_are_long_random_and_prefixed() {
        let (a, b) = (generate_secret(), generate_secret());
        assert!(a.starts_with(SECRET_PREFIX) && a.len() == SECRET_PREFIX.len() + 40);
        assert_ne!(a, b);
        assert!(replenish_api::webhooks::secret_ok(&a));
        assert_eq!(fingerprint(&a).len(), 8);
    }
}
