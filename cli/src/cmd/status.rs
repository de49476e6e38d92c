//! `faas func status NAME`: the function's calls counted by state, as a table
//! `TOTAL PENDING RUNNING FINISHED FAILED`.

use std::io::Write;

use serde_json::Value;

use crate::client::Gateway;
use crate::cmd::write;
use crate::config::Config;
use crate::error::Error;
use crate::format::table;

const FIELDS: [&str; 5] = ["Total", "Pending", "Running", "Finished", "Failed"];

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub name: String,
}

pub fn run(config: &Config, o: Options, out: &mut dyn Write) -> Result<(), Error> {
    let gateway = Gateway::new(config)?;
    let status = gateway.status(&o.name)?;
    write(out, &render(&status))
}

pub fn render(status: &Value) -> String {
    let headers: Vec<String> = FIELDS.iter().map(|f| f.to_uppercase()).collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let row = FIELDS
        .iter()
        .map(|f| status[*f].as_u64().unwrap_or(0).to_string())
        .collect();
    table(&headers, &[row])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_is_one_row() {
        let s = json!({"Total": 12, "Pending": 1, "Running": 2, "Finished": 8, "Failed": 1});
        assert_eq!(
            render(&s),
            "TOTAL   PENDING   RUNNING   FINISHED   FAILED\n12      1         2         8          1\n"
        );
    }
}
