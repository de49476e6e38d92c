//! Hyper Func's `func` transcript, run with the real `faas` against a real gateway
//! (process backend: `echo HelloWorld` runs as a local process), each line
//! matched with ids and times as patterns. Also `ls`, `inspect`, `status`,
//! `logs -f` and `update`.

mod cli_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use cli_support::*;
use faas_tests::eventually;

/// The events of `call_id` in `logs`: one line each, a Short field's
/// newline shown as `\n`.
fn events_of(logs: &str, call_id: &str) -> String {
    logs.lines()
        .filter(|line| line.contains(&format!("CallId: {call_id}")))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn the_spec_transcript() {
    let env = Env::start();
    let url = env.url();

    // $ faas func create --name helloworld ubuntu echo HelloWorld
    let out = env.faas_line("func create --name helloworld ubuntu echo HelloWorld");
    assert_created(&out, &url, "helloworld");

    // $ faas func call helloworld
    let first = call_id(&env.faas(&["func", "call", "helloworld"]));

    // $ echo Hello | faas func call helloworld
    // (the transcript shows no output; faas prints the id, as Hyper did)
    let second = call_id(&env.faas_in(&["func", "call", "helloworld"], b"Hello\n"));

    // $ faas func logs helloworld
    let logs = eventually(
        "both calls to finish in the logs",
        Duration::from_secs(30),
        || {
            let out = env.faas(&["func", "logs", "helloworld"]);
            assert_success(&out);
            let logs = stdout(&out);
            (logs.contains(&format!("[FINISHED] CallId: {first}"))
                && logs.contains(&format!("[FINISHED] CallId: {second}")))
            .then_some(logs)
        },
    );
    assert_lines(
        &events_of(&logs, &first),
        &[
            &format!("{{time}} [CALL] CallId: {first}, ShortStdin: "),
            &format!("{{time}} [PENDING] CallId: {first}"),
            &format!("{{time}} [RUNNING] CallId: {first}"),
            &format!(
                "{{time}} [FINISHED] CallId: {first}, ShortStdout: HelloWorld\\n, ShortStderr: "
            ),
        ],
    );
    assert_lines(
        &events_of(&logs, &second),
        &[
            &format!("{{time}} [CALL] CallId: {second}, ShortStdin: Hello\\n"),
            &format!("{{time}} [PENDING] CallId: {second}"),
            &format!("{{time}} [RUNNING] CallId: {second}"),
            &format!(
                "{{time}} [FINISHED] CallId: {second}, ShortStdout: HelloWorld\\n, ShortStderr: "
            ),
        ],
    );
    // --callid and --tail narrow it down.
    let out = env.faas(&["func", "logs", "--callid", &first, "helloworld"]);
    assert_success(&out);
    assert_eq!(stdout(&out), events_of(&logs, &first));
    let out = env.faas(&["func", "logs", "--tail", "1", "helloworld"]);
    assert_success(&out);
    assert_lines(
        &stdout(&out),
        &["{time} [FINISHED] CallId: {uuid}, ShortStdout: HelloWorld\\n, ShortStderr: "],
    );

    // $ faas func get --wait <first>
    let out = env.faas(&["func", "get", "--wait", &first]);
    assert_success(&out);
    assert_eq!(stdout(&out), "HelloWorld\n");
    let out = env.faas(&["func", "get", &second]);
    assert_success(&out);
    assert_eq!(stdout(&out), "HelloWorld\n");

    // $ faas func cancel <first>: it has ended
    let out = env.faas(&["func", "cancel", &first]);
    assert_error(
        &out,
        &format!("call {first} has already ended (FINISHED): only a queued or running async call can be cancelled"),
    );

    // ls, inspect, status
    let out = env.faas(&["func", "ls"]);
    assert_success(&out);
    assert_lines(
        &stdout(&out),
        &[
            "NAME         IMAGE    COMMAND           CREATED{any}UUID",
            "helloworld   ubuntu   echo HelloWorld   {any} ago{any}{uuid}",
        ],
    );
    let out = env.faas(&["func", "inspect", "helloworld"]);
    assert_success(&out);
    let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let function = &inspected.as_array().expect("an array")[0];
    assert_eq!(function["name"], "helloworld");
    assert_eq!(function["image"], "ubuntu");
    assert_eq!(
        function["command"],
        serde_json::json!(["echo", "HelloWorld"])
    );
    let address = function["address"].as_str().expect("an address");
    assert!(stdout(&env.faas(&["func", "ls"])).contains(function["uuid"].as_str().expect("uuid")));
    let out = env.faas(&["func", "status", "helloworld"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "TOTAL   PENDING   RUNNING   FINISHED   FAILED\n2       0         0         2          0\n"
    );

    // update --refresh gives a new address; --timeout and --env stick.
    let out = env.faas_line("func update --refresh --timeout 30 -e A=1 helloworld");
    assert_success(&out);
    assert_lines(
        &stdout(&out),
        &[&format!(
            "helloworld is updated with the address of {url}/call/helloworld/{{uuid}}"
        )],
    );
    assert!(!stdout(&out).contains(address), "--refresh keeps the UUID");
    let out = env.faas(&["func", "inspect", "helloworld"]);
    let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(inspected[0]["timeout"], 30);
    assert_eq!(inspected[0]["envVars"]["A"], "1");
    assert_eq!(
        inspected[0]["command"],
        serde_json::json!(["echo", "HelloWorld"])
    );

    // $ faas func rm helloworld
    let out = env.faas(&["func", "rm", "helloworld"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "helloworld\n");
    assert_eq!(
        stdout(&env.faas(&["func", "ls"])),
        "NAME   IMAGE   COMMAND   CREATED   UUID\n"
    );
}

#[test]
fn logs_follow_prints_new_events() {
    let env = Env::start();
    env.create(&["--name", "hello", "ubuntu", "echo", "HelloWorld"]);
    let mut follower = env
        .command(
            &["func", "logs", "-f", "hello"],
            &[("FAAS_GATEWAY", &env.url()), ("FAAS_PASSWORD", PASSWORD)],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("faas func logs -f starts");
    let id = call_id(&env.faas(&["func", "call", "hello"]));

    let mut lines = BufReader::new(follower.stdout.take().expect("stdout")).lines();
    let finished = format!("[FINISHED] CallId: {id}, ShortStdout: HelloWorld");
    let mut seen = Vec::new();
    loop {
        let line = lines
            .next()
            .expect("the stream goes on until FINISHED")
            .expect("a line");
        let done = line.contains(&finished);
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(
        matches(
            &format!("{{time}} [CALL] CallId: {id}, ShortStdin: "),
            &seen[0]
        ),
        "{seen:?}"
    );
    // Still following: it has not exited.
    assert!(follower.try_wait().expect("try_wait").is_none());
    let _ = follower.kill();
    let _ = follower.wait();
}

#[test]
fn completion_scripts() {
    let env = Env::start();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.faas(&["completion", shell]);
        assert_success(&out);
        assert!(stdout(&out).contains("faas"), "{shell}");
    }
}

#[test]
fn logs_show_what_the_function_wrote_to_stderr() {
    let env = Env::start();
    env.create(&[
        "--name",
        "noisy",
        "ubuntu",
        "sh",
        "-c",
        "echo oops >&2; echo again >&2; echo done",
    ]);
    let id = call_id(&env.faas(&["func", "call", "noisy"]));
    let logs = eventually(
        "the call to finish in the logs",
        Duration::from_secs(30),
        || {
            let logs = stdout(&env.faas(&["func", "logs", "noisy"]));
            logs.contains(&format!("[FINISHED] CallId: {id}"))
                .then_some(logs)
        },
    );
    // Each line of STDERR its own event, before the call's end.
    assert_lines(
        &events_of(&logs, &id),
        &[
            &format!("{{time}} [CALL] CallId: {id}, ShortStdin: "),
            &format!("{{time}} [PENDING] CallId: {id}"),
            &format!("{{time}} [RUNNING] CallId: {id}"),
            &format!("{{time}} [STDERR] CallId: {id}, Message: oops"),
            &format!("{{time}} [STDERR] CallId: {id}, Message: again"),
            &format!(
                "{{time}} [FINISHED] CallId: {id}, ShortStdout: done\\n, ShortStderr: oops\\nagain\\n"
            ),
        ],
    );
}

#[test]
fn hypers_size_filter_format_and_since() {
    let env = Env::start();
    // --size sets the function's limits, which local processes cannot
    // have (cli_docker sees them set); an unknown size is refused first.
    let out = env.faas(&[
        "func", "create", "--name", "sized", "--size", "s2", "ubuntu", "true",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("\"limits.memory\" cannot be applied on the process backend"),
        "{}",
        stderr(&out)
    );
    env.create(&["--name", "small", "ubuntu", "echo", "hi"]);
    env.create(&["--name", "other", "alpine:3", "cat"]);
    let out = env.faas(&["func", "create", "--size", "xxl", "ubuntu", "true"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("s1"), "{}", stderr(&out));

    // ls -f name= / image=.
    let names = |args: &[&str]| -> Vec<String> {
        let out = env.faas(args);
        assert_success(&out);
        stdout(&out)
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    };
    assert_eq!(names(&["func", "ls", "-f", "name=sma"]), ["small"]);
    assert_eq!(
        names(&["func", "ls", "--filter", "image=alpine"]),
        ["other"]
    );
    assert!(names(&["func", "ls", "-f", "name=sma", "-f", "image=alpine"]).is_empty());

    // inspect -f: a template per function.
    let out = env.faas(&[
        "func",
        "inspect",
        "-f",
        "{{.Name}} {{.Address}}",
        "small",
        "other",
    ]);
    assert_success(&out);
    let url = env.url();
    assert_lines(
        &stdout(&out),
        &[
            &format!("small {url}/call/small/{{uuid}}"),
            &format!("other {url}/call/other/{{uuid}}"),
        ],
    );

    // logs --since: a time after the call leaves nothing; a duration back keeps it.
    let id = call_id(&env.faas(&["func", "call", "small"]));
    eventually("the call to finish", Duration::from_secs(30), || {
        stdout(&env.faas(&["func", "logs", "small"]))
            .contains(&format!("[FINISHED] CallId: {id}"))
            .then_some(())
    });
    let out = env.faas(&["func", "logs", "--since", "10m", "small"]);
    assert!(stdout(&out).contains(&format!("[FINISHED] CallId: {id}")));
    let out = env.faas(&["func", "logs", "--since", "4102444800", "small"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "");

    // The completion scripts know the new flags.
    let bash = stdout(&env.faas(&["completion", "bash"]));
    for flag in ["--size", "--filter", "--format", "--since"] {
        assert!(bash.contains(flag), "{flag}");
    }
}
