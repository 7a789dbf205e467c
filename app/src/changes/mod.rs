//! Change notices: how every replica hears that data it caches has changed.
//!
//! A repository that writes something a replica caches (credentials, a
//! tenant's plan and limits, its catalog, a device's store and owner) names
//! the change as a [`Change`], [`announce`]s it inside the writing
//! transaction and returns it with its result as [`Changed`]. On Postgres
//! the announcement is a `pg_notify` on one channel, delivered to every
//! replica's listener when (and only if) the transaction commits. The
//! replica that wrote applies the changes itself right after the commit
//! ([`Changed::applied`]), so its own next request already sees them; the
//! others apply what their [`Invalidator`]'s listener hears. Which cache a
//! change clears is decided by the caches ([`ChangeSink`]), not by the
//! handler that made the change.
//!
//! Stores are not announced: nothing caches them (order placement reads the
//! store on every order).
//!
//! On SQLite the service is one process, so applying locally is enough.

mod invalidator;

use sea_orm::sea_query::{Expr, Func, Query};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

pub use invalidator::{ChangeSink, Invalidator};

/// The Postgres channel every change is announced on.
pub const CHANNEL: &str = "replenish_changes";

/// Something a replica may cache changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Keys or device tokens of the tenant were issued, revoked or rotated.
    Credentials {
        /// Tenant id.
        tenant: String,
    },
    /// The tenant's plan, limits or active flag changed.
    Tenant {
        /// Tenant id.
        tenant: String,
    },
    /// A product or variant of the tenant changed.
    Catalog {
        /// Tenant id.
        tenant: String,
    },
    /// A device moved (store, owner), was re-registered or revoked.
    Device {
        /// Tenant id.
        tenant: String,
        /// Device id.
        device: String,
    },
}

impl Change {
    /// The notice payload: a one-letter kind and the ids, `:`-separated
    /// (ids are DNS labels, so they never hold a `:`), e.g. `d:acme:glasses`.
    /// Short, because a Postgres notice payload is at most 8000 bytes and
    /// every replica parses every one.
    pub fn encode(&self) -> String {
        match self {
            Change::Credentials { tenant } => format!("c:{tenant}"),
            Change::Tenant { tenant } => format!("t:{tenant}"),
            Change::Catalog { tenant } => format!("p:{tenant}"),
            Change::Device { tenant, device } => format!("d:{tenant}:{device}"),
        }
    }

    /// Parses a payload made by [`Change::encode`]; `None` for anything else
    /// (for instance a kind a newer release announces).
    pub fn decode(payload: &str) -> Option<Change> {
        let mut parts = payload.split(':');
        let kind = parts.next()?;
        let tenant = parts.next().filter(|t| !t.is_empty())?.to_owned();
        let change = match (kind, parts.next()) {
            ("c", None) => Change::Credentials { tenant },
            ("t", None) => Change::Tenant { tenant },
            ("p", None) => Change::Catalog { tenant },
            ("d", Some(device)) if !device.is_empty() => Change::Device { tenant, device: device.to_owned() },
            _ => return None,
        };
        parts.next().is_none().then_some(change)
    }
}

/// Announces `changes` inside the transaction `txn` that makes them; other
/// replicas hear them when it commits and never if it rolls back. The caller
/// returns the same changes (as [`Changed`]) for this replica to apply.
pub async fn announce(txn: &impl ConnectionTrait, changes: &[Change]) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    for change in changes {
        let notify =
            Query::select().expr(Func::cust("pg_notify").arg(CHANNEL).arg(Expr::val(change.encode()))).to_owned();
        txn.query_one(&notify).await?;
    }
    Ok(())
}

/// A repository write's result and the changes it committed, which this
/// replica must apply before it answers.
#[must_use = "apply the changes to this replica's caches with `applied`"]
#[derive(Debug)]
pub struct Changed<T> {
    value: T,
    changes: Vec<Change>,
}

impl<T> Changed<T> {
    /// `value`, written together with `changes` (already announced).
    pub fn new(value: T, changes: Vec<Change>) -> Self {
        Self { value, changes }
    }

    /// Applies the changes to this replica's caches and hands back the value.
    pub fn applied(self, invalidator: &Invalidator) -> T {
        invalidator.apply_all(&self.changes);
        self.value
    }

    /// The value, for a caller that keeps no caches (the `demo` command runs
    /// outside the server; servers hear its announcements).
    pub fn into_value(self) -> T {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Change> {
        vec![
            Change::Credentials { tenant: "acme".into() },
            Change::Tenant { tenant: "acme".into() },
            Change::Catalog { tenant: "a-1".into() },
            Change::Device { tenant: "acme".into(), device: "glasses-1".into() },
        ]
    }

    #[test]
    fn every_change_survives_its_payload() {
        for change in every_kind() {
            let payload = change.encode();
            assert_eq!(Change::decode(&payload), Some(change.clone()), "{payload}");
        }
    }

    #[test]
    fn payloads_are_compact() {
        assert_eq!(Change::Device { tenant: "acme".into(), device: "glasses".into() }.encode(), "d:acme:glasses");
        assert_eq!(Change::Catalog { tenant: "acme".into() }.encode(), "p:acme");
        let longest = Change::Device { tenant: "a".repeat(63), device: "b".repeat(63) }.encode();
        assert!(longest.len() <= 130, "{}", longest.len());
    }

    #[test]
    fn anything_else_is_not_a_change() {
        for payload in ["", "acme", "c", "c:", "x:acme", "c:acme:extra", "d:acme", "d:acme:", "d:a:b:c", "t::"] {
            assert_eq!(Change::decode(payload), None, "{payload:?}");
        }
    }
}
