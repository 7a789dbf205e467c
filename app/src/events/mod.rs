//! Events: the tenant's log of changes a merchant cares about, written as a
//! transactional outbox. A repository that changes an intent, an order, a
//! device, a tenant's limits or a webhook endpoint calls [`record`] inside
//! the same transaction, so an event exists exactly when its change
//! committed. `GET /api/v1/events` lists them; the webhook dispatcher
//! delivers them; a periodic task prunes them after the retention period.
//!
//! `routes` (HTTP edge) → `repo` (the only SQL); `model` turns rows into the
//! wire type [`replenish_api::Event`].

pub mod entity;
pub mod model;
pub mod pruning;
pub mod repo;
pub mod routes;

pub use model::NewEvent;
pub use repo::{record, record_all, record_each};
