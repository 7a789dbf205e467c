//! The release or debug `replenish` binary for the tests that start the app
//! as a process of its own (`chaos.rs`, `benches.rs`): found and built.

use std::path::PathBuf;
use std::process::Command;

/// Variables cargo sets for a test process that build scripts track (ring's
/// tracks `CARGO_PKG_NAME` and `CARGO_MANIFEST_DIR`): passed on to the nested
/// cargo they would make it rebuild what the outer one built.
fn set_by_cargo_for_tests(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || key.starts_with("CARGO_BIN_EXE_")
        || [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_MANIFEST_LINKS",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
            "OUT_DIR",
        ]
        .contains(&key)
}

/// The app binary: `REPLENISH_APP_BIN`, else `replenish` beside this package's
/// own binary, brought up to date by cargo first. The build asks for what
/// `cargo test --workspace` builds, so under the test command it is a no-op.
pub fn app_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("REPLENISH_APP_BIN") {
        return PathBuf::from(bin);
    }
    let load = PathBuf::from(env!("CARGO_BIN_EXE_replenish-load"));
    let profile = load.parent().expect("profile directory");
    let target = profile.parent().expect("target directory");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--workspace", "--tests", "--locked", "--quiet"])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, _) in std::env::vars() {
        if set_by_cargo_for_tests(&key) {
            cargo.env_remove(key);
        }
    }
    if profile.ends_with("release") {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("cargo runs");
    assert!(status.success(), "building the app failed");
    profile.join("replenish")
}
