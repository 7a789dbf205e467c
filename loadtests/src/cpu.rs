//! CPU time of processes, read from `/proc/<pid>/stat`: the app's (µs per detection), this process's
//! (the in-process generator) and that of its reaped children (`wrk`, as `getrusage(RUSAGE_CHILDREN)`
//! would count it, without `unsafe`).

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, Result};

/// CPU time of one process so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    /// Its own user + system time.
    pub own: Duration,
    /// User + system time of its children that it has waited for.
    pub children: Duration,
}

impl CpuTimes {
    /// What was spent between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes { own: self.own.saturating_sub(earlier.own), children: self.children.saturating_sub(earlier.children) }
    }
}

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`; 100 on every common Linux).
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

/// Parses the text of `/proc/<pid>/stat` into (utime, stime, cutime, cstime) ticks.
pub fn parse_stat(text: &str) -> Option<[u64; 4]> {
    // The command name (field 2) is in parentheses and may hold spaces; the fields after it are plain.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime is field 14.
    let tick = |i: usize| fields.get(i - 3)?.parse::<u64>().ok();
    Some([tick(14)?, tick(15)?, tick(16)?, tick(17)?])
}

/// CPU times of `pid` (`None`: this process).
pub fn cpu_times(pid: Option<u32>) -> Result<CpuTimes> {
    let path = pid.map_or_else(|| "/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat"));
    let text = std::fs::read_to_string(&path).map_err(Error::io(format!("reading {path}")))?;
    let [utime, stime, cutime, cstime] =
        parse_stat(&text).ok_or_else(|| Error::Bench(format!("{path} has no CPU times")))?;
    let ticks = |t: u64| Duration::from_secs_f64(t as f64 / clock_ticks() as f64);
    Ok(CpuTimes { own: ticks(utime + stime), children: ticks(cutime + cstime) })
}

/// CPU time the whole machine has spent busy (every core: user, nice, system, irq, softirq, steal in
/// the first line of `/proc/stat`), to tell how much other work shared the box during a phase.
pub fn machine_busy() -> Result<Duration> {
    let text = std::fs::read_to_string("/proc/stat").map_err(Error::io("reading /proc/stat"))?;
    let ticks: Vec<u64> = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| l.split_whitespace().filter_map(|v| v.parse().ok()).collect())
        .unwrap_or_default();
    let [user, nice, system, _idle, _iowait, irq, softirq, steal, ..] = ticks[..] else {
        return Err(Error::Bench("/proc/stat has no cpu line".into()));
    };
    Ok(Duration::from_secs_f64((user + nice + system + irq + softirq + steal) as f64 / clock_ticks() as f64))
}

/// User plus system CPU time of `pid` (all its threads), µs; `None` is this process.
pub fn cpu_micros(pid: Option<u32>) -> Result<u64> {
    Ok(cpu_times(pid)?.own.as_micros() as u64)
}

/// CPU used by the app and by this process between two readings.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuReading {
    /// The app's CPU time, µs.
    pub app: u64,
    /// This process's CPU time, µs.
    pub generator: u64,
}

impl CpuReading {
    /// Both now (0 for a process that cannot be read).
    pub fn now(app_pid: u32) -> Self {
        Self { app: cpu_micros(Some(app_pid)).unwrap_or(0), generator: cpu_micros(None).unwrap_or(0) }
    }

    /// What was used from `earlier` to `self`.
    pub fn since(self, earlier: Self) -> Self {
        Self { app: self.app.saturating_sub(earlier.app), generator: self.generator.saturating_sub(earlier.generator) }
    }
}

/// Reads CPU time when the load starts and ends (a [`crate::sim::LoadProbe`]).
#[derive(Debug)]
pub struct CpuProbe {
    pid: u32,
    started: std::sync::Mutex<Option<CpuReading>>,
    used: std::sync::Mutex<Option<CpuReading>>,
}

impl CpuProbe {
    /// A probe for the app process `pid`.
    pub fn new(pid: u32) -> Self {
        Self { pid, started: std::sync::Mutex::new(None), used: std::sync::Mutex::new(None) }
    }

    /// CPU used during the load, once it ended.
    pub fn used(&self) -> Option<CpuReading> {
        *self.used.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl crate::sim::LoadProbe for CpuProbe {
    fn started(&self) {
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) = Some(CpuReading::now(self.pid));
    }

    fn finished(&self) {
        let started = *self.started.lock().unwrap_or_else(|p| p.into_inner());
        let used = started.map(|s| CpuReading::now(self.pid).since(s));
        *self.used.lock().unwrap_or_else(|p| p.into_inner()) = used;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_found_after_a_command_name_with_spaces() {
        let text = "4242 (tokio runtime) S 1 4242 4242 0 -1 4194560 1000 0 0 0 731 52 9 4 20 0 8 0 1234 0 0";
        assert_eq!(parse_stat(text), Some([731, 52, 9, 4]));
        assert_eq!(parse_stat("4242 (short) S 1"), None);
    }

    #[test]
    fn this_process_has_spent_some_cpu() -> Result<()> {
        let before = cpu_times(None)?;
        // Burn a little CPU so at least one tick passes.
        let start = std::time::Instant::now();
        let mut x = 0_u64;
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let spent = cpu_times(None)?.since(&before);
        assert!(spent.own > Duration::ZERO, "{spent:?}");
        assert!(machine_busy()? >= spent.own);
        Ok(())
    }
}
