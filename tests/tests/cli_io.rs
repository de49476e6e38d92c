//! `faas func call` and `get` move bytes exactly: a 1 MiB random file
//! round-trips through a `cat` function, and a failed call's output still
//! reaches STDOUT before the error.

mod cli_support;

use cli_support::*;

const MIB: usize = 1024 * 1024;

#[test]
fn a_binary_file_round_trips_through_cat() {
    let env = Env::start();
    env.create(&["--name", "cat", "alpine", "cat"]);
    let input = random_bytes(MIB, 0x9e37_79b9_7f4a_7c15);

    // $ cat picture.jpg | faas func call --sync cat > copy
    let out = env.faas_in(&["func", "call", "--sync", "cat"], &input);
    assert_success(&out);
    assert_eq!(out.stdout.len(), input.len());
    assert!(out.stdout == input, "--sync changed the bytes");

    // The same asynchronously: call, then get --wait.
    let id = call_id(&env.faas_in(&["func", "call", "cat"], &input));
    let out = env.faas(&["func", "get", "--wait", &id]);
    assert_success(&out);
    assert!(out.stdout == input, "get --wait changed the bytes");
}

#[test]
fn no_stdin_is_an_empty_input() {
    let env = Env::start();
    env.create(&["--name", "wc", "alpine", "wc", "-c"]);
    let out = env.faas(&["func", "call", "--sync", "wc"]);
    assert_success(&out);
    assert_eq!(stdout(&out).trim(), "0");
}

#[test]
fn a_failed_call_prints_its_output_and_fails() {
    let env = Env::start();
    // Options end at IMAGE: `-c` belongs to sh.
    env.create(&[
        "--name",
        "fail",
        "ubuntu",
        "sh",
        "-c",
        "echo partial; exit 3",
    ]);
    let inspected: serde_json::Value =
        serde_json::from_slice(&env.faas(&["func", "inspect", "fail"]).stdout).expect("JSON");
    assert_eq!(
        inspected[0]["command"],
        serde_json::json!(["sh", "-c", "echo partial; exit 3"])
    );

    let out = env.faas(&["func", "call", "--sync", "fail"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("partial\n"), "{}", stdout(&out));
    assert_lines(&stderr(&out), &["Error: call {uuid} failed: {any}"]);

    let id = call_id(&env.faas(&["func", "call", "fail"]));
    let out = env.faas(&["func", "get", "--wait", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("partial\n"), "{}", stdout(&out));
    assert_lines(
        &stderr(&out),
        &[&format!("Error: call {id} failed: {{any}}")],
    );

    let out = env.faas(&["func", "status", "fail"]);
    assert_success(&out);
    assert_lines(
        &stdout(&out),
        &[
            "TOTAL   PENDING   RUNNING   FINISHED   FAILED",
            "2       0         0         0          2",
        ],
    );
    let logs = stdout(&env.faas(&["func", "logs", "--callid", &id, "fail"]));
    assert!(
        logs.lines().any(|l| matches(
            &format!("{{time}} [FAILED] CallId: {id}, Message: {{any}}"),
            l
        )),
        "{logs}"
    );
}

#[test]
fn get_without_wait_says_the_call_has_not_ended() {
    let env = Env::start();
    env.create(&["--name", "slow", "ubuntu", "sleep", "5"]);
    let id = call_id(&env.faas(&["func", "call", "slow"]));
    let out = env.faas(&["func", "get", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert_lines(
        &stderr(&out),
        &[&format!(
            "Error: call {id} is {{any}}: use `faas func get --wait {id}` to wait for its output"
        )],
    );
    let out = env.faas(&["func", "get", "--wait", &id]);
    assert_success(&out);
    assert_eq!(stdout(&out), "");
}

#[test]
fn environment_and_labels_reach_the_function() {
    let env = Env::start();
    let env_file = env.home.0.join("env");
    std::fs::write(&env_file, "# a comment\n\nB=from file\nA=overridden\n").expect("env file");
    env.create(&[
        "--name",
        "show",
        "-e",
        "A=1",
        "--env-file",
        env_file.to_str().expect("path"),
        "-l",
        "team=core",
        "--timeout",
        "20",
        "ubuntu",
        "sh",
        "-c",
        "printf '%s|%s' \"$A\" \"$B\"",
    ]);
    let out = env.faas(&["func", "call", "--sync", "show"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "1|from file");
    let inspected: serde_json::Value =
        serde_json::from_slice(&env.faas(&["func", "inspect", "show"]).stdout).expect("JSON");
    assert_eq!(inspected[0]["labels"]["team"], "core");
    assert_eq!(inspected[0]["timeout"], 20);
    assert_eq!(inspected[0]["mode"], "per-call");
}

#[test]
fn a_name_is_made_up_when_none_is_given() {
    let env = Env::start();
    let out = env.faas(&["func", "create", "library/ubuntu:16.04", "true"]);
    assert_success(&out);
    assert_lines(
        &stdout(&out),
        &[&format!(
            "ubuntu-{{any}} is created with the address of {}/call/ubuntu-{{any}}/{{uuid}}",
            env.url()
        )],
    );
}

#[test]
fn input_over_the_limit_is_refused() {
    let env = Env::start();
    env.create(&["--name", "cat", "alpine", "cat"]);
    let out = env.faas_in(
        &["func", "call", "--sync", "cat"],
        &random_bytes(MIB + 1, 7),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_lines(&stderr(&out), &["Error: the gateway answered 413: {any}"]);
}

#[test]
fn calls_carry_credentials_when_invoking_needs_them() {
    let env = Env::start_with(&[("FAAS_INVOKE_AUTH", "true")]);
    env.create(&["--name", "echo", "alpine", "cat"]);
    let out = env.faas_in(&["func", "call", "--sync", "echo"], b"hi");
    assert_success(&out);
    assert_eq!(stdout(&out), "hi");
    let out = env.run(
        &["func", "call", "echo"],
        None,
        &[("FAAS_GATEWAY", &env.url())],
    );
    assert_error(
        &out,
        &format!(
            "the gateway at {} needs a password: run `faas login` or set FAAS_PASSWORD",
            env.url()
        ),
    );
}
