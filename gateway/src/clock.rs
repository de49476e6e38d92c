//! Wall-clock time as the gateway stores it (Unix milliseconds) and shows it
//! (RFC 3339, UTC).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2017-03-16T15:05:58Z`: Hyper Func's log time, whole seconds.
pub fn seconds(ms: i64) -> String {
    let (date, secs) = split(ms);
    format!("{date}T{}Z", hms(secs))
}

/// `2017-03-16T15:05:58.123Z`: call records, to the millisecond.
pub fn millis(ms: i64) -> String {
    let (date, secs) = split(ms);
    format!("{date}T{}.{:03}Z", hms(secs), ms.rem_euclid(1000))
}

fn split(ms: i64) -> (String, i64) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (format!("{y:04}-{m:02}-{d:02}"), secs.rem_euclid(86_400))
}

fn hms(secs: i64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Howard Hinnant's days-from-civil inverse.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let shown = [
            (seconds(0), "1970-01-01T00:00:00Z"),
            (seconds(1_489_676_758_000), "2017-03-16T15:05:58Z"),
            (millis(1_489_676_758_042), "2017-03-16T15:05:58.042Z"),
            (seconds(951_782_400_000), "2000-02-29T00:00:00Z"),
        ];
        for (got, want) in shown {
            assert_eq!(got, want);
        }
    }
}
