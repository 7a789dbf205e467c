//! Orders: placement through commerce providers, budgets, history.

pub mod actor;
pub mod commerce;
pub mod entity;
pub mod model;
pub mod repo;
pub mod routes;
