//! An in-process fake Kubernetes API server behind `tower::Service`, so a real
//! `kube::Client` (and with it the whole kube-runtime `Controller`) runs in `cargo test`.
//!
//! It keeps JSON objects in a map keyed by (group/version/resource, namespace, name) and a
//! log of every change, and emulates:
//! - create (POST), get, list, replace (PUT), delete, and watch (`?watch=true`, streamed
//!   from the change log after the given `resourceVersion`);
//! - one global, increasing `resourceVersion`; a write carrying a stale
//!   `metadata.resourceVersion` fails with 409 Conflict; creating an existing name fails with 409;
//! - PATCH as server-side apply (creates the object when missing), JSON merge patch, and
//!   JSON patch (with `test`, as kube-runtime's finalizer helper uses);
//! - the status subresource: writes to the object keep its status, writes to `/status` change
//!   only the status (for the kinds that have one);
//! - `metadata.generation`: 1 on create, +1 when anything outside metadata/status changes and
//!   when deletion starts; writes that change nothing are not writes (no new resourceVersion,
//!   no watch event), as with the real API server;
//! - finalizers: DELETE of an object with finalizers only sets `deletionTimestamp`; the object
//!   goes when the last finalizer is removed;
//! - garbage collection, at once: removing an object removes the objects whose
//!   `ownerReferences` name its uid, and removing a Namespace removes what is in it;
//! - equality label selectors (`k=v,k2=v2`) on list and watch.
//!
//! It does NOT emulate: managedFields or field ownership (server-side apply is a recursive
//! merge of the applied object into the stored one: objects merge, arrays and scalars are
//! replaced, and fields a manager stops applying are not removed); strategic merge patch;
//! schema validation, defaulting and CEL rules; admission; RBAC; `410 Gone` for old
//! resource versions (the whole log is kept); bookmarks; pagination (`limit` is ignored);
//! field selectors; namespace phases (a Namespace is removed at once); controllers such as
//! the Deployment or HPA controllers (no Pods, no status written by anyone but clients).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame};
use serde_json::{Value, json};

/// (group/version/resource, namespace or "", name)
pub type Key = (String, String, String);

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Kinds whose status is a subresource.
const STATUS_SUBRESOURCE: &[&str] =
    &["tenants", "devices", "deployments", "services", "horizontalpodautoscalers", "namespaces"];

#[derive(Debug, Clone)]
struct Change {
    rv: u64,
    key: Key,
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct State {
    rv: u64,
    uids: u64,
    objects: BTreeMap<Key, Value>,
    log: Vec<Change>,
    requests: Vec<String>,
}

/// The fake API server; clones share state.
#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    changed: Arc<tokio::sync::watch::Sender<u64>>,
    agent: &'static str,
}

impl Default for FakeApi {
    fn default() -> Self {
        Self { state: Arc::default(), changed: Arc::new(tokio::sync::watch::channel(0).0), agent: "client" }
    }
}

struct Target {
    gvr: String,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (gv, rest) = match segs.first()? {
        &"api" => (segs.get(1)?.to_string(), &segs[2..]),
        &"apis" => (format!("{}/{}", segs.get(1)?, segs.get(2)?), &segs[3..]),
        _ => return None,
    };
    let (namespace, rest) = if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        (Some(rest[1].to_owned()), &rest[2..])
    } else {
        (None, rest)
    };
    Some(Target {
        gvr: format!("{gv}/{}", rest.first()?),
        namespace,
        name: rest.get(1).map(|s| (*s).to_owned()),
        status: rest.get(2) == Some(&"status"),
    })
}

fn query(uri: &http::Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn selector_matches(selector: Option<&String>, object: &Value) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else { return true };
    selector.split(',').all(|term| match term.split_once('=') {
        Some((k, v)) => object["metadata"]["labels"][k].as_str() == Some(v.trim_start_matches('=')),
        None => true,
    })
}

fn status(code: u16, reason: &str, message: String) -> (StatusCode, Value) {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), body)
}

fn not_found(key: &Key) -> (StatusCode, Value) {
    status(404, "NotFound", format!("{} {:?} not found", key.0, key.2))
}

