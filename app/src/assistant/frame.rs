//! Frame-based detection: the model is asked for a JSON object constrained by
//! a schema (from schemars, with `object_class` narrowed to the tenant's
//! classes or `unknown`), and its answer is validated before anything is recorded.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::catalog::model::FillLevel;
use crate::error::Error;
use crate::intents::model::Confidence;

/// What a frame shows when none of the tenant's products is in it.
pub const UNKNOWN_CLASS: &str = "unknown";

// Mirrors of the domain enums that derive `JsonSchema`; no doc comments on the
// variants, so the schema is a plain string enum that strict structured output accepts.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Fill {
    Full,
    Half,
    Low,
    NearlyEmpty,
    Empty,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Sureness {
    Low,
    Medium,
    High,
}

/// The model's answer for one frame.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FrameOutput {
    /// The product class in view, one of the listed classes, or `unknown`.
    object_class: String,
    /// How full the container looks.
    fill_level: Fill,
    /// How sure the model is.
    confidence: Sureness,
}

/// A validated frame classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameDetection {
    /// One of the tenant's classes, or [`UNKNOWN_CLASS`].
    pub object_class: String,
    /// How full.
    pub fill_level: FillLevel,
    /// How sure.
    pub confidence: Confidence,
}

/// The JSON schema attached to the request (`response_format.json_schema.schema`).
pub fn output_schema(classes: &BTreeSet<String>) -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(FrameOutput)).unwrap_or_else(|_| json!({}));
    if let Some(object) = schema.as_object_mut() {
        // Strict structured output wants a bare object schema.
        object.remove("$schema");
        object.remove("title");
    }
    let mut allowed: Vec<Value> = classes.iter().cloned().map(Value::String).collect();
    allowed.push(Value::String(UNKNOWN_CLASS.into()));
    if let Some(class) = schema.pointer_mut("/properties/object_class") {
        class["enum"] = Value::Array(allowed);
    }
    schema
}

/// The whole chat request for one frame.
pub fn request(model: &str, classes: &BTreeSet<String>, image_url: &str) -> Value {
    let listed = classes.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
    let system = format!(
        "You classify one camera frame from smart glasses for a replenishment service. \
         Name the product container in view as one of these object classes: {listed}. \
         If none of them is clearly in view, answer object_class \"{UNKNOWN_CLASS}\". \
         Judge how full it is and how sure you are. Answer only with the JSON object."
    );
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": [
                {"type": "text", "text": "Classify this frame."},
                {"type": "image_url", "image_url": {"url": image_url, "detail": "low"}},
            ]},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "frame_detection", "strict": true, "schema": output_schema(classes)},
        },
        "max_tokens": 100,
    })
}

/// Validates the model's text against the schema's rules; a violation is a
/// 502 whose detail names the rule, never the output itself.
pub fn validate(text: &str, classes: &BTreeSet<String>) -> Result<FrameDetection, Error> {
    let output: FrameOutput = serde_json::from_str(text.trim()).map_err(|err| {
        Error::UpstreamInvalid(format!(
            "the model's output does not match the frame schema ({:?} at column {})",
            err.classify(),
            err.column()
        ))
    })?;
    if output.object_class != UNKNOWN_CLASS && !classes.contains(&output.object_class) {
        return Err(Error::UpstreamInvalid("the model named an object class outside the catalog".into()));
    }
    let fill_level = match output.fill_level {
        Fill::Full => FillLevel::Full,
        Fill::Half => FillLevel::Half,
        Fill::Low => FillLevel::Low,
        Fill::NearlyEmpty => FillLevel::NearlyEmpty,
        Fill::Empty => FillLevel::Empty,
    };
    let confidence = match output.confidence {
        Sureness::Low => Confidence::Low,
        Sureness::Medium => Confidence::Medium,
        Sureness::High => Confidence::High,
    };
    Ok(FrameDetection { object_class: output.object_class, fill_level, confidence })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> BTreeSet<String> {
        ["milk".to_owned(), "water_bottle".to_owned()].into()
    }

    #[test]
    fn schema_lists_the_tenants_classes_and_unknown_and_is_closed() {
        let schema = output_schema(&classes());
        assert_eq!(schema["properties"]["object_class"]["enum"], json!(["milk", "water_bottle", "unknown"]));
        assert_eq!(schema["additionalProperties"], json!(false));
        let required = schema["required"].as_array().expect("required");
        assert_eq!(required.len(), 3);
        let fills = schema.pointer("/$defs/Fill/enum").expect("fill enum");
        assert_eq!(fills, &json!(["FULL", "HALF", "LOW", "NEARLY_EMPTY", "EMPTY"]));
    }

    #[test]
    fn validates_classes_levels_and_shape() {
        let ok = validate(r#"{"object_class":"milk","fill_level":"LOW","confidence":"HIGH"}"#, &classes());
        assert_eq!(ok.expect("valid").fill_level, FillLevel::Low);
        for bad in [
            "not json",
            r#"{"object_class":"beer","fill_level":"LOW","confidence":"HIGH"}"#,
            r#"{"object_class":"milk","fill_level":"SOMEWHAT","confidence":"HIGH"}"#,
            r#"{"object_class":"milk","fill_level":"LOW"}"#,
            r#"{"object_class":"milk","fill_level":"LOW","confidence":"HIGH","extra":1}"#,
        ] {
            assert!(matches!(validate(bad, &classes()), Err(Error::UpstreamInvalid(_))), "{bad}");
        }
    }
}
