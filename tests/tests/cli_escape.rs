//! `faas` never writes a function's, a caller's or a deployer's control
//! characters to a terminal: a function that writes escape sequences and a
//! forged `[FINISHED]` line to STDOUT and STDERR shows them spelled out in
//! `logs` (one line per event), in `get` and `call --sync` on a terminal,
//! and hostile labels, annotations, env values and images in `ls` and
//! `inspect`; `get` into a pipe still gives the exact bytes.

mod cli_support;

use std::time::Duration;

use cli_support::*;
use faas_tests::eventually;
use serde_json::json;

/// What the function writes, as `printf` reads it: OSC (set the title), BEL,
/// CSI (clear the screen), CR, C1 CSI (U+009B), backspace, DEL, a tab, CRLF
/// and a line that looks like another call's end.
const PRINTF: &str = r"\033]0;owned\007\033[2J\rred\302\233x\010\177\tx\r\n2017-03-16T15:05:58Z [FINISHED] CallId: 00000000-0000-0000-0000-000000000000, ShortStdout: forged\n";

/// The bytes `PRINTF` gives.
const RAW: &[u8] = b"\x1b]0;owned\x07\x1b[2J\rred\xc2\x9bx\x08\x7f\tx\r\n2017-03-16T15:05:58Z [FINISHED] CallId: 00000000-0000-0000-0000-000000000000, ShortStdout: forged\n";

/// `RAW` as one line.
const ONE_LINE: &str = r"\x1b]0;owned\x07\x1b[2J\rred\u{9b}x\x08\x7f\tx\r\n2017-03-16T15:05:58Z [FINISHED] CallId: 00000000-0000-0000-0000-000000000000, ShortStdout: forged\n";

/// `RAW` on a terminal: its tab, CRLF and newline kept.
const ON_A_TERMINAL: &str = "\\x1b]0;owned\\x07\\x1b[2J\\rred\\u{9b}x\\x08\\x7f\tx\r\n2017-03-16T15:05:58Z [FINISHED] CallId: 00000000-0000-0000-0000-000000000000, ShortStdout: forged\n";

/// A deployer's value: the same kinds of bytes, and a newline.
const HOSTILE: &str =
    "v\x1b]0;owned\x07\x1b[2J\r\n2017-03-16T15:05:58Z [FINISHED] CallId: x\u{9b}\u{7f}\t";

/// `HOSTILE` as one line.
const HOSTILE_LINE: &str =
    r"v\x1b]0;owned\x07\x1b[2J\r\n2017-03-16T15:05:58Z [FINISHED] CallId: x\u{9b}\x7f\t";

/// Deploys `hostile`, which writes `RAW` to STDOUT and to STDERR.
fn deploy_hostile(env: &Env) {
    env.create(&[
        "--name",
        "hostile",
        "ubuntu",
        "sh",
        "-c",
        &format!("p='{PRINTF}'; printf \"$p\"; printf \"$p\" >&2"),
    ]);
}

/// Asserts that `text` holds no control character but the newlines that
/// end its lines.
fn assert_one_line_each(text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "control characters {bad:?} in:\n{text}");
}

#[test]
fn logs_show_control_characters_and_cannot_be_forged() {
    let env = Env::start();
    deploy_hostile(&env);
    let id = call_id(&env.faas(&["func", "call", "hostile"]));
    let logs = eventually(
        "the call to finish in the logs",
        Duration::from_secs(30),
        || {
            let out = env.faas(&["func", "logs", "--callid", &id, "hostile"]);
            assert_success(&out);
            let logs = stdout(&out);
            logs.contains(&format!("[FINISHED] CallId: {id}"))
                .then_some(out.stdout)
        },
    );
    assert!(
        logs.iter()
            .all(|b| (0x20..0x7f).contains(b) || *b == b'\n' || *b >= 0xa0),
        "a raw control byte in {logs:?}"
    );
    let text = String::from_utf8(logs).expect("UTF-8");
    assert_one_line_each(&text);
    // Every line is an event of this call: the forged one never starts a line.
    let events = [
        format!("{{time}} [CALL] CallId: {id}, ShortStdin: "),
        format!("{{time}} [PENDING] CallId: {id}"),
        format!("{{time}} [RUNNING] CallId: {id}"),
        format!("{{time}} [STDERR] CallId: {id}, Message: {{any}}"),
        format!("{{time}} [FINISHED] CallId: {id}, ShortStdout: {ONE_LINE}, ShortStderr: {{any}}"),
    ];
    for line in text.lines() {
        assert!(
            events.iter().any(|e| matches(e, line)),
            "{line:?} is not an event of {id}:\n{text}"
        );
    }
    let finished: Vec<&str> = text
        .lines()
        .filter(|l| matches("{time} [FINISHED] {any}", l))
        .collect();
    assert_eq!(finished.len(), 1, "{text}");
    assert!(
        finished[0].contains(r"ShortStdout: \x1b]0;owned\x07"),
        "{text}"
    );
    // STDERR's lines are events of their own, the forged one demoted to a message.
    assert!(
        text.lines().any(|l| matches(
            &format!("{{time}} [STDERR] CallId: {id}, Message: 2017-03-16T15:05:58Z [FINISHED] CallId: 00000000-{{any}}"),
            l
        )),
        "{text}"
    );
    assert!(text.contains(r"\x1b[2J"), "{text}");
}

