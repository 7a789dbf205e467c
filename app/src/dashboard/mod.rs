//! The merchant dashboard: server-rendered HTML under `/dashboard`, served by
//! the app itself (no front-end build, no CDN), where a merchant signs in with
//! the tenant's API key and sees the funnel, the fleet, intents, orders and the
//! catalog.
//!
//! Sign-in exchanges the key for a server-side session ([`session`]): the
//! browser holds a random token in an HttpOnly, SameSite=Strict cookie, the
//! table only its hash, the tenant, the key's hash and a CSRF token. Every
//! request checks the key again through [`crate::auth::repo`], so revoking or
//! rotating the key or deactivating the tenant ends its sessions at once.
//! Every POST carries the session's synchronizer token ([`session::Session::check_csrf`]).
//!
//! Pages read through the domains' own services and repositories; the only
//! SQL here is the session table's ([`repo`]). Templates are [`maud`]: HTML
//! written as Rust, checked when the crate compiles and escaped by default, with
//! two small crates and no template files to ship or find at run time.
//!
//! Layers: [`views`] render markup from plain values; [`error`] turns failures
//! into pages; [`session`] authenticates; [`routes`] (sign-in, assets) and
//! [`pages`] (everything behind a session) are the HTTP edge.

pub mod entity;
pub mod error;
pub mod pages;
pub mod repo;
pub mod routes;
pub mod session;
pub mod views;
pub mod webhook_pages;
