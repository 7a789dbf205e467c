//! HTTP plumbing shared by every domain: validated path ids, JSON/path/query
//! error mapping, pagination, 405s with `Allow`, and the problem+json fallback.

use actix_web::dev::Payload;
use actix_web::dev::ServiceResponse;
use actix_web::error::PayloadError;
use actix_web::http::Method;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, Resource, Route, web};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::Error;
use crate::limits::report::{RATELIMIT, RATELIMIT_POLICY};
use crate::problem::{EdgeError, PROBLEM_JSON, problem_response};

pub use replenish_api::ids::{ResourceId, is_valid_id};
pub use replenish_api::page::{Page, PageRequest};

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
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EdgeError> {
    serde_json::from_slice(bytes).map_err(|err| {
        // serde_json reports some shape errors (a number where an enum belongs) as
        // syntax errors, so ask whether the body is JSON at all.
        if err.is_data() || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
            EdgeError::InvalidBody(err.to_string())
        } else {
            EdgeError::MalformedJson(err.to_string())
        }
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = EdgeError;
    type Future = LocalBoxFuture<'static, Result<Self, EdgeError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(64 * 1024, |l| l.0);
        let is_json = declares_json(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|err| match err.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => EdgeError::PayloadTooLarge(limit),
                _ => EdgeError::MalformedJson(format!("the body could not be read: {err}")),
            })?;
            if !is_json {
                return Err(EdgeError::UnsupportedMediaType);
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

/// The fallback route of a resource: 405 with an `Allow` header listing `methods`.
pub fn method_not_allowed(methods: impl Into<String>) -> Route {
    let methods = methods.into();
    web::route().to(move || {
        let methods = methods.clone();
        async move { HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, methods)).finish() }
    })
}

/// A resource at `path` serving each `(method, route)` pair; any other method
/// gets a 405 whose `Allow` header is derived from the pairs, so the header
/// cannot drift from what is registered. List the methods in the order `Allow`
/// should name them.
pub fn resource<const N: usize>(path: &str, routes: [(Method, Route); N]) -> Resource {
    let allow = routes.iter().map(|(method, _)| method.as_str()).collect::<Vec<_>>().join(", ");
    let resource =
        routes.into_iter().fold(web::resource(path), |resource, (method, route)| resource.route(route.method(method)));
    resource.default_service(method_not_allowed(allow))
}

/// Caps `resource`'s body at `limit` bytes, for both actix's payload reader and
/// [`JsonBody`]'s 413 report, which must agree.
pub fn with_body_limit(resource: Resource, limit: usize) -> Resource {
    resource.app_data(BodyLimit(limit)).app_data(web::PayloadConfig::new(limit))
}

/// The app's fallback service: 404 problem+json.
pub async fn route_not_found() -> Result<HttpResponse, EdgeError> {
    Err(EdgeError::RouteNotFound)
}

/// Rewrites any error response that is not already problem+json (actix's own
/// 404/405/413 and the like) into one, keeping `Allow`, `Retry-After` and the
/// `RateLimit` fields.
pub fn problem_fallback<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // The dashboard's error pages are HTML on purpose: a person reads them.
    let is_rendered = res.headers().get(header::CONTENT_TYPE).is_some_and(|value| {
        value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()) || value.as_bytes().starts_with(b"text/html")
    });
    if is_rendered {
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
    for name in [header::ALLOW, header::RETRY_AFTER, RATELIMIT_POLICY, RATELIMIT] {
        if let Some(value) = old.headers().get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, response).map_into_right_body::<B>()))
}

/// Parses an intent or order id from a path.
pub fn parse_uuid(raw: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(raw).map_err(|_| Error::InvalidId(raw.to_owned()))
}

/// Parses an optional JSON body: empty means the type's defaults; anything
/// else must be declared `application/json`.
pub fn parse_optional_json<T: serde::de::DeserializeOwned + Default>(
    http: &HttpRequest,
    body: &[u8],
) -> Result<T, EdgeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if !declares_json(http) {
        return Err(EdgeError::UnsupportedMediaType);
    }
    parse_json(body)
}
