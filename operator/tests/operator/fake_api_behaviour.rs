//! The fake API server keeps the promises its module doc makes; the controller tests
//! are only as good as these.

use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::{Client, ResourceExt};
use replenish_operator::crd::Tenant;
use serde_json::json;

use crate::controller_tenant::tenant;
use crate::support::FakeApi;

fn setup() -> (FakeApi, Client) {
    let fake = FakeApi::default();
    let client = Client::new(fake.clone(), "default");
    (fake, client)
}

fn config_map(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name}, "data": {"k": value}}))
    .unwrap()
}

#[tokio::test]
async fn stale_writes_conflict_and_existing_names_cannot_be_created() {
    let (_, client) = setup();
    let api: Api<ConfigMap> = Api::namespaced(client, "ns");
    let created = api.create(&PostParams::default(), &config_map("c", "1")).await.unwrap();
    match api.create(&PostParams::default(), &config_map("c", "1")).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 409),
        other => panic!("{other:?}"),
    }
    let mut first = created.clone();
    first.data = Some([("k".to_owned(), "2".to_owned())].into());
    let updated = api.replace("c", &PostParams::default(), &first).await.unwrap();
    assert_ne!(updated.resource_version(), created.resource_version());
    // `created` carries the old resourceVersion.
    match api.replace("c", &PostParams::default(), &created).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 409),
        other => panic!("{other:?}"),
    }
    assert_eq!(api.get("c").await.unwrap().data.unwrap()["k"], "2");
}

#[tokio::test]
async fn apply_creates_merges_and_a_no_op_is_no_write() {
    let (fake, client) = setup();
    let api: Api<ConfigMap> = Api::namespaced(client, "ns");
    let params = PatchParams::apply("test").force();
    let created = api.patch("c", &params, &Patch::Apply(config_map("c", "1"))).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let writes = fake.writes();
    let again = api.patch("c", &params, &Patch::Apply(config_map("c", "1"))).await.unwrap();
    assert_eq!(again.resource_version(), created.resource_version());
    assert_eq!(fake.writes(), writes, "re-applying the same object is not a write");
    api.patch("c", &params, &Patch::Apply(config_map("c", "2"))).await.unwrap();
    assert_eq!(fake.writes(), writes + 1);
}

#[tokio::test]
async fn status_is_a_subresource_and_only_spec_changes_bump_the_generation() {
    let (_, client) = setup();
    let api: Api<Tenant> = Api::all(client);
    let mut t = tenant("acme", json!({"displayName": "A", "plan": "starter"}));
    t.status = Some(Default::default());
    let created = api.create(&PostParams::default(), &t).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.status.is_none(), "status is not written through the main resource");
    let status = json!({"status": {"devices": 3}});
    let after_status = api.patch_status("acme", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    assert_eq!(after_status.status.unwrap().devices, 3);
    assert_eq!(after_status.metadata.generation, Some(1));
    let spec = json!({"spec": {"plan": "growth"}, "status": {"devices": 9}});
    let after_spec = api.patch("acme", &PatchParams::default(), &Patch::Merge(&spec)).await.unwrap();
    assert_eq!(after_spec.metadata.generation, Some(2));
    assert_eq!(after_spec.status.unwrap().devices, 3, "status ignored on the main resource");
    let labels = json!({"metadata": {"labels": {"a": "b"}}});
    let after_labels = api.patch("acme", &PatchParams::default(), &Patch::Merge(&labels)).await.unwrap();
    assert_eq!(after_labels.metadata.generation, Some(2));
}

#[tokio::test]
async fn finalizers_hold_deletion_and_owners_take_dependents_along() {
    let (fake, client) = setup();
    let tenants: Api<Tenant> = Api::all(client.clone());
    let mut t = tenant("acme", json!({"displayName": "A", "plan": "starter"}));
    t.metadata.finalizers = Some(vec!["x/y".into()]);
    let t = tenants.create(&PostParams::default(), &t).await.unwrap();
    let mut ns: Namespace =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tenant-acme"}}))
            .unwrap();
    ns.metadata.owner_references = Some(vec![kube::Resource::controller_owner_ref(&t, &()).unwrap()]);
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), "tenant-acme")
        .create(&PostParams::default(), &config_map("c", "1"))
        .await
        .unwrap();

    tenants.delete("acme", &DeleteParams::default()).await.unwrap();
    let deleting = tenants.get("acme").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(deleting.metadata.generation, Some(2), "deletion bumps the generation");
    assert!(fake.get("v1/namespaces", "", "tenant-acme").is_some(), "nothing collected while the finalizer holds");

    let remove = json!([{"op": "test", "path": "/metadata/finalizers/0", "value": "not-it"}, {"op": "remove", "path": "/metadata/finalizers/0"}]);
    let patch: json_patch::Patch = serde_json::from_value(remove).unwrap();
    assert!(
        tenants.patch("acme", &PatchParams::default(), &Patch::<()>::Json(patch)).await.is_err(),
        "a failed test op fails the patch"
    );
    let remove = json!([{"op": "test", "path": "/metadata/finalizers/0", "value": "x/y"}, {"op": "remove", "path": "/metadata/finalizers/0"}]);
    let patch: json_patch::Patch = serde_json::from_value(remove).unwrap();
    tenants.patch("acme", &PatchParams::default(), &Patch::<()>::Json(patch)).await.unwrap();
    assert!(fake.get("replenish.dev/v1alpha1/tenants", "", "acme").is_none());
    assert!(fake.get("v1/namespaces", "", "tenant-acme").is_none(), "owned namespace collected");
    assert!(fake.get("v1/configmaps", "tenant-acme", "c").is_none(), "namespace contents collected");
}

#[tokio::test]
async fn watch_streams_changes_after_the_given_version() {
    let (_, client) = setup();
    let api: Api<ConfigMap> = Api::namespaced(client, "ns");
    api.create(&PostParams::default(), &config_map("before", "1")).await.unwrap();
    let version = api.list(&Default::default()).await.unwrap().metadata.resource_version.unwrap();
    let mut stream = api.watch(&WatchParams::default(), &version).await.unwrap().boxed();
    api.create(&PostParams::default(), &config_map("after", "1")).await.unwrap();
    api.delete("after", &DeleteParams::default()).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap() {
        WatchEvent::Added(cm) => assert_eq!(cm.name_any(), "after", "events before the version are not replayed"),
        other => panic!("{other:?}"),
    }
    match tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap() {
        WatchEvent::Deleted(cm) => assert_eq!(cm.name_any(), "after"),
        other => panic!("{other:?}"),
    }
}
