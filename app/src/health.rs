//! Liveness and readiness.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::{PROBLEM_BASE, PROBLEM_JSON};
use crate::state::AppState;

/// Readiness of each dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    /// `ok` or the reason the database is unreachable.
    pub database: String,
    /// `ok`, `not configured`, or the reason Redis is unreachable.
    pub redis: String,
}

/// Body of `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ready", "checks": {"database": "ok", "redis": "ok"}}))]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: String,
    /// Per-dependency results.
    pub checks: ReadinessChecks,
}

/// `GET /healthz`: the process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database (and Redis, when configured) answer.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = Readiness),
        (status = 503, description = "A dependency is down (problem+json with `checks`)", content_type = "application/problem+json"),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = match state.db.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(err) => format!("unreachable: {err}"),
    };
    let redis = match &state.redis {
        None => "not configured".to_owned(),
        Some(pool) => match ping_redis(pool).await {
            Ok(()) if state.limiter.degraded() => "recovering: rate limits are per replica for a moment".to_owned(),
            Ok(()) => "ok".to_owned(),
            Err(err) => format!("unreachable: {err}; rate limits are enforced per replica"),
        },
    };
    // Redis only shares limits across replicas; without it the service still works.
    if database == "ok" {
        let status = if redis == "ok" || redis == "not configured" { "ready" } else { "ready (degraded)" };
        HttpResponse::Ok().json(Readiness { status: status.into(), checks: ReadinessChecks { database, redis } })
    } else {
        HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).content_type(PROBLEM_JSON).json(serde_json::json!({
            "type": format!("{PROBLEM_BASE}not-ready"),
            "title": "Service Unavailable",
            "status": 503,
            "detail": "a dependency is unreachable",
            "checks": ReadinessChecks { database, redis },
            "request_id": crate::request_id::current().map(|id| id.to_string()),
        }))
    }
}

async fn ping_redis(pool: &deadpool_redis::Pool) -> Result<(), String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    deadpool_redis::redis::cmd("PING").query_async::<String>(&mut conn).await.map(|_| ()).map_err(|e| e.to_string())
}
