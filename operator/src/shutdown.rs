//! Process lifecycle: the signals that end the operator.
//!
//! In its distroless image the operator is PID 1, and the kernel delivers no signal to PID 1
//! that it has no handler for: without one, SIGTERM from the kubelet would be ignored and
//! every rollout would wait out the whole grace period (and the Lease would never be released).

/// Resolves on the first SIGTERM (what the kubelet sends) or SIGINT (Ctrl-C).
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                tracing::info!(signal = name, "shutting down");
                return;
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot handle SIGTERM; only Ctrl-C stops the operator")
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!(signal = "SIGINT", "shutting down");
}
