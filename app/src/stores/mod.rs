//! Stores: a tenant's shops, each with its commerce provider.

pub mod entity;
pub mod model;
pub mod repo;
pub mod routes;
