//! The ClusterRole (`operator/rbac/clusterrole.yaml`) grants exactly what the operator uses:
//! every request the operator makes in a run through all its paths is mapped to the
//! (apiGroup, resource, verb) it needs and compared with the rules.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use replenish_operator::crd::Tenant;
use serde_json::{Value, json};

use crate::controller_tenant::{DEPLOYMENTS, TENANTS, api_key, create_tenant, patch_spec, wait_ready};
use crate::support::{Harness, OPERATOR_NAMESPACE, eventually};

/// (apiGroup, resource, verb) triples a ClusterRole grants.
fn granted(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                for verb in rule["verbs"].as_array().unwrap() {
                    let s = |v: &Value| v.as_str().unwrap().to_owned();
                    out.insert((s(group), s(resource), s(verb)));
                }
            }
        }
    }
    out
}

/// The (apiGroup, resource, verb) a logged request ("METHOD uri STATUS") needs.
fn needed(request: &str) -> Vec<(String, String, String)> {
    let mut parts = request.split(' ');
    let (method, uri, code) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = if segs[0] == "api" { ("", &segs[2..]) } else { (segs[1], &segs[3..]) };
    let rest = if rest.first() == Some(&"namespaces") && rest.len() >= 3 { &rest[2..] } else { rest };
    let resource = match rest.get(2) {
        Some(sub) => format!("{}/{sub}", rest[0]),
        None => rest[0].to_owned(),
    };
    let named = rest.len() >= 2;
    let verb = match method {
        "GET" if named => "get",
        "GET" if query.contains("watch=true") => "watch",
        "GET" => "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        other => panic!("unexpected method {other}"),
    };
    let mut out = vec![(group.to_owned(), resource.clone(), verb.to_owned())];
    // Server-side apply that creates the object is authorised as a create as well.
    if method == "PATCH" && code == "201" {
        out.push((group.to_owned(), resource, "create".to_owned()));
    }
    out
}

#[tokio::test]
async fn cluster_role_grants_exactly_what_the_operator_requests() {
    let used = exercise_everything().await;
    let role: Value = serde_saphyr::from_str(include_str!("../../rbac/clusterrole.yaml")).unwrap();
    let granted = granted(&role);
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(missing.is_empty(), "the operator needs rules the ClusterRole lacks: {missing:#?}");
    // Granted but not seen in the run: only what the run cannot provoke.
    let not_seen: BTreeSet<_> = granted.difference(&used).cloned().collect();
    let explained = BTreeSet::from([
        // A repeated event within minutes is patched into a series; the run raises none twice.
        ("events.k8s.io".to_owned(), "events".to_owned(), "patch".to_owned()),
    ]);
    let unexplained: Vec<_> = not_seen.difference(&explained).collect();
    assert!(unexplained.is_empty(), "the ClusterRole grants more than the operator uses: {unexplained:#?}");
}

/// Drives every path of both controllers and leader election; returns the
/// (apiGroup, resource, verb) the operator needed, for the RBAC test.
async fn exercise_everything() -> BTreeSet<(String, String, String)> {
    let h = Harness::start(true).await;
    // Start without the app env Secret, so the failure path runs too.
    let env = Api::<Secret>::namespaced(h.client.clone(), OPERATOR_NAMESPACE);
    let seeded = env.get("replenish-app-env").await.unwrap();
    env.delete("replenish-app-env", &DeleteParams::default()).await.unwrap();
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter", "isolation": "dedicated"})).await;
    wait_ready(&h, "acme", "False").await;
    let recreated = Secret {
        metadata: kube::api::ObjectMeta { name: Some("replenish-app-env".into()), ..Default::default() },
        data: seeded.data,
        ..Secret::default()
    };
    env.create(&PostParams::default(), &recreated).await.unwrap();
    wait_ready(&h, "acme", "True").await;
    let key = api_key(&h, "acme").unwrap();
    assert_eq!(h.app.put_store(&key, "main").await, 201);
    crate::controller_device::create_device(&h, "glasses", "main").await;
    crate::controller_device::wait_device_ready(&h, "glasses", "True").await;
    Api::<Secret>::namespaced(h.client.clone(), "tenant-acme")
        .delete("replenish-api-key", &DeleteParams::default())
        .await
        .unwrap();
    eventually("rotated", || api_key(&h, "acme").filter(|k| *k != key)).await;
    patch_spec(&h, "acme", json!({"isolation": "shared"})).await;
    eventually("shared", || h.get(DEPLOYMENTS, OPERATOR_NAMESPACE, "tenant-acme").is_none().then_some(())).await;
    Api::<Tenant>::all(h.client.clone()).delete("acme", &DeleteParams::default()).await.unwrap();
    eventually("tenant gone", || h.get(TENANTS, "", "acme").is_none().then_some(())).await;
    eventually("device gone", || {
        h.get(crate::controller_device::DEVICES, "tenant-acme", "glasses").is_none().then_some(())
    })
    .await;
    let elector = replenish_operator::leader::LeaderElector::new(
        kube::Client::new(h.fake.as_agent("operator"), "default"),
        OPERATOR_NAMESPACE,
        "lease",
        "a",
    );
    assert!(elector.try_acquire_or_renew().await.unwrap());
    assert!(elector.try_acquire_or_renew().await.unwrap());
    elector.release().await.unwrap();

    let mut used: BTreeSet<_> = h.fake.requests("operator").iter().flat_map(|r| needed(r)).collect();
    // An ownerReference with blockOwnerDeletion needs `update` on the owner's finalizers subresource.
    for object in h.fake.history() {
        for owner in object["metadata"]["ownerReferences"].as_array().into_iter().flatten() {
            if owner["blockOwnerDeletion"] == true {
                let (group, _) = owner["apiVersion"].as_str().unwrap().split_once('/').unwrap_or(("", ""));
                let resource = format!("{}s/finalizers", owner["kind"].as_str().unwrap().to_lowercase());
                used.insert((group.to_owned(), resource, "update".to_owned()));
            }
        }
    }
    used
}
