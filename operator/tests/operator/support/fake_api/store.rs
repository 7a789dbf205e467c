//! The fake's object store: versions, generations, finalizers and garbage collection.

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{Value, json};

use super::wire::status;

/// (group/version/resource, namespace or "", name)
pub type Key = (String, String, String);

/// Kinds whose status is a subresource.
const STATUS_SUBRESOURCE: &[&str] =
    &["tenants", "devices", "deployments", "services", "horizontalpodautoscalers", "namespaces"];

#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    pub key: Key,
    pub kind: &'static str,
    pub object: Value,
}

#[derive(Default)]
pub struct State {
    pub rv: u64,
    pub uids: u64,
    pub objects: BTreeMap<Key, Value>,
    pub log: Vec<Change>,
    pub requests: Vec<String>,
}

/// Recursive JSON merge: objects merge key by key, anything else replaces; null deletes.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// Everything outside metadata and status: a change here bumps the generation.
fn spec_part(object: &Value) -> Value {
    let mut v = object.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    v
}

/// The object without the fields the server maintains, for "did anything change".
fn comparable(object: &Value) -> Value {
    let mut v = object.clone();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    v
}

impl State {
    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Stores `object` under `key` unless nothing changed; returns the stored object.
    pub fn commit(&mut self, key: &Key, mut object: Value, changed: &tokio::sync::watch::Sender<u64>) -> Value {
        let old = self.objects.get(key).cloned();
        if let Some(old) = &old
            && comparable(old) == comparable(&object)
        {
            return old.clone();
        }
        let rv = self.next_rv();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        self.log.push(Change { rv, key: key.clone(), kind, object: object.clone() });
        self.objects.insert(key.clone(), object.clone());
        changed.send_replace(rv);
        // The last finalizer gone from an object being deleted: it goes now.
        let deleting = !object["metadata"]["deletionTimestamp"].is_null();
        let finalizers = object["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
        if deleting && !finalizers {
            self.remove(key, changed);
        }
        object
    }

    fn remove(&mut self, key: &Key, changed: &tokio::sync::watch::Sender<u64>) {
        let Some(mut object) = self.objects.remove(key) else { return };
        let rv = self.next_rv();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let uid = object["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
        self.log.push(Change { rv, key: key.clone(), kind: "DELETED", object });
        changed.send_replace(rv);
        // Garbage collection: dependents by owner uid, and a namespace's contents.
        let dependents: Vec<Key> = self
            .objects
            .iter()
            .filter(|(k, o)| {
                let owned = o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(uid.as_str())));
                owned || (key.0 == "v1/namespaces" && k.1 == key.2)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for dependent in dependents {
            self.delete(&dependent, changed);
        }
    }

    /// Starts deletion: with finalizers the object only gets a deletionTimestamp.
    pub fn delete(&mut self, key: &Key, changed: &tokio::sync::watch::Sender<u64>) -> Option<Value> {
        let mut object = self.objects.get(key)?.clone();
        let finalizers = object["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
        if !finalizers {
            self.remove(key, changed);
            return None;
        }
        if object["metadata"]["deletionTimestamp"].is_null() {
            object["metadata"]["deletionTimestamp"] = json!(now());
            let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
            object["metadata"]["generation"] = json!(generation + 1);
            return Some(self.commit(key, object, changed));
        }
        Some(object)
    }

    /// A new object: server-maintained metadata filled in.
    pub fn created(&mut self, key: &Key, mut object: Value) -> Value {
        self.uids += 1;
        let meta = &mut object["metadata"];
        meta["name"] = json!(key.2);
        if !key.1.is_empty() {
            meta["namespace"] = json!(key.1);
        }
        meta["uid"] = json!(format!("uid-{}", self.uids));
        meta["creationTimestamp"] = json!(now());
        meta["generation"] = json!(1);
        if let Some(m) = meta.as_object_mut() {
            m.remove("resourceVersion");
            m.remove("deletionTimestamp");
        }
        if has_status_subresource(&key.0)
            && let Some(o) = object.as_object_mut()
        {
            o.remove("status");
        }
        object
    }

    /// `new` as the next version of `old`: status and spec kept apart, server metadata kept, generation counted.
    pub fn updated(key: &Key, old: &Value, mut new: Value, status_write: bool) -> Value {
        let gvr_has_status = has_status_subresource(&key.0);
        if status_write {
            let status = new["status"].clone();
            new = old.clone();
            new["status"] = status;
        } else if gvr_has_status {
            new["status"] = old["status"].clone();
            if new["status"].is_null()
                && let Some(o) = new.as_object_mut()
            {
                o.remove("status");
            }
        }
        for field in ["uid", "creationTimestamp", "deletionTimestamp", "generation", "name", "namespace"] {
            if old["metadata"][field].is_null() {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(field);
                }
            } else {
                new["metadata"][field] = old["metadata"][field].clone();
            }
        }
        if spec_part(&new) != spec_part(old) {
            new["metadata"]["generation"] = json!(old["metadata"]["generation"].as_i64().unwrap_or(0) + 1);
        }
        new
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn has_status_subresource(gvr: &str) -> bool {
    STATUS_SUBRESOURCE.iter().any(|r| gvr.ends_with(&format!("/{r}")))
}

/// 409 when the body names a resourceVersion other than the stored one.
pub fn stale(old: &Value, body: &Value) -> Option<(StatusCode, Value)> {
    let sent = body["metadata"]["resourceVersion"].as_str()?;
    let stored = old["metadata"]["resourceVersion"].as_str().unwrap_or_default();
    (sent != stored).then(|| {
        status(409, "Conflict", format!("the object has been modified (resourceVersion {sent} is not {stored})"))
    })
}
