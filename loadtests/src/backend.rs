//! A fresh database for the benches that start the app themselves: SQLite in a temporary directory,
//! or a new Postgres database with a Redis key prefix of its own. Removed when dropped.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::process::{create_database, drop_database, locate_app_bin};

/// The admin token [`crate::process::AppProcess`] starts the app with.
pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";

/// Where the benches find the app and the database servers.
#[derive(Debug, Clone)]
pub struct Servers {
    /// The `replenish` binary (`--app-bin`); found as `bench` finds it when not given.
    pub app_bin: Option<PathBuf>,
    /// Postgres server on which a fresh database is created.
    pub database_url: String,
    /// Redis for the Postgres backend.
    pub redis_url: String,
}

impl Servers {
    /// The app binary.
    pub fn app_bin(&self) -> Result<PathBuf> {
        locate_app_bin(self.app_bin.as_deref())
    }
}

/// One fresh database and the app environment that points at it.
#[derive(Debug)]
pub struct Backend {
    env: Vec<(String, String)>,
    /// (server URL, database name) of a Postgres database to drop.
    postgres: Option<(String, String)>,
    dir: PathBuf,
}

impl Backend {
    /// A fresh `kind` (`sqlite` or `postgres`) database; `extra` is added to the app's environment.
    pub fn create(kind: &str, servers: &Servers, extra: &[(&str, String)]) -> Result<Self> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("replenish-bench-{id}"));
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let (mut env, postgres) = match kind {
            "sqlite" => {
                let url = format!("sqlite://{}?mode=rwc", dir.join("replenish.db").display());
                (vec![("DATABASE_URL".to_owned(), url)], None)
            }
            "postgres" => {
                let (url, name) = create_database(&servers.database_url)?;
                let env = vec![
                    ("DATABASE_URL".to_owned(), url),
                    ("REDIS_URL".to_owned(), servers.redis_url.clone()),
                    ("REPLENISH_REDIS_PREFIX".to_owned(), format!("replenish-bench-{id}:")),
                ];
                (env, Some((servers.database_url.clone(), name)))
            }
            other => return Err(Error::Config(format!("unknown backend {other} (sqlite or postgres)"))),
        };
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        Ok(Self { env, postgres, dir })
    }

    /// The app's environment for this database.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The temporary directory (the SQLite file lives here).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres {
            drop_database(server, name);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
