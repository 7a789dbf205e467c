//! `wrk` as the bench's outside generator: installing it, the Lua script that makes its requests
//! detections of a mix, running it in the closed model and reading its output.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cpu::cpu_times;
use crate::error::{Error, Result};
use crate::generator::BenchMix;

/// What `wrk --latency` printed (plus the line the generated script's `done` adds).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WrkOutput {
    /// Completed requests (any status).
    pub requests: u64,
    /// Length of the run as wrk measured it, s.
    pub seconds: f64,
    /// `Requests/sec`: completed requests per second, any status.
    pub requests_per_second: f64,
    /// The latency distribution: 50, 75, 90 and 99 %, ms.
    pub p50_ms: f64,
    /// 75th percentile, ms.
    pub p75_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms (from the script's `done`; None with another script).
    pub p999_ms: Option<f64>,
    /// Slowest request, ms (`Thread Stats` Max).
    pub max_ms: f64,
    /// `Non-2xx or 3xx responses`.
    pub non_2xx: u64,
    /// `Socket errors`: connect, read, write, timeout.
    pub socket_errors: [u64; 4],
}

impl WrkOutput {
    /// Requests answered 2xx or 3xx.
    pub fn ok(&self) -> u64 {
        self.requests.saturating_sub(self.non_2xx)
    }

    /// All socket errors together.
    pub fn socket_error_total(&self) -> u64 {
        self.socket_errors.iter().sum()
    }
}

/// `"397.52us"`, `"4.38ms"`, `"1.20s"`, `"2.00m"` in ms.
fn duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let factor = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * factor)
}

fn bad(what: &str, text: &str) -> Error {
    let excerpt: String = text.chars().take(400).collect();
    Error::Bench(format!("could not read {what} in wrk's output:\n{excerpt}"))
}

/// Reads wrk's `--latency` report.
pub fn parse(text: &str) -> Result<WrkOutput> {
    let mut out = WrkOutput::default();
    let mut seen = [false; 3];
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Latency", _avg, _stdev, max, ..] => out.max_ms = duration_ms(max).ok_or_else(|| bad("Max", line))?,
            [pct @ ("50%" | "75%" | "90%" | "99%"), value] => {
                let ms = duration_ms(value).ok_or_else(|| bad(pct, line))?;
                match *pct {
                    "50%" => out.p50_ms = ms,
                    "75%" => out.p75_ms = ms,
                    "90%" => out.p90_ms = ms,
                    _ => out.p99_ms = ms,
                }
                seen[0] = true;
            }
            [requests, "requests", "in", seconds, ..] => {
                out.requests = requests.parse().map_err(|_| bad("requests", line))?;
                let seconds = seconds.trim_end_matches(',');
                out.seconds = duration_ms(seconds).ok_or_else(|| bad("run time", line))? / 1000.0;
                seen[1] = true;
            }
            ["Requests/sec:", rate] => {
                out.requests_per_second = rate.parse().map_err(|_| bad("Requests/sec", line))?;
                seen[2] = true;
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => out.non_2xx = n.parse().map_err(|_| bad("Non-2xx", line))?,
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 32, write 47661, timeout 0"
                for (i, pair) in rest.chunks(2).enumerate().take(4) {
                    let n = pair.get(1).map(|n| n.trim_end_matches(','));
                    out.socket_errors[i] = n.and_then(|n| n.parse().ok()).ok_or_else(|| bad("Socket errors", line))?;
                }
            }
            ["replenish-bench:", fields @ ..] => {
                let field = |name: &str| {
                    fields.iter().find_map(|f| f.strip_prefix(name)?.strip_prefix('=')?.parse::<f64>().ok())
                };
                out.p999_ms = field("p999_us").map(|us| us / 1000.0);
            }
            _ => {}
        }
    }
    match seen {
        [true, true, true] => Ok(out),
        [false, ..] => Err(bad("the latency distribution (run with --latency)", text)),
        [_, false, _] => Err(bad("the request count", text)),
        _ => Err(bad("Requests/sec", text)),
    }
}

