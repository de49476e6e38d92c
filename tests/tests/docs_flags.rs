//! The flag tables of docs/flags.md held to the real binary: every flag
//! `gateway --help` and `gateway agent --help` print has a row with the
//! same environment variable and default, and no row names a flag the
//! binary lacks. A failure names each missing or wrong row, with the row
//! to write.

use std::collections::BTreeMap;
use std::process::Command;

use faas_tests::binary;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const PAGE: &str = "docs/flags.md";

/// One flag as `--help` prints it.
#[derive(Debug)]
struct HelpFlag {
    env: Option<String>,
    default: Option<String>,
    /// The description, without the `[env: …]` and `[default: …]` notes.
    text: String,
}

/// One row of a flag table.
#[derive(Debug)]
struct Row {
    line: usize,
    env: Option<String>,
    default: Option<String>,
}

/// Runs `gateway <args> --help` with no environment, so every `[env: X=]`
/// shows no value, and returns its flags by name (`--port`).
fn help(args: &[&str]) -> BTreeMap<String, HelpFlag> {
    let out = Command::new(binary("gateway"))
        .args(args)
        .arg("--help")
        .env_clear()
        .output()
        .expect("the gateway binary runs");
    assert!(
        out.status.success(),
        "gateway {} --help failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_help(&String::from_utf8_lossy(&out.stdout))
}

/// The flags of clap's help text: each entry starts on a line indented at
/// most six spaces with `-`; its description is every line up to the next.
fn parse_help(text: &str) -> BTreeMap<String, HelpFlag> {
    let options = text.split_once("Options:\n").map_or("", |(_, rest)| rest);
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in options.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if indent <= 6 && trimmed.starts_with('-') {
            let (spec, rest) = split_spec(trimmed);
            let name = spec
                .split([',', ' '])
                .find(|word| word.starts_with("--"))
                .unwrap_or(spec)
                .to_string();
            entries.push((name, rest.to_string()));
        } else if indent == 0 && !trimmed.is_empty() {
            break; // another section
        } else if let Some((_, description)) = entries.last_mut() {
            description.push(' ');
            description.push_str(trimmed);
        }
    }
    entries
        .into_iter()
        .filter(|(name, _)| name != "--help" && name != "--version")
        .map(|(name, description)| {
            let description = collapse(&description);
            let env = note(&description, "[env: ").map(|env| {
                env.split_once('=')
                    .map_or(env.as_str(), |(name, _)| name)
                    .to_string()
            });
            let default = note(&description, "[default: ");
            let text = without_notes(&description);
            (name, HelpFlag { env, default, text })
        })
        .collect()
}

/// A help line's flag spec (`-h, --help`, `--port <PORT>`) and the
/// description after it on the same line, if any (two spaces part them).
fn split_spec(line: &str) -> (&str, &str) {
    line.split_once("  ")
        .map_or((line, ""), |(spec, rest)| (spec, rest.trim()))
}

/// What stands between `open` and the next `]`.
fn note(text: &str, open: &str) -> Option<String> {
    let (_, rest) = text.split_once(open)?;
    let (value, _) = rest.split_once(']')?;
    Some(value.trim().to_string())
}

