//! `/metrics` parses as Prometheus text and counts what happened.

use std::collections::HashMap;

use faas_tests::gateway::start_gateway;
use serde_json::json;

/// `name{labels}` → value, for every sample line; panics on a malformed one.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            assert!(
                matches!(words.first(), Some(&"HELP") | Some(&"TYPE")),
                "bad comment: {line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name: {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "bad labels: {line}");
        }
        samples.insert(series.to_string(), value);
    }
    samples
}

#[test]
fn metrics_parse_and_count() {
    let gw = start_gateway(&[]);
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    gw.deploy(json!({"service": "bad", "image": "x", "command": ["false"]}));
    for _ in 0..3 {
        assert_eq!(gw.call("cat", "x").status, 200);
    }
    assert_eq!(gw.call("bad", "").status, 500);
    let id = gw.call_async("cat", "y");
    assert_eq!(gw.wait_output(&id).status, 200);
    let text = gw.metrics();
    let m = parse(&text);
    let get = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("{k} missing from:\n{text}"))
    };
    assert_eq!(
        get("gateway_function_invocation_total{code=\"200\",function_name=\"cat\"}"),
        4.0
    );
    assert_eq!(
        get("gateway_function_invocation_total{code=\"500\",function_name=\"bad\"}"),
        1.0
    );
    assert_eq!(
        get("gateway_function_invocation_started{function_name=\"cat\"}"),
        4.0
    );
    assert_eq!(
        get("gateway_functions_seconds_count{function_name=\"cat\"}"),
        4.0
    );
    assert_eq!(get("gateway_service_count{function_name=\"cat\"}"), 1.0);
    assert_eq!(
        get("faas_call_wait_seconds_count{function_name=\"cat\"}"),
        4.0
    );
    assert_eq!(get("faas_queue_depth{function_name=\"cat\"}"), 0.0);
    assert_eq!(get("faas_calls_running{function_name=\"cat\"}"), 0.0);
    assert_eq!(get("faas_quota_in_use"), 0.0);
}
