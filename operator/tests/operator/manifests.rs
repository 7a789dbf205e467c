//! The committed YAML: CRDs in sync with the code and structural, examples valid and meaningful.

use std::path::PathBuf;

use replenish_operator::config::PlanDefaults;
use replenish_operator::crd::{Device, Tenant, crd_files};
use replenish_operator::desired::{device, tenant};
use serde_json::{Value, json};

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn read_yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn committed_crds_match_the_code() {
    for (path, generated) in crd_files().unwrap() {
        let committed = std::fs::read_to_string(repo_file(path)).unwrap_or_default();
        assert!(
            committed == generated,
            "{path} is out of date: run `cargo run -p replenish-operator -- crds` at the repository top"
        );
    }
}

/// Checks the rules of a structural schema (Kubernetes docs, "Specifying a structural
/// schema"), returning the violations found under `at`.
fn structural_violations(schema: &Value, at: &str, out: &mut Vec<String>) {
    let Some(node) = schema.as_object() else {
        out.push(format!("{at}: not an object"));
        return;
    };
    let typed = node.get("type").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
    let exempt =
        node.contains_key("x-kubernetes-int-or-string") || node.contains_key("x-kubernetes-preserve-unknown-fields");
    if !typed && !exempt {
        out.push(format!("{at}: no type"));
    }
    for forbidden in [
        "$ref",
        "definitions",
        "$defs",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "additionalItems",
        "patternProperties",
        "dependencies",
        "uniqueItems",
    ] {
        if node.contains_key(forbidden) {
            out.push(format!("{at}: uses {forbidden}"));
        }
    }
    if node.contains_key("properties") && node.contains_key("additionalProperties") {
        out.push(format!("{at}: properties together with additionalProperties"));
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            structural_violations(property, &format!("{at}.{name}"), out);
        }
    }
    if let Some(items) = node.get("items") {
        structural_violations(items, &format!("{at}[]"), out);
        if let Some(keys) = node.get("x-kubernetes-list-map-keys").and_then(Value::as_array) {
            let required = items["required"].as_array().cloned().unwrap_or_default();
            for key in keys {
                if !required.contains(key) {
                    out.push(format!("{at}: map key {key} is not required in the items"));
                }
            }
        }
    }
    if let Some(Value::Object(_)) = node.get("additionalProperties") {
        structural_violations(&node["additionalProperties"], &format!("{at}{{}}"), out);
    }
}

fn schema_of(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
}

#[test]
fn crd_schemas_are_structural() {
    for path in ["crds/tenants.replenish.dev.yaml", "crds/devices.replenish.dev.yaml"] {
        let crd = read_yaml(path);
        let mut violations = Vec::new();
        structural_violations(schema_of(&crd), "", &mut violations);
        assert!(violations.is_empty(), "{path} is not structural: {violations:#?}");
    }
    // The checker itself catches what it should.
    let mut violations = Vec::new();
    let bad = serde_json::json!({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}, "b": {}}});
    structural_violations(&bad, "", &mut violations);
    assert_eq!(violations.len(), 3, "{violations:?}");
}

