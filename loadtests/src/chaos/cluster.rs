//! The private cluster a chaos run owns: a Postgres initialised in a temporary
//! directory, a Redis, and the app processes, each of which it can kill and
//! start again.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

fn failed(what: &str, output: &std::process::Output) -> Error {
    Error::Bench(format!(
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

fn run(mut command: Command, what: &str) -> Result<String> {
    let output = command.output().map_err(Error::io(format!("running {what}")))?;
    if !output.status.success() {
        return Err(failed(what, &output));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn is_root() -> bool {
    // `id -u` rather than libc: the crate forbids unsafe code.
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// The directory of the machine's Postgres server binaries: `$PG_BIN`, the
/// newest `/usr/lib/postgresql/*/bin`, or `pg_config --bindir`.
pub fn postgres_bin() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(|d| d.ok())
                .filter_map(|d| Some((d.file_name().to_str()?.parse().ok()?, d.path().join("bin"))))
                .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Ok(bin);
    }
    let mut command = Command::new("pg_config");
    command.arg("--bindir");
    let dir = run(command, "pg_config --bindir (install the Postgres server)")?;
    Ok(PathBuf::from(dir.trim()))
}

/// A scratch directory removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new empty directory under the system's temp dir.
    pub fn new(prefix: &str) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        Ok(Self(dir))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Postgres cluster of its own, in a temporary directory, on its own port.
/// Postgres refuses to run as root, so under root every server command runs
/// as the machine's `postgres` user (`runuser`), which owns the directory.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Postgres {
    /// Initialises a cluster in `dir` (trust authentication, superuser `postgres`) and starts it on `port`.
    pub fn init(dir: &Path, port: u16) -> Result<Self> {
        let bin = postgres_bin()?;
        let as_postgres = is_root();
        let pg = Self { bin, dir: dir.to_owned(), port, as_postgres };
        if as_postgres {
            let mut chown = Command::new("chown");
            chown.args(["-R", "postgres:postgres"]).arg(dir);
            run(chown, "chown of the cluster directory to postgres")?;
        }
        let mut initdb = pg.command("initdb");
        initdb.arg("-D").arg(pg.data()).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        run(initdb, "initdb")?;
        pg.start()?;
        Ok(pg)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL of its `postgres` database on `port` (the cluster's own, or a proxy's).
    pub fn url_via(&self, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    }

    /// Starts the server and waits until it accepts connections (after a crash it recovers first).
    pub fn start(&self) -> Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on",
            self.port,
            self.dir.display()
        );
        let mut command = self.command("pg_ctl");
        command
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .args(["-w", "-t", "120", "-o", &options, "start"])
            .stdout(Stdio::null());
        run(command, "pg_ctl start").map(|_| ())
    }

    /// `pg_ctl stop -m immediate`: every server process quits at once, no
    /// checkpoint; the next start replays the WAL as after a crash.
    pub fn stop_immediate(&self) -> Result<()> {
        let mut command = self.command("pg_ctl");
        command.arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]).stdout(Stdio::null());
        run(command, "pg_ctl stop -m immediate").map(|_| ())
    }

    /// Runs `sql` with psql on the cluster directly; its output, unaligned.
    pub fn psql(&self, sql: &str) -> Result<String> {
        let mut command = Command::new("psql");
        command.arg(self.url_via(self.port)).args(["-v", "ON_ERROR_STOP=1", "-XAtq", "-c", sql]);
        run(command, "psql")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop_immediate();
    }
}

/// A child process killed (SIGKILL) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private Redis without persistence, on its own port.
pub struct Redis {
    port: u16,
    child: Option<Guard>,
}

impl Redis {
    /// Starts `redis-server` on `port` and waits until it answers.
    pub async fn start(port: u16) -> Result<Self> {
        let mut redis = Self { port, child: None };
        redis.restart().await?;
        Ok(redis)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it (SIGKILL): what it held in memory is gone.
    pub fn stop(&mut self) {
        self.child = None;
    }

    /// Starts it (again) and waits until it accepts connections.
    pub async fn restart(&mut self) -> Result<()> {
        self.child = None;
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(Error::io("starting redis-server (install Redis)"))?;
        self.child = Some(Guard(child));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::Bench(format!("redis-server on port {} did not come up", self.port)))
    }
}

/// One app process on fixed ports, so that it can be killed and started again at the same address.
pub struct AppNode {
    bin: PathBuf,
    env: Vec<(String, String)>,
    port: u16,
    log: PathBuf,
    child: Option<Guard>,
}

impl AppNode {
    /// An app (not started yet) on `port`, with `env` on top of the chaos defaults; its stderr goes to `log`.
    pub fn new(bin: &Path, port: u16, env: Vec<(String, String)>, log: PathBuf) -> Self {
        Self { bin: bin.to_owned(), env, port, log, child: None }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts `bin serve` (again); does not wait for it.
    pub fn start(&mut self) -> Result<()> {
        self.child = None;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(Error::io(format!("opening {}", self.log.display())))?;
        let mut command = Command::new(&self.bin);
        command.arg("serve").env("REPLENISH_LISTEN", format!("127.0.0.1:{}", self.port));
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.stdout(Stdio::null()).stderr(Stdio::from(log));
        let child = command.spawn().map_err(Error::io(format!("starting {}", self.bin.display())))?;
        self.child = Some(Guard(child));
        Ok(())
    }

    /// SIGKILL: no graceful shutdown, requests in flight are cut.
    pub fn kill(&mut self) {
        self.child = None;
    }

    /// Whether the process is running (false after it exited on its own).
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.0.try_wait(), Ok(None)))
    }

    /// Its log so far (the end of it), for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or_default().to_owned()
    }
}

/// Whether `url`'s `/readyz` answers 200.
pub async fn ready(http: &reqwest::Client, url: &str) -> bool {
    http.get(format!("{url}/readyz")).send().await.is_ok_and(|r| r.status().is_success())
}
