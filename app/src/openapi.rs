//! The OpenAPI 3 document, generated from the handlers and types.

use actix_web::HttpResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::{assistant, catalog, detections, devices, health, intents, orders, reports, stores, tenants};

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
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                add_caller_defaults(operation);
            }
        }
    }
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
        reports::routes::get_summary,
        assistant::routes::post_assistant,
        assistant::routes::post_frame,
        assistant::routes::post_speech,
    ),
    components(schemas(crate::problem::Problem, crate::error::FieldError)),
    modifiers(&BearerSchemes, &CallerDefaults),
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
