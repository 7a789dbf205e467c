//! Pure functions from a resource (and configuration) to what it should produce:
//! Kubernetes objects to apply and requests to send to the app. No I/O here.

pub mod device;
pub mod stores;
pub mod tenant;
pub mod webhooks;

use std::collections::BTreeMap;

/// Label every object the operator creates carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "replenish-operator");
/// Label naming the tenant an object belongs to.
pub const TENANT_LABEL: &str = "replenish.dev/tenant";

/// The labels of an object belonging to `tenant`.
pub fn tenant_labels(tenant: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()), (TENANT_LABEL.to_owned(), tenant.to_owned())])
}
