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
//! field selectors; `timeoutSeconds` (a watch stays open until the client drops it); delete
//! options (propagation policy, preconditions); `dryRun`; namespace phases (a Namespace is
//! removed at once, and objects cannot be refused for a missing namespace); controllers such
//! as the Deployment or HPA controllers (no Pods, no status written by anyone but clients).
//! What it does emulate is itself tested in `fake_api_behaviour.rs`.
//!
//! Tests can also make requests hang ([`FakeApi::stall`], as a wedged connection would) and
//! serve the fake over plain HTTP ([`FakeApi::serve_http`]) for a child process to use.

mod store;
mod wire;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Bytes, Frame};
use serde_json::{Value, json};

use store::{State, merge, stale};
use wire::{Body, Target, not_found, parse_path, query, respond, selector_matches, status};

/// The fake API server; clones share state.
#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    changed: Arc<tokio::sync::watch::Sender<u64>>,
    /// Requests whose URI contains this text hang until it is cleared.
    stalled: Arc<tokio::sync::watch::Sender<Option<String>>>,
    agent: &'static str,
}

impl Default for FakeApi {
    fn default() -> Self {
        Self {
            state: Arc::default(),
            changed: Arc::new(tokio::sync::watch::channel(0).0),
            stalled: Arc::new(tokio::sync::watch::channel(None).0),
            agent: "client",
        }
    }
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

    /// Every stored object in `namespace`, of any resource: (gvr, name, object).
    pub fn objects_in(&self, namespace: &str) -> Vec<(String, String, Value)> {
        let state = self.state.lock().unwrap();
        state
            .objects
            .iter()
            .filter(|(k, _)| k.1 == namespace)
            .map(|(k, v)| (k.0.clone(), k.2.clone(), v.clone()))
            .collect()
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

    /// From now on, requests whose URI contains `pattern` get no answer until [`FakeApi::unstall`].
    pub fn stall(&self, pattern: &str) {
        self.stalled.send_replace(Some(pattern.to_owned()));
    }

    /// Lets stalled requests (and later ones) through again.
    pub fn unstall(&self) {
        self.stalled.send_replace(None);
    }

    /// Serves this fake over plain HTTP on a free local port, for a separate process.
    pub async fn serve_http(&self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind fake API");
        let addr = listener.local_addr().expect("address");
        let fake = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let fake = fake.clone();
                let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let fake = fake.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let request = Request::from_parts(parts, kube::client::Body::from(bytes));
                        Ok::<_, Infallible>(fake.handle(request).await)
                    }
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        addr
    }

    /// Every version of every object ever stored.
    pub fn history(&self) -> Vec<Value> {
        self.state.lock().unwrap().log.iter().map(|c| c.object.clone()).collect()
    }

    async fn handle(self, request: Request<kube::client::Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let mut stalled = self.stalled.subscribe();
        let uri = parts.uri.to_string();
        let _ = stalled.wait_for(|p| p.as_ref().is_none_or(|p| !uri.contains(p.as_str()))).await;
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
                    let object = state.created(&key, body);
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
                let new = State::updated(&key, &old, body, target.status);
                (StatusCode::OK, state.commit(&key, new, &self.changed))
            }
            (Method::PATCH, existing) => {
                let apply = content_type.starts_with("application/apply-patch");
                let Some(old) = existing else {
                    if apply && !target.status {
                        let object = state.created(&key, body);
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
                let new = State::updated(&key, &old, patched, target.status);
                (StatusCode::OK, state.commit(&key, new, &self.changed))
            }
            (_, None) => not_found(&key),
            (method, Some(_)) => status(405, "MethodNotAllowed", format!("{method} on an object")),
        }
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
