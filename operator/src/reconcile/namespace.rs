//! A tenant's namespace is the operator's only when it says so: server-side apply with
//! `force` would otherwise adopt a `tenant-<name>` namespace someone else made (taking an
//! ownerReference on it), and deleting the Tenant would then delete their namespace.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::{Context, status};
use crate::crd::{Condition, ConditionStatus, NAMESPACE_CONFLICT, READY, Tenant, TenantStatus, set_condition};
use crate::desired::tenant::{self as desired, OWNERSHIP_LABEL};
use crate::error::Result;

/// How often a Tenant refused for a foreign namespace looks again (the namespace may be
/// labelled or removed meanwhile; it is not watched, since it is not the operator's).
pub const CONFLICT_RETRY: Duration = Duration::from_secs(60);

/// The namespace `tenant-<name>` when it exists and the operator does not own it.
pub(super) async fn foreign(ctx: &Context, tenant: &Tenant) -> Result<Option<Namespace>> {
    let name = desired::namespace_name(&tenant.name_any());
    let existing = Api::<Namespace>::all(ctx.client.clone()).get_opt(&name).await?;
    Ok(existing.filter(|ns| !desired::owns_namespace(ns, &tenant.name_any())))
}

/// Refuses to touch a foreign namespace: `NamespaceConflict=True`, `Ready=False` and (once)
/// a Warning event; nothing is written to the namespace or the app.
pub(super) async fn refuse(
    tenant: &Tenant,
    ctx: &Context,
    old: &TenantStatus,
    mut new: TenantStatus,
) -> Result<Action> {
    let generation = tenant.metadata.generation.unwrap_or(0);
    let namespace = desired::namespace_name(&tenant.name_any());
    let message = format!(
        "namespace {namespace} exists and was not created by the operator (it lacks label \
         {OWNERSHIP_LABEL}={}): delete it, or label it to hand it over",
        tenant.name_any()
    );
    let first = !old.conditions.iter().any(|c| c.type_ == NAMESPACE_CONFLICT);
    let conflict =
        Condition::new(NAMESPACE_CONFLICT, ConditionStatus::True, generation, "NamespaceNotOwned", &*message);
    set_condition(&mut new.conditions, conflict);
    let ready = Condition::new(READY, ConditionStatus::False, generation, NAMESPACE_CONFLICT, &*message);
    set_condition(&mut new.conditions, ready);
    let api: Api<Tenant> = Api::all(ctx.client.clone());
    status::write(&api, tenant, Some(old), &new).await?;
    if first {
        ctx.event(tenant, EventType::Warning, NAMESPACE_CONFLICT, message).await;
    }
    Ok(Action::requeue(CONFLICT_RETRY))
}

/// Drops the `NamespaceConflict` condition once the namespace is the operator's.
pub(super) fn resolved(conditions: &mut Vec<Condition>) {
    conditions.retain(|c| c.type_ != NAMESPACE_CONFLICT);
}

/// Before a Tenant goes: a namespace without the ownership label must survive it, so the
/// Tenant's ownerReference (which garbage collection would follow) is taken off it.
pub(super) async fn keep_if_foreign(tenant: &Tenant, ctx: &Context) -> Result<()> {
    let Some(ns) = foreign(ctx, tenant).await? else { return Ok(()) };
    let uid = tenant.uid().unwrap_or_default();
    let refs = ns.metadata.owner_references.clone().unwrap_or_default();
    if !refs.iter().any(|r| r.uid == uid) {
        return Ok(());
    }
    let kept: Vec<_> = refs.into_iter().filter(|r| r.uid != uid).collect();
    let patch = serde_json::json!({"metadata": {"ownerReferences": kept}});
    let api = Api::<Namespace>::all(ctx.client.clone());
    api.patch(&ns.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let note = format!("namespace {} lacks the ownership label: left in place", ns.name_any());
    ctx.event(tenant, EventType::Warning, "NamespaceKept", note).await;
    Ok(())
}