/// Recursive JSON merge: objects merge key by key, anything else replaces; null deletes.
fn merge(target: &mut Value, patch: &Value) {
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
    fn commit(&mut self, key: &Key, mut object: Value, changed: &tokio::sync::watch::Sender<u64>) -> Value {
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
    fn delete(&mut self, key: &Key, changed: &tokio::sync::watch::Sender<u64>) -> Option<Value> {
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
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl FakeApi {
    /// A clone of a stored object.
    pub fn get(&self, gvr: &str, namespace: &str, name: &str) -> Option<Value> {
        let state = self.state.lock().unwrap();
        state.objects.get(&(gvr.to_owned(), namespace.to_owned(), name.to_owned())).cloned()
    }

    /// All stored objects of a resource (any namespace).
    pub fn list(&self, gvr: &str) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state.objects.iter().filter(|(k, _)| k.0 == gvr).map(|(_, v)| v.clone()).collect()
    }

    /// How many changes were stored so far (each create, update or delete counts one).
    pub fn writes(&self) -> u64 {
        self.state.lock().unwrap().log.len() as u64
    }

    /// The changes stored after the first `since` ones, as "TYPE gvr ns/name".
    pub fn changes_since(&self, since: u64) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state.log[since as usize..].iter().map(|c| format!("{} {} {}/{}", c.kind, c.key.0, c.key.1, c.key.2)).collect()
    }

    /// The same server, recording requests made through it as `agent`'s.
    pub fn as_agent(&self, agent: &'static str) -> Self {
        Self { agent, ..self.clone() }
    }

    /// Every request `agent` made, as "METHOD path?query STATUS".
    pub fn requests(&self, agent: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state.requests.iter().filter_map(|r| r.strip_prefix(&format!("{agent} "))).map(str::to_owned).collect()
    }

    /// Every version of every object ever stored.
    pub fn history(&self) -> Vec<Value> {
        self.state.lock().unwrap().log.iter().map(|c| c.object.clone()).collect()
    }

    async fn handle(self, request: Request<kube::client::Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let path = parts.uri.path().to_owned();
        let params = query(&parts.uri);
        let Some(target) = parse_path(&path) else {
            return respond(status(404, "NotFound", format!("no route {path}")));
        };
        let record = |code: StatusCode| {
            let line = format!("{} {} {} {}", self.agent, parts.method, parts.uri, code.as_u16());
            self.state.lock().unwrap().requests.push(line);
        };
        if parts.method == Method::GET
            && target.name.is_none()
            && params.get("watch").is_some_and(|w| w == "true" || w == "1")
        {
            record(StatusCode::OK);
            return self.watch(target, params);
        }
        let content_type =
            parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        let (code, body) = self.dispatch(&parts.method, target, &params, &content_type, body);
        record(code);
        respond((code, body))
    }

    fn dispatch(
        &self,
        method: &Method,
        target: Target,
        params: &BTreeMap<String, String>,
        content_type: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut state = self.state.lock().unwrap();
        let ns = target.namespace.clone().unwrap_or_default();
        let Some(name) = target.name.clone() else {
            return match *method {
                Method::GET => {
                    let items: Vec<Value> = state
                        .objects
                        .iter()
                        .filter(|(k, _)| k.0 == target.gvr && (target.namespace.is_none() || k.1 == ns))
                        .filter(|(_, o)| selector_matches(params.get("labelSelector"), o))
                        .map(|(_, o)| o.clone())
                        .collect();
                    let rv = state.rv.to_string();
                    (
                        StatusCode::OK,
                        json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items}),
                    )
                }
                Method::POST => {
                    let name = body["metadata"]["name"].as_str().unwrap_or_default().to_owned();
                    let key = (target.gvr.clone(), ns, name);
                    if state.objects.contains_key(&key) {
                        return status(409, "AlreadyExists", format!("{} {:?} already exists", key.0, key.2));
                    }
                    let object = self.created(&mut state, &key, body);
                    (StatusCode::CREATED, state.commit(&key, object, &self.changed))
                }
                _ => status(405, "MethodNotAllowed", format!("{method} on a collection")),
            };
        };
        let key = (target.gvr.clone(), ns, name);
        let existing = state.objects.get(&key).cloned();
        match (method.clone(), existing) {
            (Method::GET, Some(object)) => (StatusCode::OK, object),
            (Method::DELETE, Some(_)) => match state.delete(&key, &self.changed) {
                Some(object) => (StatusCode::OK, object),
                None => (
                    StatusCode::OK,
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 200}),
                ),
            },
            (Method::PUT, Some(old)) => {
                if let Some(conflict) = stale(&old, &body) {
                    return conflict;
                }
                let new = self.updated(&old, body, target.status);
                (StatusCode::OK, state.commit(&key, new, &self.changed))
            }
            (Method::PATCH, existing) => {
                let apply = content_type.starts_with("application/apply-patch");
                let Some(old) = existing else {
                    if apply && !target.status {
                        let object = self.created(&mut state, &key, body);
                        return (StatusCode::CREATED, state.commit(&key, object, &self.changed));
                    }
                    return not_found(&key);
                };
                if let Some(conflict) = stale(&old, &body) {
                    return conflict;
                }
                let mut patched = old.clone();
                if content_type.starts_with("application/json-patch") {
                    let Ok(patch) = serde_json::from_value::<json_patch::Patch>(body) else {
                        return status(400, "BadRequest", "malformed JSON patch".into());
                    };
                    // Like the API server, a `test` of a missing field against null passes.
                    if patched["metadata"]["finalizers"].is_null() {
                        patched["metadata"]["finalizers"] = Value::Null;
                    }
                    if let Err(e) = json_patch::patch(&mut patched, &patch) {
                        return status(422, "Invalid", format!("JSON patch failed: {e}"));
                    }
                    if patched["metadata"]["finalizers"].is_null()
                        && let Some(m) = patched["metadata"].as_object_mut()
                    {
                        m.remove("finalizers");
                    }
                } else {
                    // Server-side apply and merge patch alike: see the module doc.
                    merge(&mut patched, &body);
                }
                let new = self.updated(&old, patched, target.status);
                (StatusCode::OK, state.commit(&key, new, &self.changed))
            }
            (_, None) => not_found(&key),
            (method, Some(_)) => status(405, "MethodNotAllowed", format!("{method} on an object")),
        }
    }

    /// A new object: server-maintained metadata filled in.
    fn created(&self, state: &mut State, key: &Key, mut object: Value) -> Value {
        state.uids += 1;
        let meta = &mut object["metadata"];
        meta["name"] = json!(key.2);
        if !key.1.is_empty() {
            meta["namespace"] = json!(key.1);
        }
        meta["uid"] = json!(format!("uid-{}", state.uids));
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
    fn updated(&self, old: &Value, mut new: Value, status_write: bool) -> Value {
        let gvr_has_status = old["apiVersion"].is_string() && self.kind_has_status(old);
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

    fn kind_has_status(&self, object: &Value) -> bool {
        let kind = object["kind"].as_str().unwrap_or_default();
        ["Tenant", "Device", "Deployment", "Service", "HorizontalPodAutoscaler", "Namespace"].contains(&kind)
    }

    fn watch(&self, target: Target, params: BTreeMap<String, String>) -> Response<Body> {
        let since: u64 = params.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
        let state = self.state.clone();
        let rx = self.changed.subscribe();
        let stream = futures_util::stream::unfold((since, rx), move |(mut cursor, mut rx)| {
            let state = state.clone();
            let target_gvr = target.gvr.clone();
            let target_ns = target.namespace.clone();
            let selector = params.get("labelSelector").cloned();
            async move {
                loop {
                    let lines: String = {
                        let state = state.lock().unwrap();
                        let lines = state
                            .log
                            .iter()
                            .filter(|c| c.rv > cursor && c.key.0 == target_gvr)
                            .filter(|c| target_ns.as_ref().is_none_or(|ns| &c.key.1 == ns))
                            .filter(|c| selector_matches(selector.as_ref(), &c.object))
                            .map(|c| format!("{}\n", json!({"type": c.kind, "object": c.object})))
                            .collect();
                        cursor = state.rv;
                        lines
                    };
                    if !lines.is_empty() {
                        return Some((Ok(Frame::data(Bytes::from(lines))), (cursor, rx)));
                    }
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            }
        });
        let mut response = Response::new(StreamBody::new(stream).boxed_unsync());
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        response
    }
}

fn has_status_subresource(gvr: &str) -> bool {
    STATUS_SUBRESOURCE.iter().any(|r| gvr.ends_with(&format!("/{r}")))
}

/// 409 when the body names a resourceVersion other than the stored one.
fn stale(old: &Value, body: &Value) -> Option<(StatusCode, Value)> {
    let sent = body["metadata"]["resourceVersion"].as_str()?;
    let stored = old["metadata"]["resourceVersion"].as_str().unwrap_or_default();
    (sent != stored).then(|| {
        status(409, "Conflict", format!("the object has been modified (resourceVersion {sent} is not {stored})"))
    })
}

fn respond((code, body): (StatusCode, Value)) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed_unsync());
    *response.status_mut() = code;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

impl tower::Service<Request<kube::client::Body>> for FakeApi {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<kube::client::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(request).await) })
    }
}
