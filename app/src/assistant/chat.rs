//! `POST /api/v1/assistant`: the wearer's question, a frame and a short
//! history become one chat request whose system prompt carries the tenant's
//! catalog, so the assistant can offer a reorder.

use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::assistant::guard::Usage;
use crate::assistant::image::ValidImage;
use crate::assistant::meter::Metered;
use crate::assistant::provider::{ChunkStream, map_error, usage_of};
use crate::error::{Error, Violations};
use crate::problem::PROBLEM_BASE;
use crate::tenants::snapshot::TenantSnapshot;

/// Most turns of history sent back to the model.
pub const MAX_HISTORY: usize = 10;
/// Longest prompt or history turn, in characters.
pub const MAX_TEXT_CHARS: usize = 4_000;
/// Most tokens the model may answer with.
const MAX_REPLY_TOKENS: u32 = 500;

/// Who said a turn of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The wearer.
    User,
    /// The assistant.
    Assistant,
}

/// One earlier turn of the conversation. No `Debug`: its content must not reach the logs.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// `user` or `assistant`.
    pub role: Role,
    /// What was said, 1-4000 characters.
    pub content: String,
}

/// Where the wearer is, to answer questions like "where can I buy this".
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Latitude, -90 to 90.
    pub lat: f64,
    /// Longitude, -180 to 180.
    pub lon: f64,
}

/// Body of `POST /api/v1/assistant`. No `Debug`: prompt and image must not reach the logs.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "prompt": "Is this sunscreen strong enough for the beach?",
    "image": "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA",
    "history": [],
    "location": {"lat": 37.7599, "lon": -122.4148}
}))]
pub struct AssistantRequest {
    /// The wearer's question, 1-4000 characters.
    pub prompt: String,
    /// The camera frame: `data:image/jpeg;base64,…` (JPEG, PNG or WebP, at most 4 MiB decoded).
    pub image: String,
    /// Earlier turns, oldest first, at most 10.
    #[serde(default)]
    pub history: Vec<Turn>,
    /// Where the wearer is.
    #[serde(default)]
    pub location: Option<Location>,
}

/// Response of `POST /api/v1/assistant` (without `Accept: text/event-stream`).
#[derive(Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "reply": "It is SPF 50, fine for a day at the beach; reapply every two hours.",
    "usage": {"prompt_tokens": 812, "completion_tokens": 31, "total_tokens": 843}
}))]
pub struct AssistantReply {
    /// What the assistant says.
    pub reply: String,
    /// Tokens the provider billed for it.
    pub usage: Usage,
}

impl AssistantRequest {
    /// Checks lengths and ranges, then the image.
    pub fn validate(&self) -> Result<ValidImage, Error> {
        let mut v = Violations::default();
        let bad_text =
            |s: &str| s.trim().is_empty() || s.chars().count() > MAX_TEXT_CHARS || !replenish_api::storable_text(s);
        v.check(bad_text(&self.prompt), "prompt", "must be 1-4000 characters, without NUL");
        v.check(self.history.len() > MAX_HISTORY, "history", "must have at most 10 turns");
        for (i, turn) in self.history.iter().enumerate() {
            v.check(bad_text(&turn.content), format!("history[{i}].content"), "must be 1-4000 characters, without NUL");
        }
        if let Some(location) = self.location {
            v.check(!(-90.0..=90.0).contains(&location.lat), "location.lat", "must be between -90 and 90");
            v.check(!(-180.0..=180.0).contains(&location.lon), "location.lon", "must be between -180 and 180");
        }
        v.finish()?;
        crate::assistant::image::parse_data_url("image", &self.image)
    }

    /// The chat request for the provider.
    pub fn to_chat(&self, model: &str, image: &ValidImage, snapshot: &TenantSnapshot, stream: bool) -> Value {
        let mut messages = vec![json!({"role": "system", "content": system_prompt(snapshot, self.location)})];
        for turn in &self.history {
            let role = if turn.role == Role::User { "user" } else { "assistant" };
            messages.push(json!({"role": role, "content": turn.content}));
        }
        messages.push(json!({"role": "user", "content": [
            {"type": "text", "text": self.prompt},
            {"type": "image_url", "image_url": {"url": image.data_url}},
        ]}));
        let mut request = json!({"model": model, "messages": messages, "max_tokens": MAX_REPLY_TOKENS});
        if stream {
            request["stream"] = json!(true);
            request["stream_options"] = json!({"include_usage": true});
        }
        request
    }
}

