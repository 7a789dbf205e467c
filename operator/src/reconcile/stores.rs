//! Declared stores (`spec.stores`): each is PUT through the app's merchant API with the
//! tenant's own API key, its webhook secret read from a Secret in the tenant's namespace.
//! Stores the tenant made through the API and does not declare are never touched.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use super::Context;
use crate::crd::Tenant;
use crate::desired::stores as desired;
use crate::error::{Error, Result};

/// Sends every declared store whose fingerprint differs from the one in `applied` (what
/// the app last accepted) and returns the fingerprints now in place. A missing Secret or
/// key fails with [`Error::SecretNotFound`]: the store is never sent without its secret.
pub(super) async fn sync(
    tenant: &Tenant,
    ctx: &Context,
    namespace: &str,
    api_key: &str,
    applied: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let stores = &tenant.spec.stores;
    if let Some(id) = desired::duplicate_id(stores) {
        return Err(Error::Invalid(format!("store {id} is declared twice in spec.stores")));
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut done = BTreeMap::new();
    for store in stores {
        let (secret, version) = match &store.commerce.secret_ref {
            None => (None, None),
            Some(reference) => {
                let found = secrets.get_opt(&reference.name).await?;
                let value =
                    desired::secret_value(reference, found.as_ref(), namespace).map_err(Error::SecretNotFound)?;
                (Some(value), found.and_then(|s| s.metadata.resource_version))
            }
        };
        let fingerprint = desired::fingerprint(store, version.as_deref());
        if desired::needs_put(applied, &store.id, &fingerprint) {
            ctx.app.put_store(api_key, &store.id, &desired::store_body(store, secret)).await?;
            tracing::info!(tenant = %tenant.metadata.name.as_deref().unwrap_or(""), store = %store.id, "store sent to the app");
        }
        done.insert(store.id.clone(), fingerprint);
    }
    Ok(done)
}
