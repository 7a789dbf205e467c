//! The OpenAPI 3 document, generated from the handlers and types, with an
//! example for every request and response body; and the interactive docs
//! page at `/docs` (Swagger UI, its assets compiled into the binary: no CDN).

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::Value;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::ArrayItems;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, Schema};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::{
    assistant, catalog, detections, devices, events, health, intents, orders, reports, stores, tenants, webhooks,
};

struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, description) in [
            ("admin_token", "Platform admin token (REPLENISH_ADMIN_TOKEN)"),
            ("tenant_api_key", "A tenant's API key (rpl_t_…)"),
            ("device_token", "A device token (rpl_d_…)"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build(),
                ),
            );
        }
    }
}

/// The security scheme each caller tag stands for, beside the tag's name.
const TAG_SCHEMES: [(&str, &str); 3] =
    [("admin", "admin_token"), ("merchant", "tenant_api_key"), ("device", "device_token")];

/// Every operation of an authenticated tag answers client errors with a
/// problem+json 4XX and needs its tag's credential, so the document states both
/// here once instead of every handler repeating them. A handler that names its
/// own security (a route open to devices and merchants alike) keeps it.
struct CallerDefaults;

impl Modify for CallerDefaults {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for operation in operations(openapi) {
            add_caller_defaults(operation);
        }
    }
}

/// Every operation of the document.
fn operations(openapi: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
    })
}

/// Merchant and admin POSTs honour an `Idempotency-Key` header (see
/// `crate::idempotency`); the middleware is not an extractor, so no handler
/// declares it: the document adds it to every POST a merchant or the admin
/// may make (after [`CallerDefaults`] has set each operation's security).
struct IdempotencyKeys;

impl Modify for IdempotencyKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let Some(post) = item.post.as_mut() else { continue };
            let schemes = post.security.iter().flatten().filter_map(|s| serde_json::to_value(s).ok());
            let keyed =
                schemes.into_iter().any(|s| s.get("tenant_api_key").is_some() || s.get("admin_token").is_some());
            if keyed {
                post.parameters.get_or_insert_with(Vec::new).push(idempotency_key_parameter());
            }
        }
    }
}

fn idempotency_key_parameter() -> Parameter {
    let schema = ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255)).build();
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retried POST safe: a repeat with the same key and body replays the first response; \
             the same key with another body is a 422 (`idempotency-key-reused`); kept for \
             REPLENISH_IDEMPOTENCY_KEY_TTL_SECS (24 h). Printable ASCII, 1-255 characters.",
        ))
        .schema(Some(schema))
        .build()
}

/// A listing's page is generic (`Page<T>`), so no one example fits it on the
/// type: each listing response gets a page holding its item type's example.
struct ListExamples;

impl Modify for ListExamples {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let schemas = openapi.components.as_ref().map(|c| c.schemas.clone()).unwrap_or_default();
        for operation in operations(openapi) {
            for (status, response) in operation.responses.responses.iter_mut() {
                let RefOr::T(response) = response else { continue };
                if !status.starts_with('2') {
                    continue;
                }
                for content in response.content.values_mut() {
                    if content.example.is_none() {
                        content.example = page_example(content.schema.as_ref(), &schemas);
                    }
                }
            }
        }
    }
}

/// `{"items": [<the item's example>], "next_cursor": null}` when `schema` is
/// a page of items whose schema has an example.
fn page_example(schema: Option<&RefOr<Schema>>, schemas: &BTreeMap<String, RefOr<Schema>>) -> Option<Value> {
    let resolve = |schema: &RefOr<Schema>| match schema {
        RefOr::T(Schema::Object(object)) => Some(object.clone()),
        RefOr::Ref(reference) => match schemas.get(reference.ref_location.rsplit('/').next()?)? {
            RefOr::T(Schema::Object(object)) => Some(object.clone()),
            _ => None,
        },
        _ => None,
    };
    let page = resolve(schema?)?;
    let RefOr::T(Schema::Array(items)) = page.properties.get("items")? else { return None };
    let ArrayItems::RefOrSchema(item) = &items.items else { return None };
    let example = resolve(item)?.example?;
    Some(serde_json::json!({ "items": [example], "next_cursor": null }))
}

fn add_caller_defaults(operation: &mut Operation) {
    let tags = operation.tags.as_deref().unwrap_or_default();
    let Some((_, scheme)) = TAG_SCHEMES.iter().find(|(tag, _)| tags.iter().any(|t| t == tag)) else {
        return;
    };
    operation.security.get_or_insert_with(|| vec![SecurityRequirement::new(*scheme, Vec::<String>::new())]);
    operation.responses.responses.entry("4XX".to_owned()).or_insert_with(|| {
        let problem = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
        ResponseBuilder::new().description("Client error").content(crate::problem::PROBLEM_JSON, problem).build().into()
    });
}

/// Every route and schema of the service.
#[derive(OpenApi)]
#[openapi(
    info(title = "Replenish", description = "Multi-tenant auto-replenishment for smart glasses and other devices."),
    paths(
        health::healthz,
        health::readyz,
        openapi_json,
        tenants::routes::put_tenant,
        tenants::routes::get_tenant,
        tenants::routes::list_tenants,
        tenants::routes::rotate_api_key,
        tenants::routes::delete_tenant,
        devices::routes::admin_put_device,
        devices::routes::admin_delete_device,
        stores::routes::put_store,
        stores::routes::get_store,
        stores::routes::list_stores,
        catalog::routes::put_product,
        catalog::routes::get_product,
        catalog::routes::list_products,
        catalog::routes::delete_product,
        devices::routes::create_device,
        devices::routes::create_devices_batch,
        devices::routes::get_device,
        devices::routes::list_devices,
        devices::routes::delete_device,
        devices::routes::get_self,
        detections::routes::post_detection,
        intents::routes::post_decision,
        intents::routes::get_intent,
        intents::routes::list_intents,
        orders::routes::get_order,
        orders::routes::post_status,
        orders::routes::post_cancel,
        orders::routes::list_orders,
        events::routes::list_events,
        events::routes::get_event,
        webhooks::routes::put_endpoint,
        webhooks::routes::get_endpoint,
        webhooks::routes::delete_endpoint,
        webhooks::routes::list_endpoints,
        webhooks::routes::roll_secret,
        webhooks::deliveries_routes::list_deliveries,
        webhooks::deliveries_routes::redeliver,
        reports::routes::get_summary,
        assistant::routes::post_assistant,
        assistant::routes::post_frame,
        assistant::routes::post_speech,
    ),
    components(schemas(crate::problem::Problem, crate::error::FieldError)),
    modifiers(&BearerSchemes, &CallerDefaults, &IdempotencyKeys, &ListExamples),
    tags(
        (name = "admin", description = "Platform operations (admin token)"),
        (name = "merchant", description = "A tenant's stores, catalog and fleet (tenant API key)"),
        (name = "device", description = "Calls made by devices (device token)"),
        (name = "operations", description = "Health, readiness, this document"),
    )
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "This document")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// Serves the docs page at `/docs/` (and sends `/docs` there, so the page's
/// relative asset links resolve), reading this service's `/openapi.json`.
pub fn configure_docs(cfg: &mut web::ServiceConfig) {
    // No validator: Swagger UI would otherwise send the document to an outside host.
    let config = Config::new(["/openapi.json"]).validator_url("none");
    cfg.service(web::resource("/docs").route(web::get().to(docs_redirect)))
        .service(SwaggerUi::new("/docs/{_:.*}").config(config));
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/docs/")).finish()
}
