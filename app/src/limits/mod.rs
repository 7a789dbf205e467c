//! Every rate limit and admission bound, in one place:
//! - [`limit`]: one limit and its in-process GCRA (devices, the model
//!   provider, and the fallback of the others);
//! - [`shared`]: limits shared by every replica through Redis;
//! - [`requests`]: the per-IP and per-tenant request limits, shared when
//!   Redis is there, local while it is not;
//! - [`report`]: where a request stands against them, for the `RateLimit`
//!   response fields;
//! - [`middleware`]: where those two apply at the HTTP edge, and
//!   [`client_ip`]: which address the per-IP limit belongs to;
//! - [`mailbox`]: how many requests an actor takes at once.

pub mod client_ip;
pub mod limit;
pub mod mailbox;
pub mod middleware;
pub mod report;
pub mod requests;
pub mod shared;