/// The description without clap's bracketed notes.
fn without_notes(text: &str) -> String {
    let mut out = text.to_string();
    for open in ["[env: ", "[default: ", "[possible values: "] {
        while let Some(start) = out.find(open) {
            let end = out[start..].find(']').map_or(out.len(), |e| start + e + 1);
            out.replace_range(start..end, "");
        }
    }
    collapse(&out)
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The rows of the table after `<!-- flags: <command> -->` on the page.
fn table(page: &str, command: &str) -> Result<BTreeMap<String, Vec<Row>>, String> {
    let marker = format!("<!-- flags: {command} -->");
    let start = page
        .lines()
        .position(|line| line.trim() == marker)
        .ok_or_else(|| format!("{PAGE} has no {marker} before its table"))?;
    let mut rows: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let lines = page.lines().enumerate().skip(start + 1);
    let table = lines
        .skip_while(|(_, line)| !line.starts_with('|'))
        .take_while(|(_, line)| line.starts_with('|'))
        .skip(2); // the header and its separator
    for (index, line) in table {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        let [flag, env, default, _meaning] = cells[..] else {
            return Err(format!(
                "{PAGE} line {}: a row of four cells (flag | environment | default | meaning): {line}",
                index + 1
            ));
        };
        rows.entry(flag.trim().trim_matches('`').to_string())
            .or_default()
            .push(Row {
                line: index + 1,
                env: cell_value(env),
                default: cell_value(default),
            });
    }
    Ok(rows)
}

/// A cell's value: what its leading backticks quote (a gloss may follow),
/// else its text without backticks; `none` is no value.
fn cell_value(cell: &str) -> Option<String> {
    let cell = cell.trim();
    let value = match cell.strip_prefix('`').and_then(|rest| rest.split_once('`')) {
        Some((quoted, _gloss)) => quoted.to_string(),
        None => collapse(&cell.replace('`', "")),
    };
    (value != "none").then_some(value)
}

fn shown(value: &Option<String>) -> String {
    value
        .as_ref()
        .map_or_else(|| "none".to_string(), |v| format!("`{v}`"))
}

/// Every difference between the page's table for `command` and its help.
fn problems(command: &str, args: &[&str]) -> Vec<String> {
    let page = std::fs::read_to_string(format!("{ROOT}/{PAGE}")).expect(PAGE);
    let rows = match table(&page, command) {
        Ok(rows) => rows,
        Err(why) => return vec![why],
    };
    let flags = help(args);
    assert!(
        !flags.is_empty(),
        "`{command} --help` printed no flags the test could read"
    );
    let mut problems = Vec::new();
    for (name, flag) in &flags {
        let Some(found) = rows.get(name) else {
            problems.push(format!(
                "{PAGE}, table `{command}`: no row for `{name}`; add\n  | `{name}` | {} | {} | {} |",
                shown(&flag.env),
                shown(&flag.default),
                flag.text
            ));
            continue;
        };
        for row in found.iter().skip(1) {
            problems.push(format!(
                "{PAGE} line {}: `{name}` has a row already (line {}); remove one",
                row.line, found[0].line
            ));
        }
        let row = &found[0];
        let columns = [
            ("environment", &row.env, &flag.env),
            ("default", &row.default, &flag.default),
        ];
        for (column, written, said) in columns {
            if written != said {
                problems.push(format!(
                    "{PAGE} line {}: `{name}`'s {column} is {}, `{command} --help` says {}",
                    row.line,
                    shown(written),
                    shown(said)
                ));
            }
        }
    }
    for (name, found) in &rows {
        if !flags.contains_key(name) {
            for row in found {
                problems.push(format!(
                    "{PAGE} line {}: `{name}` is not a flag of `{command} --help`; remove the row",
                    row.line
                ));
            }
        }
    }
    problems
}

fn assert_none(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "the flag table is not the binary's --help:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_gateway_table_is_its_help() {
    assert_none(problems("gateway", &[]));
}

#[test]
fn the_agent_table_is_its_help() {
    assert_none(problems("gateway agent", &["agent"]));
}

#[test]
fn help_is_read_whole() {
    // The parser on clap's two layouts: a description on the flag's line,
    // wrapped onto the next; and one below the flag (long help).
    let text = "Usage: gateway [OPTIONS]\n\nOptions:\n      --port <PORT>  Port to listen on\n                     [env: FAAS_PORT=] [default:\n                     8080]\n  -h, --help  Print help\n      --bind <BIND>\n          Address [default: 127.0.0.1 with the process\n          backend, else 0.0.0.0]\n\n          [env: FAAS_BIND=]\n";
    let flags = parse_help(text);
    assert_eq!(flags.keys().collect::<Vec<_>>(), ["--bind", "--port"]);
    assert_eq!(flags["--port"].env.as_deref(), Some("FAAS_PORT"));
    assert_eq!(flags["--port"].default.as_deref(), Some("8080"));
    assert_eq!(flags["--port"].text, "Port to listen on");
    assert_eq!(
        flags["--bind"].default.as_deref(),
        Some("127.0.0.1 with the process backend, else 0.0.0.0")
    );
    assert_eq!(flags["--bind"].text, "Address");
    assert_eq!(
        cell_value("`52428800` (50 MiB)").as_deref(),
        Some("52428800")
    );
    assert_eq!(
        cell_value("a tenth of `--max-connections`, 1 to 256").as_deref(),
        Some("a tenth of --max-connections, 1 to 256")
    );
    assert_eq!(cell_value(" none "), None);
}
