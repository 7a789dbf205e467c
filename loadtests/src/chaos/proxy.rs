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
    tokio::select! {
        _ = pump(client_read, server_write, &state) => {}
        _ = pump(server_read, client_write, &state) => {}
        _ = cut.changed() => {}
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