/// The system prompt: the assistant's job and the tenant's catalog.
pub fn system_prompt(snapshot: &TenantSnapshot, location: Option<Location>) -> String {
    let mut products: Vec<_> = snapshot.catalog.iter().collect();
    products.sort_by(|a, b| a.0.cmp(b.0));
    let mut prompt = String::from(
        "You are the assistant on a wearer's smart glasses. Answer briefly and plainly; your answer is read aloud. \
         When the wearer is running low on one of the products below, offer to reorder it by name and price.\n\
         Products this store can reorder:\n",
    );
    for (class, entry) in products {
        let price = entry.unit_price_cents as f64 / 100.0;
        prompt.push_str(&format!("- {} (object class {class}, SKU {}, ${price:.2})\n", entry.label, entry.sku));
    }
    if snapshot.catalog.is_empty() {
        prompt.push_str("- none yet\n");
    }
    if let Some(location) = location {
        prompt.push_str(&format!("The wearer is near latitude {:.4}, longitude {:.4}.\n", location.lat, location.lon));
    }
    prompt
}

fn sse(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// An SSE comment, which clients ignore: written while the model is silent,
/// so a device that hung up is noticed (the write fails) and the relay
/// dropped; a connection that is only read from never reports a hang-up.
const HEARTBEAT: &[u8] = b": keep-alive\n\n";

/// How often [`HEARTBEAT`] is written while no chunk arrives: a tenth of the
/// stall deadline, within 100 ms to 15 s.
fn heartbeat_every(timeout: Duration) -> Duration {
    (timeout / 10).clamp(Duration::from_millis(100), Duration::from_secs(15))
}

struct Relay {
    chunks: ChunkStream,
    timeout: Duration,
    /// Since when the relay has waited for the provider's next chunk.
    waiting_since: Instant,
    /// Dropped with the relay when the device hangs up, which meters what was streamed.
    meter: Option<Metered>,
    /// The provider's usage, from the last chunk.
    usage: Option<Usage>,
    finished: bool,
}

/// Relays the provider's stream as server-sent events: `delta` events with
/// `{"text"}`, then one `done` with `{"usage"}`, or one `error` with the
/// problem `type` if the provider breaks off; [`HEARTBEAT`] comments while
/// the model is silent. The call is metered when it ends, or when the relay
/// is dropped because the device hung up.
pub fn relay(
    chunks: ChunkStream,
    timeout: Duration,
    meter: Metered,
) -> impl futures_util::Stream<Item = Result<Bytes, Error>> {
    let waiting_since = Instant::now();
    let state = Relay { chunks, timeout, waiting_since, meter: Some(meter), usage: None, finished: false };
    stream::unfold(state, |mut st| async move {
        if st.finished {
            return None;
        }
        let left = st.timeout.saturating_sub(st.waiting_since.elapsed());
        let next = match tokio::time::timeout(left.min(heartbeat_every(st.timeout)), st.chunks.next()).await {
            Err(_) if st.waiting_since.elapsed() < st.timeout => {
                return Some((Ok(Bytes::from_static(HEARTBEAT)), st));
            }
            Ok(Some(Ok(chunk))) => {
                st.waiting_since = Instant::now();
                if let Some(usage) = usage_of(&chunk) {
                    st.usage = Some(usage);
                }
                let text = chunk.pointer("/choices/0/delta/content").and_then(Value::as_str).unwrap_or_default();
                if text.is_empty() {
                    return Some((Ok(Bytes::new()), st));
                }
                if let Some(meter) = st.meter.as_mut() {
                    meter.streamed();
                }
                return Some((Ok(sse("delta", &json!({"text": text}))), st));
            }
            Ok(None) => Ok(()),
            Ok(Some(Err(err))) => Err(map_error(err)),
            Err(_) => Err(Error::UpstreamUnavailable { retry_after_secs: 1, detail: "the stream stalled".into() }),
        };
        st.finished = true;
        let meter = st.meter.take()?;
        // Without the provider's usage (it broke off, or ignores include_usage)
        // what was streamed is still billed: meter the estimate.
        let usage = st.usage.unwrap_or_else(|| meter.estimate());
        let event = match &next {
            Ok(()) => sse("done", &json!({"usage": usage})),
            Err(err) => sse("error", &json!({"type": format!("{PROBLEM_BASE}{}", err.kind())})),
        };
        meter.finish(next.as_ref().copied(), usage).await;
        Some((Ok(event), st))
    })
    .filter(|item| std::future::ready(!matches!(item, Ok(bytes) if bytes.is_empty())))
}
