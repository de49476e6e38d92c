//! OpenFaaS resource strings as the Docker API wants them: memory `128m`,
//! `1g`, `512Mi` or plain bytes; CPU `0.5` (cores) or `500m` (millicores);
//! and their bounds ([`check`]): what no container could run with is
//! refused at deploy.

use crate::backend::BackendError;
use crate::function::{Function, Resources};

/// The least memory a function may be limited to or request.
pub const MIN_MEMORY: i64 = 4 * 1024 * 1024;

/// A function's `limits` or `requests` as amounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amounts {
    /// Bytes.
    pub memory: Option<i64>,
    /// Billionths of a CPU.
    pub nano_cpus: Option<i64>,
}

/// The amounts of `resources` (`what` is `limits` or `requests`, for the
/// error); `Invalid` when a string is not an amount.
pub fn amounts(what: &str, resources: &Option<Resources>) -> Result<Amounts, BackendError> {
    let Some(Resources { memory, cpu }) = resources else {
        return Ok(Amounts::default());
    };
    let parse = |value: &Option<String>, resource: &str, read: fn(&str) -> Option<i64>| {
        value
            .as_deref()
            .map(|v| read(v).ok_or_else(|| not_understood(what, resource, v)))
            .transpose()
    };
    Ok(Amounts {
        memory: parse(memory, "memory", memory_bytes)?,
        nano_cpus: parse(cpu, "cpu", nano_cpus)?,
    })
}

/// Checks the limits and requests of `function` parse and are bounded:
/// memory at least [`MIN_MEMORY`], cpu above 0 and at most `cpus` (the
/// machine's or the engine's). `Invalid` says which and how to fix it.
pub fn check(function: &Function, cpus: u64) -> Result<(), BackendError> {
    for (what, resources) in [
        ("limits", &function.limits),
        ("requests", &function.requests),
    ] {
        let Amounts { memory, nano_cpus } = amounts(what, resources)?;
        let given = |pick: fn(&Resources) -> &Option<String>| {
            resources
                .as_ref()
                .and_then(|r| pick(r).clone())
                .unwrap_or_default()
        };
        if memory.is_some_and(|bytes| bytes < MIN_MEMORY) {
            let value = given(|r| &r.memory);
            return Err(BackendError::Invalid(format!(
                "{what}.memory {value:?} is too small: give at least 4Mi"
            )));
        }
        if nano_cpus.is_some_and(|nano| nano as f64 > cpus as f64 * 1e9) {
            let value = given(|r| &r.cpu);
            return Err(BackendError::Invalid(format!(
                "{what}.cpu {value:?} is more than the {cpus} CPUs there are: give at most {cpus}"
            )));
        }
    }
    Ok(())
}

/// The refusal of a resource string that is not an amount.
pub fn not_understood(what: &str, resource: &str, value: &str) -> BackendError {
    BackendError::Invalid(format!(
        "{what}.{resource} {value:?} is not understood: use memory like \"128m\" and cpu like \"0.5\" or \"500m\" (above 0)"
    ))
}

/// The CPUs of this machine (at least 1).
pub fn machine_cpus() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// The CPUs of the engine `info` describes; this machine's when it does
/// not say.
pub fn engine_cpus(info: &bollard::models::SystemInfo) -> u64 {
    info.ncpu
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(machine_cpus)
}

/// Bytes of a memory amount; `None` when it is not one.
pub fn memory_bytes(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let value: f64 = s[..digits].parse().ok()?;
    let scale: f64 = match s[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = value * scale;
    (bytes >= 1.0 && bytes < i64::MAX as f64).then_some(bytes as i64)
}

/// Billionths of a CPU (Docker's `NanoCpus`); `None` when it is not a CPU
/// amount.
pub fn nano_cpus(s: &str) -> Option<i64> {
    let s = s.trim();
    let cores: f64 = match s.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().ok()? / 1000.0,
        None => s.parse().ok()?,
    };
    (cores > 0.0 && cores < 1e6).then_some((cores * 1e9) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory() {
        assert_eq!(memory_bytes("128m"), Some(128_000_000));
        assert_eq!(memory_bytes("512Mi"), Some(512 * 1024 * 1024));
        assert_eq!(memory_bytes("1g"), Some(1_000_000_000));
        assert_eq!(memory_bytes("4096"), Some(4096));
        assert_eq!(memory_bytes("lots"), None);
        assert_eq!(memory_bytes("12q"), None);
    }

    fn function(more: serde_json::Value) -> Function {
        Function::with_fields(more)
    }

    #[test]
    fn bounds() {
        let ok = serde_json::json!({"limits": {"memory": "4Mi", "cpu": "2"}, "requests": {"cpu": "100m"}});
        assert!(check(&function(ok), 2).is_ok());
        for (bad, says) in [
            (
                serde_json::json!({"limits": {"memory": "1"}}),
                "limits.memory \"1\" is too small",
            ),
            (
                serde_json::json!({"requests": {"memory": "4m"}}),
                "requests.memory \"4m\" is too small",
            ),
            (
                serde_json::json!({"limits": {"cpu": "3"}}),
                "limits.cpu \"3\" is more than the 2 CPUs",
            ),
            (
                serde_json::json!({"limits": {"cpu": "0"}}),
                "limits.cpu \"0\" is not understood",
            ),
            (
                serde_json::json!({"requests": {"memory": "lots"}}),
                "requests.memory \"lots\" is not understood",
            ),
        ] {
            match check(&function(bad), 2) {
                Err(BackendError::Invalid(line)) => assert!(line.starts_with(says), "{line}"),
                other => panic!("{says}: {other:?}"),
            }
        }
    }

    #[test]
    fn cpu() {
        assert_eq!(nano_cpus("0.5"), Some(500_000_000));
        assert_eq!(nano_cpus("250m"), Some(250_000_000));
        assert_eq!(nano_cpus("2"), Some(2_000_000_000));
        assert_eq!(nano_cpus("-1"), None);
        assert_eq!(nano_cpus("fast"), None);
    }
}
