//! HTTP plumbing shared by every domain: validated path ids, JSON/path/query
//! error mapping, pagination, 405s with `Allow`, and the problem+json fallback.

use actix_web::dev::Payload;
use actix_web::dev::ServiceResponse;
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, Route, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{Error, PROBLEM_JSON, problem_response};

/// A resource id as it appears in paths: `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`.
///
/// Ids become Kubernetes object names later, hence the DNS-label rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[schema(value_type = String, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
pub struct ResourceId(String);

impl ResourceId {
    /// Parses `value`, returning [`Error::InvalidId`] unless it is a valid id.
    pub fn parse(value: &str) -> Result<Self, Error> {
        if is_valid_id(value) { Ok(Self(value.to_owned())) } else { Err(Error::InvalidId(value.to_owned())) }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

fn is_valid_id(value: &str) -> bool {
    let bytes = value.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            bytes.len() <= 63 && allowed(first) && allowed(last) && bytes.iter().all(|b| allowed(b) || *b == b'-')
        }
        _ => false,
    }
}

/// The largest body a route accepts; read by [`JsonBody`] to report 413s.
/// Register it together with a `web::PayloadConfig` of the same limit.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON request body, classified the way clients need: not `application/json`
/// → 415, over the limit → 413, not JSON at all → 400 `malformed-json`, JSON of
/// the wrong shape (types, unknown enum values, missing or unknown fields) →
/// 422 `invalid-body`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Whether the request declares a JSON body (`application/json` or `+json`).
pub fn declares_json(req: &HttpRequest) -> bool {
    req.mime_type()
        .ok()
        .flatten()
        .is_some_and(|mime| mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
}

/// Parses `bytes` as `T`, telling malformed JSON from well-formed JSON of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|err| {
        // serde_json reports some shape errors (a number where an enum belongs) as
        // syntax errors, so ask whether the body is JSON at all.
        if err.is_data() || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
            Error::InvalidBody(err.to_string())
        } else {
            Error::MalformedJson(err.to_string())
        }
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(64 * 1024, |l| l.0);
        let is_json = declares_json(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|err| match err.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => Error::PayloadTooLarge(limit),
                _ => Error::MalformedJson(format!("the body could not be read: {err}")),
            })?;
            if !is_json {
                return Err(Error::UnsupportedMediaType);
            }
            parse_json(&bytes).map(JsonBody)
        })
    }
}

/// Maps path extraction failures to 400 `invalid-id`, naming the offending segment.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, req| {
        let offending = req
            .match_info()
            .iter()
            .map(|(_, value)| value)
            .find(|value| !is_valid_id(value))
            .map(str::to_owned)
            .unwrap_or_else(|| err.to_string());
        Error::InvalidId(offending).into()
    })
}

/// Maps query-string failures to 400 `invalid-query`.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| Error::InvalidQuery(err.to_string()).into())
}

/// `?limit=&cursor=` for keyset pagination ordered by id.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items per page, 1–500 (default 50).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 500;

/// A validated page request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Items per page.
    pub limit: u64,
    /// Exclusive lower bound on the id.
    pub after: Option<String>,
}

impl PageQuery {
    /// Validates the limit and the cursor.
    pub fn validate(&self) -> Result<PageRequest, Error> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Error::InvalidQuery(format!("limit must be between 1 and {MAX_PAGE_SIZE}")));
        }
        let after = match &self.cursor {
            Some(cursor) if is_valid_id(cursor) => Some(cursor.clone()),
            Some(_) => return Err(Error::InvalidQuery("cursor is not one this service issued".into())),
            None => None,
        };
        Ok(PageRequest { limit, after })
    }
}

/// One page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items, ordered by id.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched items, so the extra one tells
    /// whether another page exists without a second query.
    pub fn from_overfetch(mut items: Vec<T>, request: &PageRequest, id_of: impl Fn(&T) -> String) -> Self {
        let has_more = items.len() as u64 > request.limit;
        items.truncate(request.limit as usize);
        let next_cursor = if has_more { items.last().map(id_of) } else { None };
        Self { items, next_cursor }
    }
}

/// The fallback route of a resource: 405 with an `Allow` header listing `methods`.
pub fn method_not_allowed(methods: &'static str) -> Route {
    web::route()
        .to(move || async move { HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, methods)).finish() })
}

/// The app's fallback service: 404 problem+json.
pub async fn route_not_found() -> Result<HttpResponse, Error> {
    Err(Error::RouteNotFound)
}

/// Rewrites any error response that is not already problem+json (actix's own
/// 404/405/413 and the like) into one, keeping `Allow` and similar headers.
pub fn problem_fallback<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (kind, title) = match status {
        StatusCode::NOT_FOUND => ("route-not-found", "Not Found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "Method Not Allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "Payload Too Large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "Unsupported Media Type"),
        s if s.is_server_error() => ("internal", "Internal Server Error"),
        _ => ("bad-request", "Bad Request"),
    };
    let (req, old): (HttpRequest, _) = res.into_parts();
    let mut response =
        problem_response(status, kind, title, status.canonical_reason().unwrap_or("error").to_owned(), Vec::new());
    if let Some(allow) = old.headers().get(header::ALLOW) {
        response.headers_mut().insert(header::ALLOW, allow.clone());
    }
    if let Some(retry) = old.headers().get(header::RETRY_AFTER) {
        response.headers_mut().insert(header::RETRY_AFTER, retry.clone());
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, response).map_into_right_body::<B>()))
}

/// Parses an intent or order id from a path.
pub fn parse_uuid(raw: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(raw).map_err(|_| Error::InvalidId(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels_and_rejects_everything_else() {
        for ok in ["a", "0", "store-1", "abc-def-123", &"a".repeat(63)] {
            assert!(ResourceId::parse(ok).is_ok(), "{ok} should be valid");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "a b", "é", &"a".repeat(64), "a/b"] {
            assert!(ResourceId::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn page_reports_next_cursor_only_when_more_items_exist() {
        let request = PageRequest { limit: 2, after: None };
        let full = Page::from_overfetch(vec!["a", "b", "c"], &request, |s| s.to_string());
        assert_eq!(full.items, vec!["a", "b"]);
        assert_eq!(full.next_cursor.as_deref(), Some("b"));
        let last = Page::from_overfetch(vec!["a", "b"], &request, |s| s.to_string());
        assert_eq!(last.next_cursor, None);
    }
}
