//! One admitted provider call and its metering, as a value that meters even
//! when nobody finishes it: a device that hangs up mid-stream makes actix drop
//! the response (and with it the relay), and a cancelled handler drops its
//! future, and neither may leave tokens the provider billed unmetered.
//!
//! The provider's own usage (the last chunk of a stream, with
//! `stream_options.include_usage`) is the bill when it arrives; when it does
//! not (a hang-up, a stream that breaks off, a server that ignores
//! `include_usage`) the call is metered by estimate: the prompt from its
//! text and images, the answer by the chunks relayed (a provider streams
//! about one token per chunk).

use std::sync::Arc;

use serde_json::Value;

use crate::assistant::Assistant;
use crate::assistant::guard::{Ticket, Usage};
use crate::auth::DeviceCaller;
use crate::error::Error;

/// Tokens counted for each image of a prompt when the provider's usage is
/// unknown: what one image costs at low detail, a floor rather than the bill.
const IMAGE_TOKENS: u64 = 85;
/// Tokens of framing around each message (role, separators).
const MESSAGE_TOKENS: u64 = 4;
/// Characters per token of English text, the usual rule of thumb.
const CHARS_PER_TOKEN: u64 = 4;

fn text_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(CHARS_PER_TOKEN)
}

/// An estimate of the prompt tokens of a chat request: its texts by length,
/// each image at [`IMAGE_TOKENS`], plus framing per message.
pub fn estimate_prompt_tokens(request: &Value) -> u64 {
    let Some(messages) = request.get("messages").and_then(Value::as_array) else { return 0 };
    messages
        .iter()
        .map(|message| {
            let content = match message.get("content") {
                Some(Value::String(text)) => text_tokens(text),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .map(|part| match part.get("type").and_then(Value::as_str) {
                        Some("image_url") => IMAGE_TOKENS,
                        _ => part.get("text").and_then(Value::as_str).map_or(0, text_tokens),
                    })
                    .sum(),
                _ => 0,
            };
            MESSAGE_TOKENS + content
        })
        .sum()
}

/// An admitted call of one device, metered when finished or, failing that, when dropped.
#[must_use]
pub struct Metered {
    assistant: Arc<Assistant>,
    caller: DeviceCaller,
    route: &'static str,
    ticket: Option<Ticket>,
    prompt_estimate: u64,
    chunks: u64,
}

impl Metered {
    /// Lets a call of `caller` through the guard rails; `request` is what will
    /// be sent (for the estimate), `None` for calls not billed by tokens.
    pub fn admit(
        assistant: Arc<Assistant>,
        caller: &DeviceCaller,
        route: &'static str,
        request: Option<&Value>,
    ) -> Result<Self, Error> {
        let ticket = assistant.admit(caller, route)?;
        Ok(Self {
            assistant,
            caller: caller.clone(),
            route,
            ticket: Some(ticket),
            prompt_estimate: request.map_or(0, estimate_prompt_tokens),
            chunks: 0,
        })
    }

    /// One chunk of answer text was relayed to the device.
    pub fn streamed(&mut self) {
        self.chunks += 1;
    }

    /// What the call used so far, by estimate (the provider's usage unknown).
    pub fn estimate(&self) -> Usage {
        let (prompt, completion) = (self.prompt_estimate, self.chunks);
        Usage { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
    }

    /// Closes the call with its outcome; `usage` is what the provider reported or
    /// the estimate, metered even when the call failed (a stream that broke off
    /// was billed for what it streamed).
    pub async fn finish(mut self, outcome: Result<(), &Error>, usage: Usage) {
        if let Some(ticket) = self.ticket.take() {
            self.assistant.close(&self.caller, self.route, ticket, outcome, usage).await;
        }
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else { return };
        let usage = self.estimate();
        let (assistant, caller, route) = (self.assistant.clone(), self.caller.clone(), self.route);
        // Drop cannot wait for the usage row, so it is written by a task of its own.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { assistant.cancelled(&caller, route, ticket, usage).await });
            }
            // No runtime left (shutdown): the row is lost, the budget still counts.
            Err(_) => assistant.guard.cancel(ticket, usage.total_tokens),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn estimates_text_by_length_and_images_at_a_floor() {
        let request = json!({"messages": [
            {"role": "system", "content": "12345678"},
            {"role": "user", "content": [
                {"type": "text", "text": "123"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ]},
        ]});
        assert_eq!(estimate_prompt_tokens(&request), (MESSAGE_TOKENS + 2) + (MESSAGE_TOKENS + 1 + IMAGE_TOKENS));
        assert_eq!(estimate_prompt_tokens(&json!({})), 0);
    }
}
