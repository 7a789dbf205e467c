//! `replenish-operator`: runs the controllers (`run`, the default) or writes the CRDs (`crds`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use replenish_operator::app_client::AppClient;
use replenish_operator::config::Settings;
use replenish_operator::leader::LeaderElector;
use replenish_operator::metrics::Metrics;
use replenish_operator::reconcile::{self, Context, OperatorConfig};
use replenish_operator::{crd, server, shutdown};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "replenish-operator", version, about = "Kubernetes operator for Replenish tenants and devices")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controllers (with leader election).
    Run(Box<Settings>),
    /// Write the CRD YAML files under `--out` (the repository top by default).
    Crds {
        /// Directory that holds `crds/`.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Crds { out }) => write_crds(&out),
        Some(Command::Run(settings)) => run(*settings).await,
        // `run` is the default; its settings then come from the environment alone.
        None => run(Cli::parse_from(["replenish-operator", "run"]).run_settings()?).await,
    }
}

impl Cli {
    fn run_settings(self) -> anyhow::Result<Settings> {
        match self.command {
            Some(Command::Run(settings)) => Ok(*settings),
            _ => anyhow::bail!("no settings"),
        }
    }
}

fn write_crds(out: &std::path::Path) -> anyhow::Result<()> {
    for (path, yaml) in crd::crd_files()? {
        let path = out.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    // kube's TLS uses rustls; with more than one crypto provider compiled in (feature
    // unification can add aws-lc-rs) rustls cannot pick one and panics, so name it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let client = kube::Client::try_default().await.context("connecting to Kubernetes")?;
    let app = AppClient::new(&settings.app_url, settings.admin_token()?)?;
    let identity = settings.identity.clone().unwrap_or_else(|| format!("replenish-operator-{}", std::process::id()));
    let config = OperatorConfig {
        plan_defaults: settings.plan_defaults()?,
        app_image: settings.app_image.clone(),
        app_env_secret: settings.app_env_secret.clone(),
        namespace: settings.namespace.clone(),
        shared_endpoint: settings.shared_endpoint.clone(),
        dedicated_app: settings.dedicated_app()?,
    };
    let metrics = Metrics::default();
    let (addr, _server) = server::serve(settings.metrics_addr, metrics.clone()).await?;
    tracing::info!(%addr, "serving /metrics and /healthz");

    let elector = LeaderElector::new(client.clone(), &settings.namespace, &settings.lease_name, &identity);
    let ctx = Arc::new(Context::new(client, app, config, metrics, identity));
    // SIGTERM (the kubelet) or SIGINT: finish current work, release the Lease, exit 0.
    if reconcile::run_as_leader(&elector, ctx, shutdown::signal()).await {
        // Exit non-zero: the pod restarts and competes for the Lease again.
        anyhow::bail!("leadership lost");
    }
    Ok(())
}
