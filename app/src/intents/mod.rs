//! Intents: the prompts a detection opened, the wearer's decisions on them,
//! their expiry and their history.

pub mod decision;
pub mod entity;
pub mod listing;
pub mod model;
pub mod repo;
pub mod routes;
