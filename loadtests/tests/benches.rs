//! The benches that start the app themselves, at toy sizes: they run end to end against a real app
//! binary and print and record what they claim (no speed is asserted; speed is what they print).

// A test fails by panicking; `expect` says where and why.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;

mod built_app;
use built_app::app_bin;

#[test]
fn a_cold_start_is_measured_second_by_second_on_a_fresh_process() {
    let json = std::env::temp_dir().join(format!("replenish-cold-{}.json", uuid::Uuid::new_v4().simple()));
    let output = Command::new(env!("CARGO_BIN_EXE_replenish-load"))
        .args(["bench-cold-start", "--backend", "sqlite", "--devices", "50", "--rate", "100", "--seconds", "3"])
        .args(["--window-secs", "1", "--quiet"])
        .arg("--app-bin")
        .arg(app_bin())
        .arg("--json")
        .arg(&json)
        .output()
        .expect("replenish-load runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let described = format!("{stdout}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr));
    // Exit 0: the load's correctness checks held on the restarted process.
    assert_eq!(output.status.code(), Some(0), "{described}");
    let a = stdout.find("through process A (pid ").expect("process A named");
    let b = stdout.find("process B (pid ").expect("process B named");
    assert!(a < b, "{described}");
    assert!(stdout.contains("First 15 seconds of the new process"), "{described}");
    assert!(stdout.contains("p99 ≤ 50 ms in every second from the first: "), "{described}");
    assert!(stdout.contains("µs per detection"), "{described}");

    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    let windows = report["windows"]["windows"].as_array().expect("windows in the JSON");
    // One-second windows: the three seconds of arrivals, each at the rate, then decisions' stragglers.
    assert!(windows.len() >= 3, "{described}");
    for w in &windows[..3] {
        let sent = w["detections"]["count"].as_u64().unwrap();
        assert!((95..=105).contains(&sent), "{w}");
    }
    // Every detection sent is in exactly one window.
    let in_windows: u64 = windows.iter().map(|w| w["detections"]["count"].as_u64().unwrap()).sum();
    let sent = report["endpoints"][0]["requests"].as_u64().unwrap();
    assert_eq!(in_windows, sent, "{described}");
}
