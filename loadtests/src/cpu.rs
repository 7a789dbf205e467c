//! CPU time of a process from `/proc/<pid>/stat`: the app's cost per detection does not depend on how
//! fast the generator is, and the generator's own cost says how much of the box it took.

use crate::error::{Error, Result};

/// Clock ticks per second of `/proc/*/stat` (`USER_HZ`): 100 on every Linux ABI this runs on.
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of `pid` (all its threads), µs; `None` is this process.
pub fn cpu_micros(pid: Option<u32>) -> Result<u64> {
    let path = pid.map_or("/proc/self/stat".to_owned(), |pid| format!("/proc/{pid}/stat"));
    let stat = std::fs::read_to_string(&path).map_err(Error::io(format!("reading {path}")))?;
    parse_stat(&stat).ok_or_else(|| Error::Bench(format!("{path}: no utime/stime")))
}

/// utime + stime (fields 14 and 15) in µs. The command name (field 2) may hold spaces and
/// parentheses, so the fields are counted from after its last `)`.
fn parse_stat(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state).
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some((utime + stime) * 1_000_000 / TICKS_PER_SECOND)
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
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn fields_are_counted_after_the_command_name() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat(stat), Some((250 + 75) * 10_000));
    }

    #[test]
    fn this_process_can_be_read_and_its_count_never_goes_back() {
        let first = cpu_micros(None).unwrap();
        assert!(cpu_micros(None).unwrap() >= first);
    }
}
