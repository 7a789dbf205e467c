//! Leader election through a `coordination.k8s.io/v1` Lease, so two replicas are safe:
//! only the holder runs the controllers.
//!
//! kube-runtime 5 has no elector; this one follows client-go's rules in small: take the
//! Lease when it is free or its holder stopped renewing for `lease_duration`, renew it
//! every `retry`, and every write carries the `resourceVersion` read, so two candidates
//! racing for it cannot both win (the loser gets 409 Conflict). Expiry compares the
//! holder's `renewTime` with the local clock, so clocks are assumed roughly in sync.
//!
//! Every call to the API server has a deadline (`renew_deadline`, shorter than the lease):
//! a renewal that stalls (the client has no read timeout of its own) is abandoned, and a
//! leader that has not renewed within `renew_deadline` stops leading before the Lease can
//! expire and another replica take it, so there is never a time with two leaders.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};

use crate::error::{Error, Result};

/// Competes for one Lease under one identity.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    lease_duration: Duration,
    renew_deadline: Duration,
    retry: Duration,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector").field("name", &self.name).field("identity", &self.identity).finish()
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl LeaderElector {
    /// An elector for Lease `namespace/name` as `identity`; 15 s lease, 10 s renew deadline,
    /// 2 s retry (client-go's defaults).
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry: Duration::from_secs(2),
        }
    }

    /// The same elector with other timings (whole seconds for the lease, as the Lease stores
    /// them); the renew deadline becomes two thirds of the lease.
    pub fn with_timing(mut self, lease_duration: Duration, retry: Duration) -> Self {
        self.lease_duration = lease_duration.max(Duration::from_secs(1));
        self.renew_deadline = self.lease_duration * 2 / 3;
        self.retry = retry;
        self
    }

    /// How long a leader keeps leading without a successful renewal (shorter than the lease).
    pub fn renew_deadline(&self) -> Duration {
        self.renew_deadline
    }

    /// One attempt at taking or renewing the Lease, abandoned after `deadline`.
    async fn attempt(&self, deadline: Duration) -> Result<bool> {
        match tokio::time::timeout(deadline, self.try_acquire_or_renew()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::Timeout(format!("Lease {} did not answer within {deadline:?}", self.name))),
        }
    }

    fn lease_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }

    /// One attempt: takes or renews the Lease. `Ok(true)` when this identity holds it now.
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(self.lease_seconds()),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(e.into()),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !ours {
            let held = spec.holder_identity.as_deref().is_some_and(|h| !h.is_empty());
            let expires = spec
                .renew_time
                .as_ref()
                .map(|t| t.0 + SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0))));
            if held && expires.is_some_and(|e| e > now) {
                return Ok(false);
            }
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.lease_duration_seconds = Some(self.lease_seconds());
        spec.renew_time = Some(MicroTime(now));
        // `lease` still carries the resourceVersion it was read at: a concurrent writer makes this fail.
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits until this identity holds the Lease.
    pub async fn acquire(&self) {
        loop {
            match self.attempt(self.renew_deadline).await {
                Ok(true) => {
                    tracing::info!(identity = %self.identity, lease = %self.name, "became leader");
                    return;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election attempt failed"),
            }
            tokio::time::sleep(self.retry).await;
        }
    }

    /// Keeps renewing; returns when leadership is lost: someone else holds the Lease, or no
    /// renewal succeeded within the renew deadline (each attempt is cut off when it would
    /// run past it), which is before the Lease expires and another replica may take it.
    pub async fn hold(&self) {
        // When the last successful attempt started: the renewTime it wrote is no earlier.
        let mut renewed_at = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.retry).await;
            let left = self.renew_deadline.saturating_sub(renewed_at.elapsed());
            if left.is_zero() {
                tracing::warn!(identity = %self.identity, "could not renew the leader Lease in time");
                return;
            }
            let started = tokio::time::Instant::now();
            match self.attempt(left).await {
                Ok(true) => renewed_at = started,
                Ok(false) => {
                    tracing::warn!(identity = %self.identity, "lost the leader Lease");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "cannot renew the leader Lease"),
            }
        }
    }

    /// Gives the Lease up (on shutdown) so another replica need not wait for it to expire:
    /// clears `holderIdentity`, within the renew deadline.
    pub async fn release(&self) -> Result<()> {
        match tokio::time::timeout(self.renew_deadline, self.clear_holder()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::Timeout(format!("releasing Lease {} took over {:?}", self.name, self.renew_deadline))),
        }
    }

    async fn clear_holder(&self) -> Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else { return Ok(()) };
        let Some(spec) = lease.spec.as_mut() else { return Ok(()) };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