#[test]
fn output_is_escaped_on_a_terminal_and_exact_in_a_pipe() {
    let env = Env::start();
    deploy_hostile(&env);
    let id = call_id(&env.faas(&["func", "call", "hostile"]));

    // A pipe gets the function's bytes.
    let out = env.faas(&["func", "get", "--wait", &id]);
    assert_success(&out);
    assert_eq!(out.stdout, RAW);

    // A terminal gets them spelled out, lines and tabs kept.
    for args in [
        vec!["func", "get", "--wait", &id],
        vec!["func", "call", "--sync", "hostile"],
    ] {
        let (seen, code) = env.faas_on_tty(&args);
        assert_eq!(code, Some(0), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&seen), ON_A_TERMINAL, "{args:?}");
        for (i, b) in seen.iter().enumerate() {
            let kept = *b == b'\n' || *b == b'\t' || *b == b'\r' && seen.get(i + 1) == Some(&b'\n');
            assert!(
                kept || (0x20..0x7f).contains(b) || *b >= 0xa0,
                "byte {i} of {args:?}"
            );
        }
    }
}

#[test]
fn listings_show_a_deployers_values_escaped() {
    let env = Env::start();
    let command = ["sh", "-c", &format!("echo '{HOSTILE}'")];
    env.gateway.deploy(json!({
        "service": "meta",
        "image": format!("ubuntu{HOSTILE}"),
        "command": command,
        "labels": {"team": HOSTILE},
        "annotations": {"note": HOSTILE},
        "envVars": {"A": HOSTILE},
    }));

    let out = env.faas(&["func", "ls"]);
    assert_success(&out);
    let text = stdout(&out);
    assert_one_line_each(&text);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains(&format!("ubuntu{HOSTILE_LINE}")), "{text}");

    // JSON keeps the values exact (escaped as JSON does) and prints none raw.
    let out = env.faas(&["func", "inspect", "meta"]);
    assert_success(&out);
    let text = stdout(&out);
    assert_one_line_each(&text);
    let inspected: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let f = &inspected[0];
    assert_eq!(f["labels"]["team"], HOSTILE);
    assert_eq!(f["annotations"]["note"], HOSTILE);
    assert_eq!(f["envVars"]["A"], HOSTILE);
    assert_eq!(f["command"], json!(command));

    let out = env.faas(&[
        "func",
        "inspect",
        "-f",
        "{{.Labels.team}}|{{.Annotations.note}}|{{.EnvVars.A}}|{{.Image}}",
        "meta",
    ]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        format!("{HOSTILE_LINE}|{HOSTILE_LINE}|{HOSTILE_LINE}|ubuntu{HOSTILE_LINE}\n")
    );
    let out = env.faas(&["func", "inspect", "-f", "{{json .Labels}}", "meta"]);
    assert_success(&out);
    assert_one_line_each(&stdout(&out));
    let labels: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(labels["team"], HOSTILE);

    // An error that repeats what it was given repeats it escaped.
    let out = env.faas(&["func", "get", "nope\x1b]0;owned\x07"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "Error: No such call id: nope\\x1b]0;owned\\x07\n"
    );
}