#[test]
fn crds_have_the_names_columns_and_scopes_the_issue_asks_for() {
    let tenant = read_yaml("crds/tenants.replenish.dev.yaml");
    let device = read_yaml("crds/devices.replenish.dev.yaml");
    let columns = |crd: &Value| -> Vec<String> {
        crd["spec"]["versions"][0]["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(tenant["spec"]["scope"], "Cluster");
    assert_eq!(device["spec"]["scope"], "Namespaced");
    assert_eq!(tenant["spec"]["names"]["shortNames"][0], "tn");
    assert_eq!(device["spec"]["names"]["shortNames"][0], "dev");
    for crd in [&tenant, &device] {
        assert_eq!(crd["spec"]["group"], "replenish.dev");
        assert_eq!(crd["spec"]["versions"][0]["name"], "v1alpha1");
        assert_eq!(crd["spec"]["names"]["categories"][0], "replenish");
        assert!(crd["spec"]["versions"][0]["subresources"]["status"].is_object());
        let conditions = &schema_of(crd)["properties"]["status"]["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map");
        assert_eq!(conditions["x-kubernetes-list-map-keys"][0], "type");
        // YAML must keep these strings, not turn them into booleans.
        assert_eq!(
            conditions["items"]["properties"]["status"]["enum"],
            serde_json::json!(["True", "False", "Unknown"])
        );
    }
    assert_eq!(columns(&tenant), ["Plan", "Isolation", "Ready", "Devices", "Webhooks", "Age"]);
    assert_eq!(columns(&device), ["Store", "Model", "Ready", "Age"]);
    let scaling = &schema_of(&tenant)["properties"]["spec"]["properties"]["scaling"];
    assert_eq!(scaling["x-kubernetes-validations"][0]["rule"], "self.maxReplicas >= self.minReplicas");
}

/// A small validator of an object against an OpenAPI schema: types, enums, required
/// fields, bounds, and (as the API server would prune them) unknown fields.
fn schema_violations(value: &Value, schema: &Value, at: &str, out: &mut Vec<String>) {
    let ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        _ => true,
    };
    let null_allowed = value.is_null() && schema["nullable"] == true;
    if !(ok || null_allowed) {
        out.push(format!("{at}: wrong type"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(format!("{at}: {value} not in {allowed:?}"));
    }
    if let (Some(n), Some(min)) = (value.as_f64(), schema["minimum"].as_f64())
        && n < min
    {
        out.push(format!("{at}: below {min}"));
    }
    if let (Some(n), Some(max)) = (value.as_f64(), schema["maximum"].as_f64())
        && n > max
    {
        out.push(format!("{at}: above {max}"));
    }
    if let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            schema_violations(item, item_schema, &format!("{at}[{i}]"), out);
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema["properties"].as_object();
        for required in schema["required"].as_array().into_iter().flatten() {
            if !object.contains_key(required.as_str().unwrap_or_default()) {
                out.push(format!("{at}: missing {required}"));
            }
        }
        for (key, field) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(sub) => schema_violations(field, sub, &format!("{at}.{key}"), out),
                None if properties.is_some()
                    && !(at.is_empty() && ["apiVersion", "kind", "metadata"].contains(&key.as_str())) =>
                {
                    out.push(format!("{at}.{key}: unknown field"))
                }
                None => {}
            }
        }
    }
}

#[test]
fn examples_are_valid_against_the_crds() {
    for (example, crd) in [
        ("examples/tenant.yaml", "crds/tenants.replenish.dev.yaml"),
        ("examples/device.yaml", "crds/devices.replenish.dev.yaml"),
        ("examples/tenant-webhooks.yaml", "crds/tenants.replenish.dev.yaml"),
    ] {
        let mut violations = Vec::new();
        schema_violations(&read_yaml(example), schema_of(&read_yaml(crd)), "", &mut violations);
        assert!(violations.is_empty(), "{example}: {violations:#?}");
    }
    // And the validator does reject what the API server would.
    let mut bad = read_yaml("examples/tenant.yaml");
    bad["spec"]["plan"] = "platinum".into();
    bad["spec"]["scaling"]["minReplicas"] = 0.into();
    bad["spec"]["displayname"] = "typo".into();
    let mut violations = Vec::new();
    schema_violations(&bad, schema_of(&read_yaml("crds/tenants.replenish.dev.yaml")), "", &mut violations);
    assert_eq!(violations.len(), 3, "{violations:#?}");
    // A webhook's event types are the app's names, nothing else.
    let mut typo = read_yaml("examples/tenant-webhooks.yaml");
    typo["spec"]["webhooks"][0]["eventTypes"][0] = "order.confirm".into();
    let mut violations = Vec::new();
    schema_violations(&typo, schema_of(&read_yaml("crds/tenants.replenish.dev.yaml")), "", &mut violations);
    assert_eq!(violations.len(), 1, "{violations:#?}");
}

/// The CRDs' CEL rules (`x-kubernetes-validations`), evaluated client-side as the API server would.
fn cel_errors(crd: &str, object: &Value) -> Vec<String> {
    match kube::core::cel::Validator::new().validate(schema_of(&read_yaml(crd)), object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_vec().into_iter().map(|e| e.message).collect(),
    }
}

