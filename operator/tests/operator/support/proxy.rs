//! A TCP proxy in front of the app that can be switched off, to test "the app is down".

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Forwards connections to the app while up; while down it refuses them by closing them at
/// once and cuts the open ones, so pooled keep-alive connections fail too.
pub struct Proxy {
    pub url: String,
    up: Arc<watch::Sender<bool>>,
}

impl Proxy {
    /// Starts a proxy to `target` (`http://host:port`), up.
    pub async fn start(target: &str) -> Self {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let up = Arc::new(watch::channel(true).0);
        let state = up.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*state.borrow() {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut down = state.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { url, up }
    }

    /// Switches the app on or off as seen through this proxy.
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}
