//! The `bench-replicas` hashing proxy over real sockets: two tiny upstream servers that answer
//! with their name and the body length they received, the proxy in front, reqwest as the client
//! (keep-alive, so one connection carries many devices' requests).

// A test fails by panicking; `expect` says where and why.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use replenish_loadtests::hashing_proxy::{HashingProxy, Policy, ProxyStats, STATS_PATH, rendezvous};
use tokio::net::TcpListener;

/// An upstream that answers `<name>:<bytes of the request body>`; runs until the test ends.
async fn upstream(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| async move {
                let body = request.into_body().collect().await.map(|b| b.to_bytes().len()).unwrap_or(0);
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!("{name}:{body}")))))
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    addr
}

async fn proxy(upstreams: Vec<SocketAddr>, policy: Policy) -> (HashingProxy, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = HashingProxy::start(listener, upstreams, policy).unwrap();
    let url = format!("http://{}", proxy.addr());
    (proxy, url)
}

const TOKENS: usize = 200;
const ROUNDS: usize = 3;

fn token(i: usize) -> String {
    format!("rpl_d_device-{i:04}-{}", i * 7919)
}

/// Every token `ROUNDS` times, each round starting one token later (so that a strict alternation
/// does not line up with the tokens); which upstream answered each request, by token.
async fn send_all(url: &str) -> HashMap<String, Vec<String>> {
    let http = reqwest::Client::new();
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for round in 0..ROUNDS {
        for i in (0..TOKENS).map(|i| (i + round) % TOKENS) {
            let body = "x".repeat(i + round);
            let answer = http
                .post(format!("{url}/api/v1/detections"))
                .bearer_auth(token(i))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success(), "{}", answer.status());
            let text = answer.text().await.unwrap();
            let (name, length) = text.split_once(':').unwrap();
            assert_eq!(length, body.len().to_string(), "the body reached the upstream whole");
            seen.entry(token(i)).or_default().push(name.to_owned());
        }
    }
    seen
}

#[tokio::test]
async fn hash_sends_each_token_to_one_upstream_and_spreads_tokens_evenly() {
    let upstreams = vec![upstream("a").await, upstream("b").await];
    let (proxy, url) = proxy(upstreams, Policy::Hash).await;
    let seen = send_all(&url).await;

    let mut per_upstream: HashMap<&str, usize> = HashMap::new();
    for (token, names) in &seen {
        assert!(names.iter().all(|n| n == &names[0]), "{token} went to {names:?}");
        // The upstream is the one rendezvous hashing of the whole header names.
        let expected = ["a", "b"][rendezvous(format!("Bearer {token}").as_bytes(), 2)];
        assert_eq!(names[0], expected, "{token}");
        *per_upstream.entry(names[0].as_str()).or_default() += 1;
    }
    // 200 tokens over two upstreams: 100 ± 7 (one standard deviation); 65 would be five away.
    for name in ["a", "b"] {
        let n = per_upstream.get(name).copied().unwrap_or(0);
        assert!((65..=135).contains(&n), "{name} owns {n} of {TOKENS} tokens: {per_upstream:?}");
    }
    let stats = proxy.stats();
    assert_eq!(stats.misrouted, 0);
    assert_eq!(stats.tokens, TOKENS as u64);
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.requests.iter().sum::<u64>(), (TOKENS * ROUNDS) as u64);
    assert_eq!(stats.requests[0], (per_upstream["a"] * ROUNDS) as u64);
}

#[tokio::test]
async fn round_robin_spreads_requests_and_counts_the_misrouted_ones() {
    let upstreams = vec![upstream("a").await, upstream("b").await];
    let (proxy, url) = proxy(upstreams, Policy::RoundRobin).await;
    let seen = send_all(&url).await;

    let split = seen.values().filter(|names| names.iter().any(|n| n != &names[0])).count();
    assert!(split > 0, "no token reached both upstreams");
    // Counted independently: every request after a token's first that reached another upstream.
    let expected: usize = seen.values().map(|names| names.iter().filter(|n| *n != &names[0]).count()).sum();
    let stats = proxy.stats();
    assert!(stats.misrouted > 0);
    assert_eq!(stats.misrouted, expected as u64);
    assert_eq!(stats.requests, vec![(TOKENS * ROUNDS / 2) as u64; 2], "strict alternation");
}

#[tokio::test]
async fn the_stats_path_answers_the_counters_and_a_dead_upstream_is_a_502() {
    let alive = upstream("a").await;
    // A port nobody listens on any more.
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let (proxy, url) = proxy(vec![alive, dead], Policy::RoundRobin).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(http.get(format!("{url}/x")).bearer_auth("t").send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, vec![200, 502, 200, 502]);
    let stats: ProxyStats = http.get(format!("{url}{STATS_PATH}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats, proxy.stats());
    assert_eq!(stats.errors, 2);
    assert_eq!(stats.requests, vec![2, 2]);
    assert_eq!(stats.misrouted, 2, "one token, alternating: every request to the second upstream");
}

#[test]
fn policies_parse_and_rendezvous_is_stable_when_an_upstream_is_added() {
    assert_eq!("hash".parse::<Policy>().unwrap(), Policy::Hash);
    assert_eq!("round-robin".parse::<Policy>().unwrap(), Policy::RoundRobin);
    assert!("random".parse::<Policy>().is_err());
    // Growing from 2 to 3 upstreams moves only keys to the new one (about a third), never between
    // the old two: the property that makes a scale-out cheap for the actors.
    let mut moved = 0;
    for i in 0..3000 {
        let key = token(i);
        let (two, three) = (rendezvous(key.as_bytes(), 2), rendezvous(key.as_bytes(), 3));
        if two != three {
            assert_eq!(three, 2, "{key} moved between old upstreams");
            moved += 1;
        }
    }
    assert!((800..=1200).contains(&moved), "{moved} of 3000 keys moved");
}

/// Kills the child when the test ends, passed or not.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_hashing_proxy_command_serves_as_bench_replicas_starts_it() {
    use std::io::BufRead;
    let upstreams = [upstream("a").await, upstream("b").await];
    let list = format!("{},{}", upstreams[0], upstreams[1]);
    let mut child = Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_replenish-load"))
            .args(["hashing-proxy", "--listen", "127.0.0.1:0", "--policy", "hash", "--upstream", &list])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Its first line is the address it bound.
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || std::io::BufReader::new(stdout).lines().next().unwrap().unwrap())
        .await
        .unwrap();
    let url = format!("http://{line}");
    let http = reqwest::Client::new();
    for i in 0..20 {
        let answer = http.post(format!("{url}/api/v1/detections")).bearer_auth(token(i)).body("{}").send().await;
        let name = answer.unwrap().text().await.unwrap();
        let expected = ["a", "b"][rendezvous(format!("Bearer {}", token(i)).as_bytes(), 2)];
        assert_eq!(name, format!("{expected}:2"));
    }
    let stats: ProxyStats = http.get(format!("{url}{STATS_PATH}")).send().await.unwrap().json().await.unwrap();
    assert_eq!((stats.requests.iter().sum::<u64>(), stats.misrouted, stats.tokens), (20, 0, 20), "{stats:?}");
}