/// Lua string literal of `s` (tokens, prefixes: printable ASCII).
fn lua_string(s: &str) -> String {
    format!("{s:?}")
}

/// The Lua script for one phase: each request is a detection with the next device token (round robin
/// per wrk thread, read from `tokens_file`, one a line), a unique event id (`prefix`, the thread and a
/// counter), the next object class of `classes` each time the thread has gone round the devices, HIGH
/// confidence, the capture time now and a fill level drawn from `mix`. Its `done` prints p99.9.
pub fn script(tokens_file: &Path, prefix: &str, classes: &[&str], mix: BenchMix) -> String {
    let classes: Vec<String> = classes.iter().map(|c| lua_string(c)).collect();
    format!(
        r#"-- Generated by replenish-load bench ({mix} mix).
local tokens = {{}}
for line in io.lines({tokens}) do tokens[#tokens + 1] = line end
local classes = {{ {classes} }}
local prefix = {prefix}
local low_share = {low}
-- Global: setup() sets it in each thread's state.
thread_id = 0
local n = 0

local next_id = 0
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

function init(args)
  math.randomseed(os.time() + thread_id * 7919)
  -- Threads start at different devices so that together they still go round all of them.
  n = thread_id * 104729
end

function request()
  n = n + 1
  local i = n % #tokens
  local class = classes[math.floor(n / #tokens) % #classes + 1]
  local fill
  if math.random() < low_share then
    fill = (math.random() < 0.5) and "LOW" or "NEARLY_EMPTY"
  else
    fill = (math.random() < 0.5) and "FULL" or "HALF"
  end
  local body = '{{"event_id":"' .. prefix .. '-' .. thread_id .. '-' .. n
    .. '","object_class":"' .. class
    .. '","fill_level":"' .. fill
    .. '","confidence":"HIGH","captured_at_ms":' .. string.format("%.0f", os.time() * 1000) .. '}}'
  local headers = {{ ["Authorization"] = "Bearer " .. tokens[i + 1], ["Content-Type"] = "application/json" }}
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("replenish-bench: p999_us=%.0f max_us=%.0f\n", latency:percentile(99.9), latency.max))
end
"#,
        mix = mix.name(),
        tokens = lua_string(&tokens_file.display().to_string()),
        classes = classes.join(", "),
        prefix = lua_string(prefix),
        low = mix.low_share(),
    )
}

/// `wrk` on the PATH, installed with apt when missing and this process is root.
pub fn ensure_installed() -> Result<PathBuf> {
    if let Some(path) = which("wrk") {
        return Ok(path);
    }
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")).map(|u| u.split_whitespace().next() == Some("0")))
        .unwrap_or(false);
    if root && which("apt-get").is_some() {
        println!("wrk is missing: apt-get install -y wrk");
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "wrk"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success())
        };
        // A fresh container has no package lists yet.
        if !install() {
            let _ = Command::new("apt-get").args(["update", "-qq"]).status();
            install();
        }
        if let Some(path) = which("wrk") {
            return Ok(path);
        }
    }
    Err(Error::Bench(
        "wrk is not installed and could not be installed here (needs root and apt-get): \
         `apt-get install wrk` (Debian/Ubuntu), or pass --generator inprocess"
            .into(),
    ))
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// One wrk run: its report and what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct WrkRun {
    /// The parsed report.
    pub output: WrkOutput,
    /// Wall time from start to exit, s.
    pub wall_s: f64,
    /// wrk's own CPU time (user + system), s.
    pub cpu_s: f64,
}

/// What a closed-model phase sends and where.
#[derive(Debug, Clone)]
pub struct WrkPhase<'a> {
    /// The detections URL.
    pub url: &'a str,
    /// Device tokens, round robin.
    pub tokens: &'a [String],
    /// Fill levels.
    pub mix: BenchMix,
    /// Connections (wrk's `-c`); one thread.
    pub connections: usize,
    /// Length (whole seconds, at least one).
    pub length: Duration,
}

