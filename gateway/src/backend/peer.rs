//! Connections to the peers the gateway forwards calls to (service
//! replicas, agents): one that went away fails fast, and one that vanished
//! during a call ends it instead of hanging.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;

/// How long a connection to a peer (a replica, an agent) may be silent
/// before TCP asks whether it is still there; how often it asks again; how
/// many unanswered asks end the connection. A peer on a node that vanished
/// (no answer, no reset) ends a call in flight within about 11 s, not at
/// the call's timeout.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
const KEEPALIVE_RETRIES: u32 = 3;

/// Connections to peers the gateway forwards calls to (replicas, agents):
/// one that went away must fail the connect within `timeout` (so the call
/// moves to another), and a connection to one that vanished during a call
/// must end, not hang.
pub fn connector(timeout: Duration) -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(timeout));
    connector.set_nodelay(true);
    connector.set_keepalive(Some(KEEPALIVE_IDLE));
    connector.set_keepalive_interval(Some(KEEPALIVE_INTERVAL));
    connector.set_keepalive_retries(Some(KEEPALIVE_RETRIES));
    connector
}
