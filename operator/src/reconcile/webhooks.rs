//! Declared webhook endpoints (`spec.webhooks`): each is PUT through the app's merchant API
//! with the tenant's own API key, its signing secret read from a Secret in the tenant's
//! namespace; endpoints the operator made and the spec no longer lists are deleted.
//! Endpoints the tenant made through the API and never declared are never touched.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use super::Context;
use crate::crd::Tenant;
use crate::desired::stores::secret_value;
use crate::desired::webhooks as desired;
use crate::error::{Error, Result};

/// Brings the app's endpoints in line with `spec.webhooks`, updating `applied` (endpoint →
/// fingerprint of what the app accepted) as it goes, so progress made before a failure is
/// recorded too. An endpoint whose Secret or key is missing is neither created nor changed;
/// the others are still reconciled, and the call then fails with [`Error::SecretNotFound`]
/// naming every such endpoint.
pub(super) async fn sync(
    tenant: &Tenant,
    ctx: &Context,
    namespace: &str,
    api_key: &str,
    applied: &mut BTreeMap<String, String>,
) -> Result<()> {
    let webhooks = &tenant.spec.webhooks;
    if let Some(name) = desired::duplicate_name(webhooks) {
        return Err(Error::Invalid(format!("webhook {name} is declared twice in spec.webhooks")));
    }
    let tenant_name = tenant.metadata.name.as_deref().unwrap_or("");
    for endpoint in desired::removed(applied, webhooks) {
        ctx.app.delete_webhook_endpoint(api_key, &endpoint).await?;
        applied.remove(&endpoint);
        tracing::info!(tenant = %tenant_name, %endpoint, "webhook endpoint no longer declared: deleted from the app");
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut missing = Vec::new();
    for webhook in webhooks {
        let found = secrets.get_opt(&webhook.secret_ref.name).await?;
        let secret = match secret_value(&webhook.secret_ref, found.as_ref(), namespace) {
            Ok(secret) => secret,
            Err(why) => {
                missing.push(format!("webhook {}: {why}", webhook.name));
                continue;
            }
        };
        let version = found.and_then(|s| s.metadata.resource_version);
        let fingerprint = desired::fingerprint(webhook, version.as_deref());
        if desired::needs_put(applied, &webhook.name, &fingerprint) {
            let body = desired::webhook_body(webhook, secret).map_err(Error::Invalid)?;
            ctx.app.put_webhook_endpoint(api_key, &webhook.name, &body).await?;
            applied.insert(webhook.name.clone(), fingerprint);
            tracing::info!(tenant = %tenant_name, endpoint = %webhook.name, "webhook endpoint sent to the app");
        }
    }
    if missing.is_empty() { Ok(()) } else { Err(Error::SecretNotFound(missing.join("; "))) }
}

/// How many declared endpoints are in place in the app (for `status.webhooks`).
pub(super) fn in_place(tenant: &Tenant, applied: &BTreeMap<String, String>) -> i32 {
    let count = tenant.spec.webhooks.iter().filter(|w| applied.contains_key(&w.name)).count();
    i32::try_from(count).unwrap_or(i32::MAX)
}
