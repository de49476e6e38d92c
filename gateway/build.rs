//! Records the commit the gateway is built from, for `/system/info`:
//! `FAAS_GIT_SHA` and `FAAS_GIT_MESSAGE` (empty outside a git checkout).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    // Built again when the checked-out commit moves.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/logs/HEAD");
    }
    let sha = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_default();
    let message = git(&["log", "-1", "--format=%s"]).unwrap_or_default();
    println!("cargo:rustc-env=FAAS_GIT_SHA={sha}");
    println!("cargo:rustc-env=FAAS_GIT_MESSAGE={message}");
}
