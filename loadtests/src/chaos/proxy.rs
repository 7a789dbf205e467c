//! A TCP proxy that breaks the network between an app and its Postgres or
//! Redis on command: added latency, every connection dropped, or a partition
//! (connections cut and new ones refused) for a while.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

struct State {
    latency_ms: AtomicU64,
    partitioned: AtomicBool,
    /// Bumped to cut every open connection.
    cut: watch::Sender<u64>,
}

/// A running proxy from a local port to `127.0.0.1:upstream`; it stops when dropped.
pub struct FaultProxy {
    port: u16,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free port and forwards to `upstream`.
    pub async fn start(upstream: u16) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(Error::io("binding the fault proxy"))?;
        let port = listener.local_addr().map_err(Error::io("binding the fault proxy"))?.port();
        let state = Arc::new(State {
            latency_ms: AtomicU64::new(0),
            partitioned: AtomicBool::new(false),
            cut: watch::channel(0).0,
        });
        let task = tokio::spawn(serve(listener, upstream, state.clone()));
        Ok(Self { port, state, task })
    }

    /// The port the app connects to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Delays every chunk in both directions by `latency` (zero: none).
    pub fn set_latency(&self, latency: Duration) {
        self.state.latency_ms.store(latency.as_millis() as u64, Ordering::SeqCst);
    }

    /// Cuts every open connection (new ones are accepted).
    pub fn drop_connections(&self) {
        self.state.cut.send_modify(|g| *g += 1);
    }

    /// Partitions (cuts every connection and refuses new ones) or heals.
    pub fn set_partitioned(&self, partitioned: bool) {
        self.state.partitioned.store(partitioned, Ordering::SeqCst);
        if partitioned {
            self.drop_connections();
        }
    }

    /// Back to a clean network.
    pub fn heal(&self) {
        self.set_latency(Duration::ZERO);
        self.set_partitioned(false);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.drop_connections();
    }
}

async fn serve(listener: TcpListener, upstream: u16, state: Arc<State>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if state.partitioned.load(Ordering::SeqCst) {
            // Closed at once: the app sees its connection reset, as across a broken link.
            drop(client);
            continue;
        }
        tokio::spawn(relay(client, upstream, state.clone()));
    }
}

async fn relay(client: TcpStream, upstream: u16, state: Arc<State>) {
    let mut cut = state.cut.subscribe();
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // The cut first: once it is signalled nothing more is relayed, not even what is already readable.
    tokio::select! {
        biased;
        _ = cut.changed() => {}
        _ = pump(client_read, server_write, &state) => {}
        _ = pump(server_read, client_write, &state) => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: &State,
) -> std::io::Result<()> {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buffer).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        let latency = state.latency_ms.load(Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        to.write_all(&buffer[..n]).await?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// An echo server on a free port.
    async fn echo() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        port
    }

    /// Sends `text` and reads the echo; None when the connection is closed or broken.
    async fn round_trip(stream: &mut TcpStream, text: &[u8]) -> Option<Vec<u8>> {
        stream.write_all(text).await.ok()?;
        let mut buffer = vec![0; text.len()];
        stream.read_exact(&mut buffer).await.ok()?;
        Some(buffer)
    }

    #[tokio::test]
    async fn it_relays_adds_latency_cuts_connections_and_partitions() {
        let proxy = FaultProxy::start(echo().await).await.unwrap();
        let mut a = TcpStream::connect(("127.0.0.1", proxy.port())).await.unwrap();
        assert_eq!(round_trip(&mut a, b"hello").await.as_deref(), Some(&b"hello"[..]));

        proxy.set_latency(Duration::from_millis(50));
        let started = std::time::Instant::now();
        assert!(round_trip(&mut a, b"slow").await.is_some());
        // Once each way: a lower bound, which a busy machine cannot break.
        assert!(started.elapsed() >= Duration::from_millis(100));
        proxy.set_latency(Duration::ZERO);

        proxy.drop_connections();
        assert_eq!(round_trip(&mut a, b"cut").await, None, "an open connection is cut");
        let mut b = TcpStream::connect(("127.0.0.1", proxy.port())).await.unwrap();
        assert!(round_trip(&mut b, b"new").await.is_some(), "new ones are accepted after a drop");

        proxy.set_partitioned(true);
        assert_eq!(round_trip(&mut b, b"cut").await, None, "a partition cuts open connections");
        let mut c = TcpStream::connect(("127.0.0.1", proxy.port())).await.unwrap();
        assert_eq!(round_trip(&mut c, b"refused").await, None, "and closes new ones");

        proxy.heal();
        let mut d = TcpStream::connect(("127.0.0.1", proxy.port())).await.unwrap();
        assert_eq!(round_trip(&mut d, b"healed").await.as_deref(), Some(&b"healed"[..]));
    }
}
