//! Device routes of the assistant: `/api/v1/assistant`, `/api/v1/detections/frame`
//! and `/api/v1/speech`.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix_web::http::Method;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::assistant::chat::{AssistantReply, AssistantRequest, relay};
use crate::assistant::frame::{self, UNKNOWN_CLASS};
use crate::assistant::guard::Usage;
use crate::assistant::meter::Metered;
use crate::assistant::provider::{reply_text, usage_of};
use crate::assistant::{Assistant, image};
use crate::auth::DeviceCaller;
use crate::catalog::model::FillLevel;
use crate::error::{Error, Violations};
use crate::http::{JsonBody, resource, with_body_limit};
use crate::intents::model::{Confidence, DetectionRequest, DetectionResponse};
use crate::limits::report::LimitReport;
use crate::problem::Problem;
use crate::state::AppState;

/// Mounts the assistant routes inside `/api/v1`; the two that carry a frame
/// take bodies up to `image_body_limit` bytes.
pub fn configure(cfg: &mut web::ServiceConfig, image_body_limit: usize) {
    let assistant = resource("/assistant", [(Method::POST, web::to(post_assistant))]);
    let frame = resource("/detections/frame", [(Method::POST, web::to(post_frame))]);
    cfg.service(with_body_limit(assistant, image_body_limit))
        .service(with_body_limit(frame, image_body_limit))
        .service(resource("/speech", [(Method::POST, web::to(post_speech))]));
}

fn wants_event_stream(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/event-stream"))
}

/// Ask the assistant about a camera frame.
///
/// With `Accept: text/event-stream` the reply streams as server-sent events:
/// `delta` events (`{"text"}`), then `done` (`{"usage"}`), or `error` (`{"type"}`)
/// if the provider breaks off mid-answer.
#[utoipa::path(
    post, path = "/api/v1/assistant", tag = "device",
    request_body = AssistantRequest,
    responses(
        (status = 200, body = AssistantReply, description = "The reply (JSON, or an event stream when asked for)"),
        (status = 422, description = "Invalid body or image (not base64, not JPEG/PNG/WebP, over 4 MiB)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The tenant's daily assistant budget or the provider-wide limit is used up", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The provider's answer is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider is unavailable or the breaker is open; retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn post_assistant(
    req: HttpRequest,
    device: DeviceCaller,
    state: web::Data<AppState>,
    assistant: web::Data<Assistant>,
    body: JsonBody<AssistantRequest>,
) -> Result<HttpResponse, Error> {
    let image = body.validate()?;
    let snapshot = state.tenants.get(device.tenant_id.as_str()).await?;
    let stream = wants_event_stream(&req);
    let request = body.to_chat(&assistant.provider.model, &image, &snapshot, stream);
    drop(image);
    if !stream {
        let completion = assistant.chat(&device, "assistant", &request).await?;
        let reply = reply_text(&completion)?;
        let usage = usage_of(&completion).unwrap_or_default();
        return Ok(HttpResponse::Ok().json(AssistantReply { reply, usage }));
    }
    // Held from admission on: dropped with this handler or with the relay, it
    // still meters the call.
    let metered = Metered::admit(Arc::clone(&assistant), &device, "assistant", Some(&request))?;
    let chunks = match assistant.provider.chat_stream(&request).await {
        Ok(chunks) => chunks,
        Err(err) => {
            metered.finish(Err(&err), Usage::default()).await;
            return Err(err);
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(relay(chunks, assistant.provider.timeout, metered)))
}

/// Body of `POST /api/v1/detections/frame`. No `Debug`: the image must not reach the logs.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "event_id": "frame-0042-000118",
    "captured_at_ms": 1777626000000_i64,
    "image": "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA"
}))]
pub struct FrameRequest {
    /// The device's id for this event (1-128 printable ASCII characters); a repeat gets the same answer.
    pub event_id: String,
    /// When the frame was captured, Unix milliseconds; within 24 h of server time.
    pub captured_at_ms: i64,
    /// The frame: `data:image/jpeg;base64,…` (JPEG, PNG or WebP, at most 4 MiB decoded).
    pub image: String,
}

