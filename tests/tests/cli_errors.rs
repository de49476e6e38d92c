//! Every error `faas` reports is one `Error: …` line on STDERR with exit
//! status 1: unknown functions and calls, bad or missing credentials, an
//! unreachable gateway; `rm` goes on after an error. And `faas login` saves
//! the gateway and password (mode 0600) for later commands.

mod cli_support;

use std::os::unix::fs::PermissionsExt;

use cli_support::*;

#[test]
fn unknown_functions_and_calls() {
    let env = Env::start();
    for args in [
        &["func", "call", "nope"][..],
        &["func", "call", "--sync", "nope"],
        &["func", "status", "nope"],
        &["func", "logs", "nope"],
        &["func", "update", "--timeout", "5", "nope"],
    ] {
        let out = env.faas(args);
        assert_error(&out, "No such function: nope");
    }
    let out = env.faas(&["func", "inspect", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "[]\n");
    assert_eq!(stderr(&out), "Error: No such function: nope\n");

    let id = "0b0e6a4c-7f7e-4d4e-9a57-3c6a0e0e0e0e";
    assert_error(
        &env.faas(&["func", "get", id]),
        &format!("No such call id: {id}"),
    );
    assert_error(
        &env.faas(&["func", "get", "--wait", id]),
        &format!("No such call id: {id}"),
    );
}

#[test]
fn rm_goes_on_after_an_error() {
    let env = Env::start();
    env.create(&["--name", "one", "ubuntu", "true"]);
    env.create(&["--name", "two", "ubuntu", "true"]);
    let out = env.faas(&["func", "rm", "one", "nope", "two"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "one\ntwo\n");
    assert_eq!(stderr(&out), "Error: No such function: nope\n");
}

#[test]
fn creating_a_name_twice_fails() {
    let env = Env::start();
    env.create(&["--name", "one", "ubuntu", "true"]);
    assert_error(
        &env.faas(&["func", "create", "--name", "one", "ubuntu", "true"]),
        "Function one already exists",
    );
    assert_error(
        &env.faas(&["func", "create", "--name", "Bad", "ubuntu", "true"]),
        "invalid function name \"Bad\": use 1-63 lowercase letters, digits and inner dashes",
    );
}

#[test]
fn credentials() {
    let env = Env::start();
    let url = env.url();
    let wrong = env.run(
        &["func", "ls"],
        None,
        &[("FAAS_GATEWAY", &url), ("FAAS_PASSWORD", "wrong")],
    );
    assert_error(
        &wrong,
        &format!("bad credentials for the gateway at {url}: run `faas login` or set FAAS_PASSWORD"),
    );
    let none = env.run(&["func", "ls"], None, &[("FAAS_GATEWAY", &url)]);
    assert_error(
        &none,
        &format!("the gateway at {url} needs a password: run `faas login` or set FAAS_PASSWORD"),
    );
}

#[test]
fn an_unreachable_gateway() {
    let env = Env::start();
    // Port 1 is privileged and unused: connecting is refused at once.
    let url = "http://127.0.0.1:1".to_string();
    let out = env.run(
        &["func", "ls"],
        None,
        &[("FAAS_GATEWAY", &url), ("FAAS_PASSWORD", "x")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_lines(
        &stderr(&out),
        &[&format!(
            "Error: cannot reach the gateway at {url}: {{any}}"
        )],
    );
    let out = env.run(
        &["func", "ls", "--gateway", &url],
        None,
        &[("FAAS_PASSWORD", "x")],
    );
    assert_lines(
        &stderr(&out),
        &[&format!(
            "Error: cannot reach the gateway at {url}: {{any}}"
        )],
    );
    // Nothing configured: the default address.
    let out = env.run(&["func", "ls"], None, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("http://127.0.0.1:8080"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn login_saves_the_gateway_and_password() {
    let env = Env::start();
    let url = env.url();
    let file = env.config_dir().join("faas").join("config.json");

    let out = env.run(
        &["login", "--gateway", &url, "--password-stdin"],
        Some(b"wrong\n"),
        &[],
    );
    assert_error(
        &out,
        &format!("bad credentials for the gateway at {url}: run `faas login` or set FAAS_PASSWORD"),
    );
    assert!(!file.exists(), "a refused login was saved");

    let out = env.run(
        &["login", "--gateway", &url, "--password-stdin"],
        Some(format!("{PASSWORD}\n").as_bytes()),
        &[],
    );
    assert_success(&out);
    let mode = std::fs::metadata(&file)
        .expect("the login file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // No FAAS_GATEWAY, no FAAS_PASSWORD: both come from the file.
    let out = env.run(
        &["func", "create", "--name", "saved", "ubuntu", "true"],
        None,
        &[],
    );
    assert_success(&out);
    assert!(stdout(&out).starts_with(&format!(
        "saved is created with the address of {url}/call/saved/"
    )));
    let out = env.run(&["func", "ls"], None, &[]);
    assert_success(&out);
    assert!(stdout(&out).contains("saved"));
}