#[test]
fn cel_rules_accept_the_examples_and_reject_what_they_should() {
    let tenants = "crds/tenants.replenish.dev.yaml";
    let devices = "crds/devices.replenish.dev.yaml";
    let tenant = read_yaml("examples/tenant.yaml");
    assert_eq!(cel_errors(tenants, &tenant), Vec::<String>::new());
    assert_eq!(cel_errors(devices, &read_yaml("examples/device.yaml")), Vec::<String>::new());

    let mut inverted = tenant.clone();
    inverted["spec"]["scaling"]["minReplicas"] = 7.into();
    assert_eq!(cel_errors(tenants, &inverted), ["maxReplicas must be at least minReplicas"]);
    let mut long = tenant.clone();
    long["metadata"]["name"] = "a".repeat(57).into();
    assert_eq!(cel_errors(tenants, &long), ["a tenant name is a DNS label of at most 56 characters"]);
    // Declared stores: a webhook needs a url; the webhook fields are for the webhook only.
    let mut stored = tenant.clone();
    let webhook = json!({"id": "main", "name": "Main", "commerce": {"provider": "webhook",
        "url": "https://shop.example/orders", "secretRef": {"name": "shop", "key": "secret"}}});
    stored["spec"]["stores"] = json!([webhook]);
    assert_eq!(cel_errors(tenants, &stored), Vec::<String>::new());
    stored["spec"]["stores"][0]["commerce"].as_object_mut().unwrap().remove("url");
    assert_eq!(cel_errors(tenants, &stored), ["the webhook provider needs a url"]);
    stored["spec"]["stores"][0]["commerce"]["provider"] = "mock".into();
    assert_eq!(cel_errors(tenants, &stored), ["url, cancelUrl and secretRef are for the webhook provider only"]);
    let mut dotted = read_yaml("examples/device.yaml");
    dotted["metadata"]["name"] = "kitchen.glasses".into();
    assert_eq!(cel_errors(devices, &dotted), ["a device name is a DNS label"]);
}

#[test]
fn examples_produce_the_objects_they_describe() {
    let mut tenant: Tenant = serde_json::from_value(read_yaml("examples/tenant.yaml")).unwrap();
    tenant.metadata.uid = Some("uid-example".into());
    let defaults = PlanDefaults::default();
    let request = tenant::app_request(&tenant, &defaults);
    assert_eq!((request.plan.as_str(), request.display_name.as_str()), ("growth", "Acme Corp"));
    assert_eq!(request.limits.device_per_minute, Some(120));
    assert_eq!(request.limits.tenant_per_second, Some(400));
    assert_eq!(request.limits.daily_order_budget_usd, Some(250.0));
    assert_eq!(request.limits.cooldown_seconds, Some(600));
    assert_eq!(tenant::namespace(&tenant).metadata.name.as_deref(), Some("tenant-acme"));
    let app = &replenish_operator::config::DedicatedAppSettings::default();
    let inputs = tenant::DedicatedInputs {
        defaults: &defaults,
        image: "img",
        namespace: "replenish",
        env_secret_name: "env",
        app,
    };
    let dedicated = tenant::dedicated(&tenant, inputs).expect("the example is dedicated");
    let hpa = dedicated.hpa.spec.unwrap();
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(2), 6));
    assert_eq!(hpa.metrics.unwrap()[0].resource.as_ref().unwrap().target.average_utilization, Some(70));

    let device: Device = serde_json::from_value(read_yaml("examples/device.yaml")).unwrap();
    assert_eq!(
        device::tenant_of(&device).unwrap(),
        "acme",
        "the example device lives in the example tenant's namespace"
    );
    let request = device::app_request(&device).unwrap();
    assert_eq!(
        (request.store.as_str(), request.model.as_str(), request.owner.as_str()),
        ("main", "spectacles-5", "household-1")
    );
    assert_eq!(request.serial.as_deref(), Some("SN-000123"));
}

#[test]
fn example_plan_defaults_load_and_drive_the_dedicated_app() {
    let defaults = PlanDefaults::from_file(&repo_file("examples/plan-defaults.yaml")).unwrap();
    assert_eq!(defaults.profile(replenish_operator::crd::Plan::Enterprise).max_replicas, 10);
    let mut tenant: Tenant = serde_json::from_value(read_yaml("examples/tenant.yaml")).unwrap();
    tenant.spec.scaling = None;
    tenant.spec.limits = None;
    let app = &replenish_operator::config::DedicatedAppSettings::default();
    let inputs = tenant::DedicatedInputs {
        defaults: &defaults,
        image: "img",
        namespace: "replenish",
        env_secret_name: "env",
        app,
    };
    let hpa = tenant::dedicated(&tenant, inputs).unwrap().hpa.spec.unwrap();
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(2), 5), "growth's bounds from the file");
    assert_eq!(tenant::app_request(&tenant, &defaults).limits.tenant_per_second, Some(500));
}
