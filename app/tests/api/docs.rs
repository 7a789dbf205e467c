//! The API's documentation: every request and response body of the OpenAPI
//! document has an example that fits its schema, and `/docs` serves Swagger UI
//! from the app itself (no outside host).

use serde_json::Value;

use crate::helpers::{Backend, spawn_app};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Follows a `$ref` into `components`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => &doc["components"]["schemas"][name],
        None => schema,
    }
}

/// The example a media type or its schema gives, if any.
fn example_of<'a>(doc: &'a Value, content: &'a Value) -> Option<&'a Value> {
    if let Some(example) = content.get("example") {
        return Some(example);
    }
    if let Some(example) = content["examples"].as_object().and_then(|e| e.values().next()) {
        return example.get("value");
    }
    let schema = resolve(doc, &content["schema"]);
    // `Option<T>` bodies are `oneOf: [null, T]`.
    let members = schema["oneOf"].as_array().into_iter().flatten().map(|member| resolve(doc, member));
    std::iter::once(schema).chain(members).find_map(|s| s.get("example"))
}

/// Whether `example` fits `schema`'s object shape: every required property
/// present, none it does not declare (checked into nested objects).
fn check_fit(doc: &Value, schema: &Value, example: &Value, at: &str, misfits: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    let schema = match schema["oneOf"].as_array() {
        Some(members) if !example.is_null() => {
            members.iter().map(|m| resolve(doc, m)).find(|m| m["type"] != "null").unwrap_or(schema)
        }
        _ => schema,
    };
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), example.as_object()) {
        for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(required) {
                misfits.push(format!("{at}: required `{required}` missing"));
            }
        }
        for (name, value) in object {
            match properties.get(name) {
                Some(property) => check_fit(doc, property, value, &format!("{at}.{name}"), misfits),
                None => misfits.push(format!("{at}: `{name}` is not in the schema")),
            }
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), example.as_array()) {
        for (i, value) in values.iter().enumerate() {
            check_fit(doc, items, value, &format!("{at}[{i}]"), misfits);
        }
    }
}

/// Checks every JSON body of `contents`, recording what lacks an example or misfits.
fn check_contents(doc: &Value, contents: &Value, what: &str, missing: &mut Vec<String>, misfits: &mut Vec<String>) {
    for (media_type, content) in contents.as_object().into_iter().flatten() {
        if !media_type.contains("json") {
            continue;
        }
        match example_of(doc, content) {
            Some(example) => check_fit(doc, &content["schema"], example, what, misfits),
            None => missing.push(format!("{what} ({media_type})")),
        }
    }
}

async fn every_body_in_the_document_has_a_fitting_example(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.client.get(format!("{}/openapi.json", app.address)).send().await.expect("sent");
    let doc: Value = doc.json().await.expect("JSON");
    let (mut missing, mut misfits, mut bodies) = (Vec::new(), Vec::new(), 0);
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(operation) = item.get(method) else { continue };
            let name = format!("{} {path}", method.to_uppercase());
            if let Some(contents) = operation["requestBody"].get("content") {
                bodies += 1;
                check_contents(&doc, contents, &format!("{name} request"), &mut missing, &mut misfits);
            }
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                if let (true, Some(contents)) = (status.starts_with('2'), response.get("content")) {
                    bodies += 1;
                    check_contents(&doc, contents, &format!("{name} {status}"), &mut missing, &mut misfits);
                }
            }
        }
    }
    assert!(bodies > 30, "the document's bodies were found: {bodies}");
    assert!(missing.is_empty(), "bodies without an example: {missing:#?}");
    assert!(misfits.is_empty(), "examples that do not fit their schema: {misfits:#?}");
}

/// Every `src="…"` and `href="…"` of an HTML page.
fn asset_links(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attribute| html.split(attribute).skip(1).filter_map(|rest| rest.split('"').next()))
        .map(str::to_owned)
        .collect()
}

async fn docs_page_is_served_with_its_own_assets(backend: Backend) {
    let app = spawn_app(backend).await;
    let page = app.client.get(format!("{}/docs", app.address)).send().await.expect("sent");
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.url().path(), "/docs/", "`/docs` leads to the page");
    assert!(page.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    let links = asset_links(&html);
    assert!(links.iter().any(|l| l.ends_with(".js")) && links.iter().any(|l| l.ends_with(".css")), "{links:?}");
    for link in &links {
        assert!(!link.starts_with("http:") && !link.starts_with("https:") && !link.starts_with("//"), "{link}");
        let url = format!("{}/docs/{}", app.address, link.trim_start_matches("./"));
        let asset = app.client.get(&url).send().await.expect("sent");
        assert_eq!(asset.status().as_u16(), 200, "{url}");
        assert!(!asset.bytes().await.expect("body").is_empty(), "{url}");
    }
    // The page reads this service's own document.
    let init = app.client.get(format!("{}/docs/swagger-initializer.js", app.address)).send().await.expect("sent");
    assert!(init.text().await.expect("js").contains("/openapi.json"));
}

/// Merchant and admin POSTs document the `Idempotency-Key` header the
/// middleware honours; device POSTs (idempotent by their event ids) do not.
async fn idempotency_keys_are_documented_where_they_work(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.client.get(format!("{}/openapi.json", app.address)).send().await.expect("sent");
    let doc: Value = doc.json().await.expect("JSON");
    let has_key = |path: &str| {
        doc["paths"][path]["post"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
    };
    for keyed in ["/api/v1/devices", "/api/v1/orders/{order}/status", "/admin/v1/tenants/{tenant}/api-keys"] {
        assert!(has_key(keyed), "{keyed} should document Idempotency-Key");
    }
    for unkeyed in ["/api/v1/detections", "/api/v1/decisions"] {
        assert!(!has_key(unkeyed), "{unkeyed} is a device's route");
    }
}

on_both_backends!(
    every_body_in_the_document_has_a_fitting_example,
    docs_page_is_served_with_its_own_assets,
    idempotency_keys_are_documented_where_they_work,
);
