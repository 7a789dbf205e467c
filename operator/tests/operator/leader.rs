//! Leader election through a Lease, against the fake API server.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::{Api, PostParams};
use replenish_operator::leader::LeaderElector;

use crate::support::FakeApi;

fn elector(client: &Client, identity: &str) -> LeaderElector {
    LeaderElector::new(client.clone(), "replenish-system", "replenish-operator", identity)
        .with_timing(Duration::from_secs(1), Duration::from_millis(100))
}

fn holder(fake: &FakeApi) -> Option<String> {
    let lease = fake.get("coordination.k8s.io/v1/leases", "replenish-system", "replenish-operator")?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn only_one_of_two_replicas_leads() {
    let fake = FakeApi::default();
    let client = Client::new(fake.clone(), "default");
    let (a, b) = (elector(&client, "a"), elector(&client, "b"));
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap(), "b must not take a fresh lease");
    assert!(a.try_acquire_or_renew().await.unwrap(), "a renews");
    assert_eq!(holder(&fake).as_deref(), Some("a"));
}

#[tokio::test]
async fn a_lease_nobody_renews_is_taken_over_and_the_old_leader_steps_down() {
    let fake = FakeApi::default();
    let client = Client::new(fake.clone(), "default");
    let (a, b) = (elector(&client, "a"), elector(&client, "b"));
    assert!(a.try_acquire_or_renew().await.unwrap());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(b.try_acquire_or_renew().await.unwrap(), "the lease expired");
    assert!(!a.try_acquire_or_renew().await.unwrap(), "a sees b's fresh lease");
    // `hold` returns once leadership is gone.
    tokio::time::timeout(Duration::from_secs(3), a.hold()).await.expect("a notices it lost the lease");
    let lease = fake.get("coordination.k8s.io/v1/leases", "replenish-system", "replenish-operator").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
}

#[tokio::test]
async fn release_hands_over_at_once() {
    let fake = FakeApi::default();
    let client = Client::new(fake.clone(), "default");
    let (a, b) = (elector(&client, "a"), elector(&client, "b"));
    a.acquire().await;
    a.release().await.unwrap();
    assert!(b.try_acquire_or_renew().await.unwrap());
    assert_eq!(holder(&fake).as_deref(), Some("b"));
}

#[tokio::test]
async fn concurrent_lease_writes_conflict() {
    // What keeps two candidates from both winning: a write based on a stale read fails.
    let fake = FakeApi::default();
    let client = Client::new(fake.clone(), "default");
    assert!(elector(&client, "a").try_acquire_or_renew().await.unwrap());
    let leases: Api<Lease> = Api::namespaced(client, "replenish-system");
    let mut first = leases.get("replenish-operator").await.unwrap();
    let mut second = first.clone();
    first.spec.as_mut().unwrap().holder_identity = Some("x".into());
    second.spec.as_mut().unwrap().holder_identity = Some("y".into());
    leases.replace("replenish-operator", &PostParams::default(), &first).await.unwrap();
    match leases.replace("replenish-operator", &PostParams::default(), &second).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 409),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(holder(&fake).as_deref(), Some("x"));
}
