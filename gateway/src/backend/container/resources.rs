//! OpenFaaS resource strings as the Docker API wants them: memory `128m`,
//! `1g`, `512Mi` or plain bytes; CPU `0.5` (cores) or `500m` (millicores).

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

    #[test]
    fn cpu() {
        assert_eq!(nano_cpus("0.5"), Some(500_000_000));
        assert_eq!(nano_cpus("250m"), Some(250_000_000));
        assert_eq!(nano_cpus("2"), Some(2_000_000_000));
        assert_eq!(nano_cpus("-1"), None);
        assert_eq!(nano_cpus("fast"), None);
    }
}
