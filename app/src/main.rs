//! The `replenish` binary: serve (default), migrate, or seed a demo tenant.

use anyhow::Context;
use clap::{Parser, Subcommand};
use replenish_app::{Application, Settings, demo, startup, telemetry};
use secrecy::ExposeSecret;

/// Actors come and go with their devices: mimalloc keeps that churn cheap and
/// returns the pages of passivated actors to the system, where glibc's malloc
/// keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Replenish: multi-tenant auto-replenishment service.
///
/// Configuration comes from REPLENISH_* environment variables (and
/// DATABASE_URL, REDIS_URL, SENTRY_DSN); see the README.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve {
        /// Do not run pending migrations at startup.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending migrations and exit.
    Migrate,
    /// Seed tenant `demo` (a store, three products, one device) and print credentials.
    Demo,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = Settings::load().context("loading configuration")?;
    // Kept to the end of `main`: dropping it flushes the spans not yet exported.
    let _tracing = telemetry::init_tracing(&settings);
    // Sentry must start before the runtime so its panic hook sees every thread.
    let _sentry = telemetry::init_sentry(&settings, None);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command.unwrap_or(Command::Serve { no_migrate: false }) {
        Command::Serve { no_migrate } => {
            settings.run_migrations &= !no_migrate;
            runtime.block_on(serve(settings))
        }
        Command::Migrate => runtime.block_on(async {
            startup::migrate(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }),
        Command::Demo => runtime.block_on(async {
            let db = startup::migrate(&settings).await?;
            let credentials = demo::seed(&db).await?;
            println!("{}", demo::instructions(&credentials, settings.listen));
            Ok(())
        }),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(config = ?settings, "starting replenish");
    let app = Application::build(settings.clone()).await.context("starting the service")?;
    if let Some(token) = app.generated_admin_token() {
        // Printed once: only its hash is kept.
        println!(
            "\nGenerated the platform admin token (shown only this once; set REPLENISH_ADMIN_TOKEN to choose your own):\n\n    {}\n",
            token.expose_secret()
        );
    }
    tracing::info!(port = app.port(), listen = %settings.listen, metrics_port = app.metrics_port(), metrics_listen = %settings.metrics_listen, "listening");
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}
