//! `POST /api/v1/detections`: the HTTP edge of the detection path.

use actix_web::http::Method;
use actix_web::web;

use crate::auth::DeviceCaller;
use crate::error::Error;
use crate::http::{JsonBody, resource};
use crate::intents::model::{DetectionRequest, DetectionResponse};
use crate::limits::report::LimitReport;
use crate::problem::Problem;
use crate::state::AppState;

/// Mounts `/detections` inside `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/detections", [(Method::POST, web::to(post_detection))]));
}

/// Report a product running low; the answer says whether to prompt the wearer.
///
/// The same `event_id` from the same device always gets the identical answer
/// and has no second effect.
#[utoipa::path(
    post, path = "/api/v1/detections", tag = "device",
    request_body = DetectionRequest,
    responses(
        (status = 200, body = DetectionResponse),
        (status = 404, description = "object_class is not in the catalog", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "A rate limit was hit (see Retry-After, RateLimit-Policy, RateLimit)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The device's mailbox is full; retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn post_detection(
    device: DeviceCaller,
    state: web::Data<AppState>,
    body: JsonBody<DetectionRequest>,
    limits: LimitReport,
) -> Result<web::Json<DetectionResponse>, Error> {
    Ok(web::Json(state.devices.detect(&device, body.0, &limits).await?))
}
