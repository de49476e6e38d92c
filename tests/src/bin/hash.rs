//! `hash`: a CPU-bound sample function (the image `faas/sample-hash`). It
//! reads all of STDIN into one buffer, then hashes that buffer PASSES times
//! in memory (default 20) with FNV-1a 64, one pass continuing the state of
//! the last, so the digest is that of the input repeated PASSES times. It
//! prints the digest in hex. Apart from reading its input it makes no system
//! calls, so its time is the CPU's, whatever the runtime: `bench/gvisor.sh`
//! compares gVisor with runc on it. With `--time` it also tells, on STDERR,
//! how long the read and the passes took.
//!
//! Usage: `hash [--time] [PASSES]`.
#![forbid(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// The first size of the input buffer; doubled whenever it is full.
const BUFFER: usize = 1 << 20;

/// FNV-1a 64 of `data`, continuing from `state` (`FNV_OFFSET_BASIS` for a
/// fresh hash).
fn fnv1a(mut state: u64, data: &[u8]) -> u64 {
    for &byte in data {
        state ^= u64::from(byte);
        state = state.wrapping_mul(FNV_PRIME);
    }
    state
}

/// The digest of `data` repeated `passes` times.
fn digest(data: &[u8], passes: u64) -> u64 {
    (0..passes).fold(FNV_OFFSET_BASIS, |state, _| fnv1a(state, data))
}

/// All of `input`, read into one buffer of `BUFFER` bytes, grown when full,
/// so that a large input takes few reads.
fn read_all(mut input: impl Read) -> std::io::Result<Vec<u8>> {
    let mut buffer = vec![0; BUFFER];
    let mut len = 0;
    loop {
        if len == buffer.len() {
            buffer.resize(2 * len, 0);
        }
        match input.read(&mut buffer[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    buffer.truncate(len);
    Ok(buffer)
}

fn main() -> ExitCode {
    let mut time = false;
    let mut passes = 20;
    for arg in std::env::args().skip(1) {
        match (arg.as_str(), arg.parse()) {
            ("--time", _) => time = true,
            (_, Ok(n)) => passes = n,
            (_, Err(_)) => {
                eprintln!("usage: hash [--time] [PASSES]  (PASSES: a whole number, default 20)");
                return ExitCode::from(2);
            }
        }
    }
    let started = Instant::now();
    let data = match read_all(std::io::stdin().lock()) {
        Ok(data) => data,
        Err(err) => {
            eprintln!("hash: reading STDIN: {err}");
            return ExitCode::FAILURE;
        }
    };
    let read = started.elapsed();
    let hashing = Instant::now();
    let digest = digest(&data, passes);
    let hashed = hashing.elapsed();
    println!("{digest:016x}");
    if time {
        eprintln!(
            "read {} bytes in {:.3} ms, hashed them {passes} times in {:.3} ms",
            data.len(),
            read.as_secs_f64() * 1000.0,
            hashed.as_secs_f64() * 1000.0
        );
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_fnv1a_64_digests() {
        assert_eq!(digest(b"", 1), 0xcbf2_9ce4_8422_2325);
        assert_eq!(digest(b"a", 1), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(digest(b"foobar", 1), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn passes_hash_the_input_repeated() {
        assert_eq!(digest(b"abc", 3), digest(b"abcabcabc", 1));
        assert_eq!(digest(b"abc", 0), FNV_OFFSET_BASIS);
    }

    #[test]
    fn reads_past_the_first_buffer() {
        let input: Vec<u8> = (0..BUFFER * 2 + 5).map(|i| i as u8).collect();
        assert_eq!(read_all(&input[..]).ok(), Some(input));
    }
}
