//! The OpenAI-compatible provider behind async-openai, with our deadline and
//! our error mapping.
//!
//! Chat requests and answers are our own JSON (async-openai's `byot` calls):
//! any compatible server works, and an answer that does not parse is ours to
//! classify (502) instead of a transport error. async-openai retries 429s and
//! 5xx itself with exponential backoff (3 retries, honouring `Retry-After`);
//! the deadline here covers the call with all its retries.

use std::pin::Pin;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::audio::{CreateSpeechRequest, SpeechModel, SpeechResponseFormat, Voice};
use futures_util::Stream;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::assistant::guard::Usage;
use crate::config::AssistantSettings;
use crate::error::Error;

/// A stream of chat completion chunks, as JSON.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Value, OpenAIError>> + Send>>;

/// The configured provider.
pub struct Provider {
    client: Option<Client<OpenAIConfig>>,
    /// The chat model.
    pub model: String,
    speech_model: String,
    speech_voice: String,
    /// Deadline of one call with its retries.
    pub timeout: Duration,
}

fn unavailable(detail: impl Into<String>) -> Error {
    Error::UpstreamUnavailable { retry_after_secs: 1, detail: detail.into() }
}

/// Maps async-openai's errors without carrying response bodies along: they
/// may hold model output, which must not reach the logs.
pub fn map_error(err: OpenAIError) -> Error {
    match err {
        OpenAIError::ApiError(api) => {
            let status = api.status_code.as_u16();
            if status == 429 || api.status_code.is_server_error() {
                unavailable(format!("the provider answered {status} after retries"))
            } else {
                Error::UpstreamInvalid(format!("the provider refused the request with {status}"))
            }
        }
        OpenAIError::Reqwest(e) => unavailable(format!("transport: {}", e.without_url())),
        OpenAIError::StreamError(_) => unavailable("the provider's stream broke off"),
        OpenAIError::JSONDeserialize(..) => Error::UpstreamInvalid("the provider's response is not JSON".into()),
        _ => Error::Internal("the provider call could not be built".into()),
    }
}

/// Reads `usage` of a completion (or of the last chunk of a stream).
pub fn usage_of(value: &Value) -> Option<Usage> {
    let usage = value.get("usage")?;
    let n = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    let (prompt, completion) = (n("prompt_tokens"), n("completion_tokens"));
    let total = usage.get("total_tokens").and_then(Value::as_u64).unwrap_or(prompt + completion);
    Some(Usage { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total })
}

/// The text of the first choice of a completion; a refusal or a missing text is invalid output.
pub fn reply_text(completion: &Value) -> Result<String, Error> {
    let message = completion.pointer("/choices/0/message").ok_or_else(|| no_text("no choice"))?;
    if message.get("refusal").is_some_and(|r| !r.is_null()) {
        return Err(no_text("the model refused"));
    }
    message.get("content").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| no_text("no text content"))
}

fn no_text(why: &str) -> Error {
    Error::UpstreamInvalid(why.to_owned())
}

impl Provider {
    /// The provider of `settings`; without an API key every call answers 503.
    pub fn new(settings: &AssistantSettings) -> Self {
        let client = settings.openai_api_key.as_ref().map(|key| {
            let config = OpenAIConfig::new()
                .with_api_base(settings.openai_base_url.trim_end_matches('/'))
                .with_api_key(key.expose_secret());
            Client::with_config(config)
        });
        Self {
            client,
            model: settings.vision_model.clone(),
            speech_model: settings.speech_model.clone(),
            speech_voice: settings.speech_voice.clone(),
            timeout: Duration::from_millis(settings.assistant_timeout_ms.max(1)),
        }
    }

    fn client(&self) -> Result<&Client<OpenAIConfig>, Error> {
        self.client.as_ref().ok_or_else(|| Error::UpstreamUnavailable {
            retry_after_secs: 3600,
            detail: "OPENAI_API_KEY is not set".into(),
        })
    }

    async fn deadline<T>(&self, call: impl Future<Output = Result<T, OpenAIError>>) -> Result<T, Error> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(map_error),
            Err(_) => Err(unavailable(format!("no answer within {} ms", self.timeout.as_millis()))),
        }
    }

    /// One chat completion (`request` must not ask for a stream).
    pub async fn chat(&self, request: &Value) -> Result<Value, Error> {
        let client = self.client()?;
        self.deadline(client.chat().create_byot::<_, Value>(request)).await
    }

    /// A streamed chat completion: resolves once the provider accepted the request.
    pub async fn chat_stream(&self, request: &Value) -> Result<ChunkStream, Error> {
        let client = self.client()?;
        self.deadline(client.chat().create_stream_byot::<_, Value>(request)).await
    }

    /// Text to speech: MP3 bytes.
    pub async fn speech(&self, text: String) -> Result<Vec<u8>, Error> {
        let client = self.client()?;
        let voice: Voice = serde_json::from_value(Value::String(self.speech_voice.clone())).unwrap_or_default();
        let request = CreateSpeechRequest {
            input: text,
            model: SpeechModel::Other(self.speech_model.clone()),
            voice,
            response_format: Some(SpeechResponseFormat::Mp3),
            ..Default::default()
        };
        let response = self.deadline(client.audio().speech().create(request)).await?;
        Ok(response.bytes.to_vec())
    }
}