/// Report a frame; the model classifies it and the result is handled exactly
/// like `POST /api/v1/detections`.
///
/// A frame showing none of the tenant's products (`unknown`) is a 404, as an
/// unknown `object_class` is on `/api/v1/detections`. The same `event_id`
/// gets the same answer without asking the model again.
#[utoipa::path(
    post, path = "/api/v1/detections/frame", tag = "device",
    request_body = FrameRequest,
    responses(
        (status = 200, body = DetectionResponse),
        (status = 404, description = "No catalog product in the frame", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body or image", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "A rate limit or the tenant's assistant budget was hit", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The model's output does not validate; nothing was recorded", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider is unavailable or the breaker is open; retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn post_frame(
    device: DeviceCaller,
    state: web::Data<AppState>,
    assistant: web::Data<Assistant>,
    body: JsonBody<FrameRequest>,
    limits: LimitReport,
) -> Result<web::Json<DetectionResponse>, Error> {
    let FrameRequest { event_id, captured_at_ms, image } = body.0;
    let mut detection = DetectionRequest {
        event_id,
        object_class: UNKNOWN_CLASS.into(),
        fill_level: FillLevel::Full,
        confidence: Confidence::Low,
        captured_at_ms,
    };
    // The event id and the timestamp are checked before any tokens are spent.
    detection.validate(state.clock.now())?;
    if let Some(answer) = assistant.answered(&device, &detection.event_id).await? {
        return Ok(web::Json(answer));
    }
    let image = image::parse_data_url("image", &image)?;
    // The device's rate limit before the provider: a refused frame spends no
    // tokens. (The tenant's per-second limit ran at the edge already.)
    let slot = state.devices.take_slot(&device, &limits).await?;
    let snapshot = state.tenants.get(device.tenant_id.as_str()).await?;
    let classes: BTreeSet<String> = snapshot.catalog.keys().cloned().collect();
    let request = frame::request(&assistant.provider.model, &classes, &image.data_url);
    drop(image);
    let completion = assistant.chat(&device, "frame", &request).await?;
    let seen = frame::validate(&reply_text(&completion)?, &classes)?;
    if seen.object_class == UNKNOWN_CLASS {
        return Err(Error::NotFound("product"));
    }
    detection.object_class = seen.object_class;
    detection.fill_level = seen.fill_level;
    detection.confidence = seen.confidence;
    Ok(web::Json(state.devices.detect_admitted(&device, slot, detection).await?))
}

/// Body of `POST /api/v1/speech`. No `Debug`: the text must not reach the logs.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "Ordered spring water; it arrives on Sunday."}))]
pub struct SpeechRequest {
    /// What to say, 1 to `REPLENISH_SPEECH_MAX_CHARS` characters.
    pub text: String,
}

/// Text to speech through the provider: MP3 audio.
#[utoipa::path(
    post, path = "/api/v1/speech", tag = "device",
    request_body = SpeechRequest,
    responses(
        (status = 200, description = "The spoken text", content_type = "audio/mpeg"),
        (status = 422, description = "Empty or too long", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The provider's audio is invalid or too large", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider is unavailable or the breaker is open; retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn post_speech(
    device: DeviceCaller,
    assistant: web::Data<Assistant>,
    body: JsonBody<SpeechRequest>,
) -> Result<HttpResponse, Error> {
    let SpeechRequest { text } = body.0;
    let mut v = Violations::default();
    v.check(
        text.trim().is_empty()
            || text.chars().count() > assistant.speech_max_chars
            || !replenish_api::storable_text(&text),
        "text",
        format!("must be 1-{} characters, without NUL", assistant.speech_max_chars),
    );
    v.finish()?;
    let metered = Metered::admit(Arc::clone(&assistant), &device, "speech", None)?;
    let result = assistant.provider.speech(text).await.and_then(|audio| {
        if audio.is_empty() || audio.len() > assistant.speech_max_bytes {
            Err(Error::UpstreamInvalid(format!("the audio is empty or over {} bytes", assistant.speech_max_bytes)))
        } else {
            Ok(audio)
        }
    });
    // Speech is billed by characters, not tokens: nothing to add to the token meter.
    metered.finish(result.as_ref().map(|_| ()), Usage::default()).await;
    Ok(HttpResponse::Ok().content_type("audio/mpeg").body(result?))
}
