//! Status writes: server-side apply on the status subresource, skipped when nothing changed.

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::FIELD_MANAGER;
use crate::crd::{Condition, ConditionStatus, PROVISIONED, READY, RECONCILIATION_PAUSED, set_condition};
use crate::error::{Error, Result};

/// Applies `new` as the status of `obj` unless it equals `old`: an unchanged status
/// costs no write, so a steady resource produces no API traffic.
pub(super) async fn write<K, S>(api: &Api<K>, obj: &K, old: Option<&S>, new: &S) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if old == Some(new) {
        return Ok(());
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": new,
    });
    api.patch_status(&obj.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}

/// Marks conditions for a paused resource: `ReconciliationPaused=True`, the others kept.
pub(super) fn paused(conditions: &mut Vec<Condition>, generation: i64) {
    let message = "spec.paused is true: the operator leaves this resource alone";
    set_condition(
        conditions,
        Condition::new(RECONCILIATION_PAUSED, ConditionStatus::True, generation, "Paused", message),
    );
}

/// Drops `ReconciliationPaused` once the resource is no longer paused.
pub(super) fn unpaused(conditions: &mut Vec<Condition>) {
    conditions.retain(|c| c.type_ != RECONCILIATION_PAUSED);
}

/// App calls about objects a Tenant declares (stores, webhook endpoints), not the tenant itself.
const DECLARED_OBJECT_CALLS: [&str; 3] = ["put store", "put webhook endpoint", "delete webhook endpoint"];

/// Marks conditions after a failure: `Ready=False` with the error's reason; `Provisioned=False`
/// too when the app itself failed or refused.
pub(super) fn failed(conditions: &mut Vec<Condition>, generation: i64, error: &Error) {
    let message = error.to_string();
    // A declared store or webhook endpoint the app refuses says nothing about the tenant
    // itself being provisioned.
    let app_side = match error.root() {
        Error::AppRejected { operation, .. } => !DECLARED_OBJECT_CALLS.contains(operation),
        Error::AppUnavailable(_) | Error::AppProtocol(_) => true,
        _ => false,
    };
    if app_side {
        set_condition(
            conditions,
            Condition::new(PROVISIONED, ConditionStatus::False, generation, error.reason(), &*message),
        );
    }
    set_condition(conditions, Condition::new(READY, ConditionStatus::False, generation, error.reason(), message));
}

/// Marks the app side done: `Provisioned=True`.
pub(super) fn provisioned(conditions: &mut Vec<Condition>, generation: i64, message: &str) {
    set_condition(conditions, Condition::new(PROVISIONED, ConditionStatus::True, generation, "Provisioned", message));
}

/// Marks conditions after a successful reconcile.
pub(super) fn succeeded(conditions: &mut Vec<Condition>, generation: i64, provisioned_message: &str, ready: &str) {
    provisioned(conditions, generation, provisioned_message);
    set_condition(conditions, Condition::new(READY, ConditionStatus::True, generation, "Reconciled", ready));
}
