//! The ceiling: a bare actix-web endpoint that parses a detection-sized JSON body and echoes a small answer.
//!
//! Nothing that does real work on the same machine can beat it, so the app's detection rate is reported
//! as a fraction of this one's (see the shared performance notes).

use std::net::TcpListener;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;
use serde_json::json;

/// The detection body, parsed as the app parses it (minus the domain types).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Detection {
    event_id: String,
    object_class: String,
    fill_level: String,
    confidence: String,
    captured_at_ms: i64,
}

async fn detect(body: web::Json<Detection>) -> HttpResponse {
    let d = body.into_inner();
    HttpResponse::Ok().json(json!({
        "should_prompt": false,
        "event_id": d.event_id,
        "reason": if d.fill_level == "FULL" { "ABOVE_THRESHOLD" } else { "LOW_CONFIDENCE" },
        "object_class": d.object_class,
        "confidence": d.confidence,
        "captured_at_ms": d.captured_at_ms,
    }))
}

/// Serves `POST /api/v1/detections` (any path, in fact) on `listener` until the process ends.
/// `workers` = 0 means one per core, as the app does.
pub async fn serve(listener: TcpListener, workers: usize) -> std::io::Result<()> {
    let mut server = HttpServer::new(|| App::new().default_service(web::post().to(detect)));
    if workers > 0 {
        server = server.workers(workers);
    }
    server.listen(listener)?.run().await
}
