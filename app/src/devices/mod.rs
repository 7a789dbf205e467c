//! Devices: registration by admins and merchants, tokens, revocation.

pub mod context;
pub mod entity;
pub mod model;
pub mod repo;
pub mod routes;
