//! Failed logins are throttled per client address: after
//! `FAAS_LOGIN_ATTEMPTS` wrong passwords the address is locked, and while
//! it is every request needing credentials is 429 with `Retry-After` —
//! the right password too, unchecked — until the lockout passes. A correct
//! login from an address that is not locked is answered at once, and
//! forgets its failures; the metrics count both.

use std::time::{Duration, Instant};

use faas_tests::gateway::{start_gateway, GatewayHandle};
use faas_tests::{eventually, send, Answer};

const LOCKOUT: Duration = Duration::from_secs(5);

fn with_password(gw: &GatewayHandle, password: &str) -> Answer {
    send(
        gw.client
            .get(gw.url("/system/info"))
            .basic_auth("admin", Some(password)),
    )
}

fn counter(gw: &GatewayHandle, name: &str) -> f64 {
    gw.metric(name).unwrap_or(0.0)
}

#[test]
fn wrong_passwords_lock_the_address_out_until_the_lockout_passes() {
    let gw = start_gateway(&[
        ("FAAS_LOGIN_ATTEMPTS", "3"),
        ("FAAS_LOGIN_LOCKOUT", "5s"),
        ("FAAS_LOGIN_LOCKOUT_MAX", "5s"),
    ]);
    // A correct login from a fresh state, and after fewer failures than
    // the free attempts: answered, and the failures forgotten.
    assert_eq!(gw.get("/system/info").status, 200);
    for _ in 0..2 {
        assert_eq!(with_password(&gw, "wrong").status, 401);
    }
    assert_eq!(gw.get("/system/info").status, 200);
    // No credentials at all is not a failed login.
    for _ in 0..5 {
        assert_eq!(send(gw.client.get(gw.url("/system/info"))).status, 401);
    }
    assert_eq!(counter(&gw, "faas_login_failures_total"), 2.0);

    assert_eq!(with_password(&gw, "wrong").status, 401);
    assert_eq!(with_password(&gw, "wrong").status, 401);
    // The third in a row locks the address, from no sooner than it is sent.
    let locking = Instant::now();
    assert_eq!(with_password(&gw, "wrong").status, 401);
    let unlocked_no_sooner = locking + LOCKOUT;

    let throttled = with_password(&gw, "wrong");
    let right = with_password(&gw, faas_tests::gateway::PASSWORD);
    let answered = Instant::now();
    if answered < unlocked_no_sooner {
        for (what, answer) in [("a wrong password", &throttled), ("the right one", &right)] {
            assert_eq!(answer.status, 429, "{what} while locked: {}", answer.text());
            let line = answer.one_line();
            assert!(line.contains("too many failed logins"), "{line}");
            let retry: u64 = answer.header("retry-after").parse().expect("seconds");
            assert!(
                (1..=LOCKOUT.as_secs()).contains(&retry),
                "Retry-After: {retry}"
            );
        }
        // Routes without credentials are not locked.
        assert_eq!(send(gw.client.get(gw.url("/healthz"))).status, 200);
    }

    let answer = eventually("the lockout to pass", LOCKOUT * 3, || {
        let answer = with_password(&gw, faas_tests::gateway::PASSWORD);
        (answer.status != 429).then_some(answer)
    });
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        Instant::now() >= unlocked_no_sooner,
        "accepted before the lockout passed"
    );
    assert_eq!(
        counter(&gw, "faas_login_failures_total"),
        5.0,
        "the refusals while locked are not failures"
    );
    let refused = counter(&gw, "faas_login_throttled_total");
    if answered < unlocked_no_sooner {
        assert!(refused >= 2.0, "{refused}");
    }
    // The correct login forgot the failures: two more are free again.
    for _ in 0..2 {
        assert_eq!(with_password(&gw, "wrong").status, 401);
    }
    assert_eq!(gw.get("/system/info").status, 200);
}
