//! Orders: placement through the store's actor and its commerce provider,
//! budgets, the sweeper that finishes interrupted placements, and history.
//!
//! `routes` (HTTP edge) → `actor` (one per store) → `placement` (provider
//! call through the store's `gate`, and its record) → `repo` (the only SQL); `sweeper` runs in the
//! background over every tenant.

pub mod actor;
pub mod commerce;
pub mod entity;
pub mod gate;
pub mod lifecycle;
pub mod listing;
pub mod model;
pub mod placement;
pub mod repo;
pub mod routes;
pub mod sweeper;
