//! `spawn-ceiling`: how many `cat` processes per second this machine can
//! spawn with piped STDIN/STDOUT, from as many threads as cores, each writing
//! a small input and reading it back. The ceiling for any fork-per-request
//! watchdog; printed as one JSON object.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let mut count = 0u64;
                while Instant::now() < deadline {
                    let Ok(mut child) = Command::new("cat")
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .spawn()
                    else {
                        continue;
                    };
                    if let Some(mut stdin) = child.stdin.take() {
                        let _ = stdin.write_all(b"hello");
                    }
                    let mut out = Vec::new();
                    if let Some(mut stdout) = child.stdout.take() {
                        let _ = stdout.read_to_end(&mut out);
                    }
                    if child.wait().map(|s| s.success()).unwrap_or(false) && out == b"hello" {
                        count += 1;
                    }
                }
                count
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap_or(0)).sum();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{{\"threads\":{threads},\"spawns\":{total},\"seconds\":{elapsed:.3},\"per_second\":{:.1}}}",
        total as f64 / elapsed
    );
}
