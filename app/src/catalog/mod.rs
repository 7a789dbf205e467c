//! The catalog: products a device can recognise, each with its variants.

pub mod entity;
pub mod model;
pub mod repo;
pub mod routes;
