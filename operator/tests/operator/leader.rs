//! Leader election through a Lease, against the fake API server.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::{Api, PostParams};
use replenish_operator::leader::LeaderElector;

use crate::support::{FakeApi, context, spawn_app};

/// Leases of 3 s: long enough that a slow machine does not lose one between two renewals.
fn elector(client: &Client, identity: &str) -> LeaderElector {
    LeaderElector::new(client.clone(), "replenish-system", "replenish-operator", identity)
        .with_timing(Duration::from_secs(3), Duration::from_millis(100))
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
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert!(b.try_acquire_or_renew().await.unwrap(), "the lease expired");
    assert!(!a.try_acquire_or_renew().await.unwrap(), "a sees b's fresh lease");
    // `hold` returns once leadership is gone.
    tokio::time::timeout(Duration::from_secs(5), a.hold()).await.expect("a notices it lost the lease");
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

fn reconciles(metrics: &replenish_operator::metrics::Metrics) -> u64 {
    let prefix = "replenish_operator_reconciles_total{kind=\"tenant\"} ";
    metrics.encode().lines().find_map(|l| l.strip_prefix(prefix)).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Whether `metrics` report this replica as the leader (`replenish_operator_leader`).
fn leads(metrics: &replenish_operator::metrics::Metrics) -> bool {
    metrics.encode().lines().any(|l| l == "replenish_operator_leader 1")
}

#[tokio::test]
async fn of_two_operator_replicas_only_the_leader_reconciles_until_it_dies() {
    let app = spawn_app().await;
    let fake = FakeApi::default();
    let user = Client::new(fake.as_agent("user"), "default");
    let replica = |name: &'static str| {
        let client = Client::new(fake.as_agent(name), "default");
        let metrics = replenish_operator::metrics::Metrics::default();
        let ctx = context(client.clone(), app.client(&app.url), metrics.clone());
        let elector = elector(&client, name);
        let task = tokio::spawn(async move {
            replenish_operator::reconcile::run_as_leader(&elector, ctx, std::future::pending()).await
        });
        (metrics, task)
    };
    let (metrics_a, task_a) = replica("a");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (metrics_b, task_b) = replica("b");

    let tenants: Api<replenish_operator::crd::Tenant> = Api::all(user);
    let spec = serde_json::json!({"displayName": "Acme", "plan": "starter"});
    tenants.create(&PostParams::default(), &crate::controller_tenant::tenant("acme", spec)).await.unwrap();
    crate::support::eventually("provisioned", || {
        let t = fake.get("replenish.dev/v1alpha1/tenants", "", "acme")?;
        (crate::support::condition(&t, "Ready")?["status"] == "True").then_some(())
    })
    .await;
    assert!(reconciles(&metrics_a) > 0, "the leader works");
    assert_eq!(reconciles(&metrics_b), 0, "the standby does nothing");
    assert!(leads(&metrics_a) && !leads(&metrics_b), "only the leader's gauge is 1");
    assert!(fake.requests("b").iter().all(|r| r.contains("/leases/")), "the standby only looks at the Lease");

    // The leader dies without releasing the Lease; the standby takes over once it expires.
    task_a.abort();
    let _ = task_a.await;
    let patch = serde_json::json!({"spec": {"plan": "growth"}});
    tenants.patch("acme", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await.unwrap();
    crate::support::eventually("the new leader applies the change", || {
        let t = fake.get("replenish.dev/v1alpha1/tenants", "", "acme")?;
        let ready = crate::support::condition(&t, "Ready")?;
        (ready["observedGeneration"] == t["metadata"]["generation"] && ready["status"] == "True").then_some(())
    })
    .await;
    assert!(reconciles(&metrics_b) > 0);
    assert!(leads(&metrics_b), "the new leader's gauge is 1");
    assert_eq!(holder(&fake).as_deref(), Some("b"));
    assert_eq!(app.tenant("acme").await.1["plan"], "growth");
    task_b.abort();
}

#[tokio::test]
async fn a_stalled_renewal_ends_leadership_within_the_renew_deadline() {
    // The API server stops answering Lease requests (a wedged connection): without a
    // deadline the renewal waits forever while the Lease expires and another replica leads.
    let fake = FakeApi::default();
    let client = Client::new(fake.clone(), "default");
    let a = elector(&client, "a");
    a.acquire().await;
    assert!(a.renew_deadline() < Duration::from_secs(3), "the deadline is shorter than the lease");
    fake.stall("/leases/");
    let started = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(6), a.hold()).await.expect("a stalled renewal must end leadership");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "stopped leading after {took:?}, not before the 3 s lease expired");
    // The other replica may take over once the Lease expires; by then `a` has stepped down.
    fake.unstall();
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(took) + Duration::from_millis(200)).await;
    assert!(elector(&client, "b").try_acquire_or_renew().await.unwrap());
}

#[tokio::test]
async fn a_leader_whose_renewals_stall_stops_its_controllers() {
    let fake = FakeApi::default();
    let client = Client::new(fake.clone(), "default");
    let app = replenish_operator::app_client::AppClient::new("http://127.0.0.1:9", "unused".to_owned().into())
        .expect("client");
    let ctx = context(client.clone(), app, replenish_operator::metrics::Metrics::default());
    let a = elector(&client, "a");
    let leader =
        tokio::spawn(
            async move { replenish_operator::reconcile::run_as_leader(&a, ctx, std::future::pending()).await },
        );
    crate::support::eventually("a leads", || (holder(&fake).as_deref() == Some("a")).then_some(())).await;
    fake.stall("/leases/");
    let started = tokio::time::Instant::now();
    let lost = tokio::time::timeout(Duration::from_secs(6), leader).await.expect("stops leading").unwrap();
    assert!(lost, "run_as_leader reports lost leadership, so the process exits and re-campaigns");
    assert!(started.elapsed() < Duration::from_secs(3), "within the lease: {:?}", started.elapsed());
}
