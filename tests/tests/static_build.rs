//! The static `fwatchdog` (built by `scripts/build-static.sh`) has no ELF
//! interpreter, so it runs in a `FROM scratch` image, and stays small.

use std::path::{Path, PathBuf};

use faas_tests::binary;

const PT_INTERP: u32 = 3;

/// Whether the ELF file at `path` asks for a dynamic loader (a PT_INTERP
/// program header).
fn has_interpreter(path: &Path) -> bool {
    let elf = std::fs::read(path).expect("the binary is readable");
    assert_eq!(&elf[..4], b"\x7fELF", "{} is not ELF", path.display());
    assert_eq!(elf[4], 2, "64-bit ELF expected");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().expect("8 bytes")) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| u32_at(phoff + i * phentsize) == PT_INTERP)
}

fn static_binary() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    ["x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"]
        .iter()
        .map(|t| root.join("target").join(t).join("static").join("fwatchdog"))
        .find(|p| p.exists())
}

#[test]
fn the_checker_sees_the_dynamic_build_s_interpreter() {
    // The debug build is dynamically linked: the check must notice.
    assert!(has_interpreter(&binary("fwatchdog")));
}

#[test]
fn static_fwatchdog_has_no_interpreter_and_is_small() {
    let Some(path) = static_binary() else {
        assert!(
            std::env::var("FAAS_REQUIRE_STATIC").as_deref() != Ok("1"),
            "no static fwatchdog: run scripts/build-static.sh"
        );
        eprintln!("skipped: no static fwatchdog built (run scripts/build-static.sh)");
        return;
    };
    assert!(!has_interpreter(&path), "{} needs a loader", path.display());
    let size = std::fs::metadata(&path).expect("metadata").len();
    assert!(
        size < 2 * 1024 * 1024,
        "stripped size {size} bytes is over 2 MB"
    );
    let out = std::process::Command::new(&path)
        .arg("--help")
        .env_clear()
        .output()
        .expect("the static binary runs with an empty environment");
    assert!(out.status.success());
}
