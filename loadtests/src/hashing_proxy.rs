//! A small HTTP/1.1 load balancer standing in for the Ingress in `bench-replicas`.
//!
//! A device's actor is only coherent when one replica serves that device, so the chart's Ingress
//! hashes on the device's token. This proxy does the same in front of N local app processes:
//! policy `hash` picks an upstream by rendezvous (highest random weight) hashing of the
//! `Authorization` header, `round-robin` ignores it. Either way it counts requests per upstream and
//! *misrouted* requests: a request whose token first went to one upstream and now reaches another.
//!
//! It is hyper on both sides (the server connection and one client connection per upstream per
//! downstream connection), bodies streamed through without copies: a relay that parses headers once
//! and costs the box far less than the app behind it. `GET /_proxy/stats` answers the counters as
//! JSON instead of being forwarded.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use http_body_util::{Either, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// The path the proxy answers itself with its [`ProxyStats`].
pub const STATS_PATH: &str = "/_proxy/stats";

/// How the proxy picks an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Rendezvous hashing of the `Authorization` header: one device, one upstream.
    Hash,
    /// Each request to the next upstream in turn, whoever sent it.
    RoundRobin,
}

impl std::str::FromStr for Policy {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "hash" => Ok(Self::Hash),
            "round-robin" => Ok(Self::RoundRobin),
            other => Err(Error::Config(format!("unknown proxy policy {other} (hash or round-robin)"))),
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Hash => "hash",
            Self::RoundRobin => "round-robin",
        })
    }
}

/// What the proxy has seen since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStats {
    /// Requests routed to each upstream, in the order the upstreams were given.
    pub requests: Vec<u64>,
    /// Requests that reached an upstream other than the one that first served their token.
    pub misrouted: u64,
    /// Distinct tokens seen.
    pub tokens: u64,
    /// Requests answered 502 because the upstream could not be reached or broke off.
    pub errors: u64,
}

/// FNV-1a, 64 bits: a stable hash of the token (the standard library's may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// SplitMix64's finaliser: spreads FNV's weak low bits over the whole word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn rendezvous_of(key_hash: u64, upstreams: usize) -> usize {
    // Highest random weight: adding or removing an upstream moves only the keys it wins or held.
    (0..upstreams).max_by_key(|&i| mix(key_hash ^ mix(i as u64 + 1))).unwrap_or(0)
}

/// The upstream (0..`upstreams`) rendezvous hashing gives `key`.
pub fn rendezvous(key: &[u8], upstreams: usize) -> usize {
    rendezvous_of(fnv1a(key), upstreams)
}

struct Shared {
    upstreams: Vec<SocketAddr>,
    policy: Policy,
    next: AtomicUsize,
    requests: Vec<AtomicU64>,
    misrouted: AtomicU64,
    errors: AtomicU64,
    /// Token hash → the upstream that served it first. A 64-bit hash, not the token: a collision
    /// among a million tokens is a 1-in-30-million event.
    owners: Mutex<HashMap<u64, usize>>,
}

impl Shared {
    /// Picks the upstream for a request with `key` (its `Authorization`) and counts it.
    fn route(&self, key: Option<&[u8]>) -> usize {
        let n = self.upstreams.len();
        let hash = key.map(fnv1a);
        let chosen = match self.policy {
            Policy::Hash => rendezvous_of(hash.unwrap_or(0), n),
            Policy::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % n,
        };
        self.requests[chosen].fetch_add(1, Ordering::Relaxed);
        if let Some(hash) = hash {
            let owner = *self.owners.lock().unwrap_or_else(PoisonError::into_inner).entry(hash).or_insert(chosen);
            if owner != chosen {
                self.misrouted.fetch_add(1, Ordering::Relaxed);
            }
        }
        chosen
    }

