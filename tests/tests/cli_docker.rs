//! Hyper Func's `func` transcript with real images on a real Docker Engine: `faas`
//! against a gateway on the docker backend, where every call is a new
//! container. Skips with a printed reason when no engine answers, and fails
//! when `FAAS_REQUIRE_DOCKER=1`.

mod cli_support;

use cli_support::*;
use faas_tests::docker::{containers_labelled, engine_or_skip};

#[test]
fn the_spec_transcript_in_containers() {
    if !engine_or_skip("the_spec_transcript_in_containers") {
        return;
    }
    let env = Env::docker();
    let url = env.url();

    // $ faas func create --name helloworld <image> echo HelloWorld
    let out = env.faas_line("func create --name helloworld faas/sample-cat echo HelloWorld");
    assert_created(&out, &url, "helloworld");

    // $ faas func call helloworld ; faas func get --wait <id>
    let id = call_id(&env.faas(&["func", "call", "helloworld"]));
    let out = env.faas(&["func", "get", "--wait", &id]);
    assert_success(&out);
    assert_eq!(stdout(&out), "HelloWorld\n");

    // $ faas func logs helloworld
    let out = env.faas(&["func", "logs", "--callid", &id, "helloworld"]);
    assert_success(&out);
    assert_lines(
        &stdout(&out),
        &[
            &format!("{{time}} [CALL] CallId: {id}, ShortStdin: "),
            &format!("{{time}} [PENDING] CallId: {id}"),
            &format!("{{time}} [RUNNING] CallId: {id}"),
            &format!("{{time}} [FINISHED] CallId: {id}, ShortStdout: HelloWorld\\n, ShortStderr: "),
        ],
    );

    // $ cat picture.png | faas func call --sync resizer > picture_small.png
    env.create(&["--name", "resizer", "faas/sample-resizer", "resizer"]);
    let png =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/picture.png")).expect("picture");
    let out = env.faas_in(&["func", "call", "--sync", "resizer"], &png);
    assert_success(&out);
    let small = out.stdout;
    assert_eq!(&small[1..4], b"PNG");
    let size = |at: usize| u32::from_be_bytes(small[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!((size(16), size(20)), (32, 20), "the picture is halved");

    // A failing container: its output, then Error: on STDERR, non-zero exit.
    let out = env.faas_line("func create --name broken faas/sample-cat sh -c 'echo oops; exit 3'");
    assert_success(&out);
    let out = env.faas(&["func", "call", "--sync", "broken"]);
    assert!(!out.status.success());
    assert!(stdout(&out).contains("oops"));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Error: "));

    // $ faas func rm helloworld resizer broken
    let out = env.faas(&["func", "rm", "helloworld", "resizer", "broken"]);
    assert_success(&out);
    assert_lines(&stdout(&out), &["helloworld", "resizer", "broken"]);
    for name in ["helloworld", "resizer", "broken"] {
        assert!(containers_labelled(&format!("com.faas.function={name}")).is_empty());
    }
}

#[test]
fn size_sets_a_containers_limits() {
    if !engine_or_skip("size_sets_a_containers_limits") {
        return;
    }
    let env = Env::docker();
    env.create(&["--name", "small", "--size", "s2", "faas/sample-cat", "cat"]);
    let out = env.faas(&["func", "inspect", "small"]);
    assert_success(&out);
    let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        inspected[0]["limits"],
        serde_json::json!({"memory": "128Mi", "cpu": "0.25"})
    );
}