/// Runs wrk for `phase` with a generated script; blocks, so call it from `spawn_blocking`.
pub fn run(wrk: &Path, phase: &WrkPhase<'_>) -> Result<WrkRun> {
    let dir = std::env::temp_dir().join(format!("replenish-wrk-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(Error::io("creating the wrk script directory"))?;
    let result = run_in(wrk, phase, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(wrk: &Path, phase: &WrkPhase<'_>, dir: &Path) -> Result<WrkRun> {
    let (tokens, lua) = (dir.join("tokens.txt"), dir.join("detections.lua"));
    std::fs::write(&tokens, phase.tokens.join("\n") + "\n").map_err(Error::io("writing the token list"))?;
    let prefix = format!("w{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let classes: Vec<&str> = crate::client::CATALOG.iter().map(|c| c.1).collect();
    std::fs::write(&lua, script(&tokens, &prefix, &classes, phase.mix)).map_err(Error::io("writing the wrk script"))?;
    let seconds = phase.length.as_secs_f64().round().max(1.0) as u64;
    let before = cpu_times(None)?;
    let started = Instant::now();
    // Output waits for wrk and reaps it: its CPU then counts among this process's children's.
    let out = Command::new(wrk)
        .args(["-t1", &format!("-c{}", phase.connections), &format!("-d{seconds}s"), "--timeout", "10s"])
        .args(["--latency", "-s"])
        .arg(&lua)
        .arg(phase.url)
        .output()
        .map_err(Error::io("running wrk"))?;
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu_times(None)?.since(&before).children.as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Bench(format!("wrk failed ({}): {stderr}{stdout}", out.status)));
    }
    Ok(WrkRun { output: parse(&stdout)?, wall_s, cpu_s })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_report_is_read_whole() -> Result<()> {
        let out = parse(include_str!("../tests/fixtures/wrk-baseline.txt"))?;
        assert_eq!(out.requests, 74_667);
        assert!((out.seconds - 1.0).abs() < 1e-9);
        assert!((out.requests_per_second - 74_613.65).abs() < 1e-6);
        assert_eq!([out.p50_ms, out.p75_ms, out.p90_ms, out.p99_ms], [0.317, 0.359, 0.4, 6.49]);
        assert_eq!(out.p999_ms, Some(11.376));
        assert!((out.max_ms - 12.32).abs() < 1e-9);
        assert_eq!((out.non_2xx, out.ok(), out.socket_error_total()), (1_493, 73_174, 0));
        Ok(())
    }

    #[test]
    fn socket_errors_are_counted_by_kind() -> Result<()> {
        let out = parse(include_str!("../tests/fixtures/wrk-socket-errors.txt"))?;
        assert_eq!(out.socket_errors, [0, 32, 47_661, 0]);
        assert_eq!((out.requests, out.non_2xx), (93_170, 1_863));
        assert!((out.requests_per_second - 46_543.92).abs() < 1e-6);
        Ok(())
    }

    #[test]
    fn a_report_without_the_distribution_is_refused() {
        let text = include_str!("../tests/fixtures/wrk-baseline.txt").replace("Latency Distribution", "");
        let without: String =
            text.lines().filter(|l| !l.trim_start().starts_with("50%")).collect::<Vec<_>>().join("\n");
        assert!(parse(&without.replace("75%", "").replace("90%", "").replace("99%", "")).is_err());
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(duration_ms("397.52us"), Some(0.39752));
        assert_eq!(duration_ms("4.38ms"), Some(4.38));
        assert_eq!(duration_ms("1.50s"), Some(1500.0));
        assert_eq!(duration_ms("2.00m"), Some(120_000.0));
        assert_eq!(duration_ms("12"), None);
    }
}
