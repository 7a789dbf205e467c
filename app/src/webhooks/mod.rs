//! Webhooks: a tenant's endpoints, where its events are POSTed signed, and
//! the delivery of events to them.
//!
//! `routes` (HTTP edge) → `endpoints` (the endpoint service: secrets, rolls)
//! → `repo` (the only SQL) → database.

pub mod endpoints;
pub mod entity;
pub mod repo;
pub mod routes;
