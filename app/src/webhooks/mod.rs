//! Webhooks: a tenant's endpoints, where its events are POSTed signed, and
//! the delivery of events to them.
//!
//! `routes`, `deliveries_routes` (HTTP edge) → `endpoints` (the endpoint
//! service: secrets, rolls), `dispatcher` (the background task that fans
//! events out and POSTs them) → `deliveries` (delivery service: give-up,
//! redelivery) → `repo`, `delivery_repo` (the only SQL) → database.

pub mod deliveries;
pub mod deliveries_routes;
pub mod delivery_repo;
pub mod dispatcher;
pub mod endpoints;
pub mod entity;
pub mod repo;
pub mod routes;