    fn stats(&self) -> ProxyStats {
        ProxyStats {
            requests: self.requests.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
            misrouted: self.misrouted.load(Ordering::Relaxed),
            tokens: self.owners.lock().unwrap_or_else(PoisonError::into_inner).len() as u64,
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

type Body = Either<Incoming, Full<Bytes>>;
/// One client connection per upstream, per downstream connection: HTTP/1.1 has one request in
/// flight per connection, so a slot is taken for a request and put back when its answer came.
type Slots = Arc<Mutex<Vec<Option<SendRequest<Incoming>>>>>;

fn plain(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    response
}

async fn connect(addr: SocketAddr) -> Option<SendRequest<Incoming>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    // Ends by itself when the sender is dropped or the upstream closes.
    tokio::spawn(connection);
    Some(sender)
}

async fn forward(shared: Arc<Shared>, slots: Slots, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if request.uri().path() == STATS_PATH {
        let json = serde_json::to_vec(&shared.stats()).unwrap_or_default();
        return Ok(plain(StatusCode::OK, "application/json", json));
    }
    let upstream = shared.route(request.headers().get(AUTHORIZATION).map(|v| v.as_bytes()));
    let mut kept = slots.lock().unwrap_or_else(PoisonError::into_inner)[upstream].take();
    // A kept connection the upstream closed (keep-alive timeout) is replaced before sending.
    if let Some(sender) = kept.as_mut()
        && sender.ready().await.is_err()
    {
        kept = None;
    }
    let mut sender = match kept {
        Some(sender) => sender,
        None => match connect(shared.upstreams[upstream]).await {
            Some(sender) => sender,
            None => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                return Ok(plain(StatusCode::BAD_GATEWAY, "text/plain", b"upstream unreachable".to_vec()));
            }
        },
    };
    match sender.send_request(request).await {
        Ok(response) => {
            slots.lock().unwrap_or_else(PoisonError::into_inner)[upstream] = Some(sender);
            Ok(response.map(Either::Left))
        }
        Err(_) => {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            Ok(plain(StatusCode::BAD_GATEWAY, "text/plain", b"upstream broke off".to_vec()))
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let slots: Slots = Arc::new(Mutex::new((0..shared.upstreams.len()).map(|_| None).collect()));
    let service = hyper::service::service_fn(move |request| forward(shared.clone(), slots.clone(), request));
    // A client that goes away mid-request is its own business, not the proxy's.
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // The connections live in the set, so aborting this task (dropping the set) ends them all.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, shared.clone()));
                }
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// A running proxy; it stops (with every connection it holds) when dropped.
pub struct HashingProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl HashingProxy {
    /// Serves on `listener`, forwarding to `upstreams` by `policy`.
    pub fn start(listener: TcpListener, upstreams: Vec<SocketAddr>, policy: Policy) -> Result<Self> {
        if upstreams.is_empty() {
            return Err(Error::Config("the proxy needs at least one upstream".into()));
        }
        let addr = listener.local_addr().map_err(Error::io("reading the proxy's address"))?;
        let shared = Arc::new(Shared {
            requests: upstreams.iter().map(|_| AtomicU64::new(0)).collect(),
            upstreams,
            policy,
            next: AtomicUsize::new(0),
            misrouted: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            owners: Mutex::new(HashMap::new()),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self { addr, shared, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its counters so far.
    pub fn stats(&self) -> ProxyStats {
        self.shared.stats()
    }
}

impl Drop for HashingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs the proxy in this thread until the process ends, on a runtime of `workers` threads (the
/// `hashing-proxy` command: a process of its own, so its CPU time can be read apart from the
/// generator's). Prints the bound address first.
pub fn serve_forever(listen: &str, upstreams: Vec<SocketAddr>, policy: Policy, workers: usize) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .map_err(Error::io("starting the proxy's runtime"))?;
    runtime.block_on(async {
        let listener = TcpListener::bind(listen).await.map_err(Error::io(format!("binding {listen}")))?;
        let proxy = HashingProxy::start(listener, upstreams, policy)?;
        println!("{}", proxy.addr());
        std::future::pending::<()>().await;
        Ok(())
    })
}
