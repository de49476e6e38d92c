//! The gateway's HTTP API as the CLI uses it (docs/api.md): one method per route,
//! each turning the answers it expects into values and the others into
//! [`Error`]s. Credentials (basic auth, user `admin`) go with every request
//! when a password is known.

use std::io::{Read, Write};
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::config::Config;
use crate::error::Error;

/// How long to wait for a TCP connection to the gateway.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to one gateway.
pub struct Gateway {
    base: String,
    username: String,
    password: Option<String>,
    http: Client,
}

impl Gateway {
    /// A client for `config.gateway`. Calls, `get --wait` and `logs -f` may
    /// take as long as they take, so only connecting has a timeout.
    pub fn new(config: &Config) -> Result<Gateway, Error> {
        let http = Client::builder()
            .timeout(None)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| Error::Usage(format!("cannot set up HTTP: {}", root_cause(&e))))?;
        Ok(Gateway {
            base: config.gateway.clone(),
            username: config.username.clone(),
            password: config.password.clone(),
            http,
        })
    }

    /// The gateway's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /system/functions`: every function, as the gateway lists them.
    pub fn functions(&self) -> Result<Vec<Value>, Error> {
        let resp = self.send(self.request(Method::GET, "/system/functions"))?;
        match resp.status() {
            s if s.is_success() => match json_body(resp)? {
                Value::Array(functions) => Ok(functions),
                Value::Null => Ok(Vec::new()),
                other => Err(Error::Protocol(format!("not a list of functions: {other}"))),
            },
            _ => Err(gateway_error(resp)),
        }
    }

    /// `GET /system/function/<name>`.
    pub fn function(&self, name: &str) -> Result<Value, Error> {
        self.about_function(name, "")
    }

    /// `GET /system/function/<name>/status`: counts of calls by state.
    pub fn status(&self, name: &str) -> Result<Value, Error> {
        self.about_function(name, "/status")
    }

    /// `GET /system/function/<name><what>` as JSON; 404 means no such function.
    fn about_function(&self, name: &str, what: &str) -> Result<Value, Error> {
        let path = format!("/system/function/{}{what}", encode(name));
        let resp = self.send(self.request(Method::GET, &path))?;
        match resp.status() {
            s if s.is_success() => json_body(resp),
            StatusCode::NOT_FOUND => Err(Error::NoSuchFunction(name.to_string())),
            _ => Err(gateway_error(resp)),
        }
    }

    /// `POST /system/functions` (create) or `PUT` (update) with a deployment.
    pub fn deploy(&self, create: bool, deployment: &Value) -> Result<(), Error> {
        let name = deployment["service"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let method = if create { Method::POST } else { Method::PUT };
        let resp = self.send(self.request(method, "/system/functions").json(deployment))?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::CONFLICT if create => Err(Error::FunctionExists(name)),
            StatusCode::NOT_FOUND => Err(Error::NoSuchFunction(name)),
            _ => Err(gateway_error(resp)),
        }
    }

    /// `DELETE /system/functions`; with `force`, running calls are killed.
    pub fn remove(&self, name: &str, force: bool) -> Result<(), Error> {
        let path = if force {
            "/system/functions?force=true"
        } else {
            "/system/functions"
        };
        let body = json!({ "functionName": name });
        let resp = self.send(self.request(Method::DELETE, path).json(&body))?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(Error::NoSuchFunction(name.to_string())),
            _ => Err(gateway_error(resp)),
        }
    }

    /// `POST /async-function/<name>`: queues a call, answers its id.
    pub fn call_async(&self, name: &str, input: Vec<u8>) -> Result<String, Error> {
        let path = format!("/async-function/{}", encode(name));
        let resp = self.send(self.call(&path, input))?;
        match resp.status() {
            s if s.is_success() => {
                let header = call_id(&resp);
                let body: Value = json_body(resp).unwrap_or(Value::Null);
                body["CallId"]
                    .as_str()
                    .map(str::to_string)
                    .or(header)
                    .ok_or_else(|| Error::Protocol("an accepted call without a CallId".into()))
            }
            StatusCode::NOT_FOUND => Err(Error::NoSuchFunction(name.to_string())),
            _ => Err(gateway_error(resp)),
        }
    }

    /// `POST /function/<name>`: a synchronous call. The answer is returned
    /// whatever its status, since a failed call's body is its output.
    pub fn call_sync(&self, name: &str, input: Vec<u8>) -> Result<Response, Error> {
        let path = format!("/function/{}", encode(name));
        self.send(self.call(&path, input))
    }

    /// A call's `POST` with `input`, typed as bytes: the gateway refuses a
    /// form's types (`text/plain`…) and untyped bodies under
    /// `FAAS_INVOKE_AUTH`, since a cross-site form can send them.
    fn call(&self, path: &str, input: Vec<u8>) -> RequestBuilder {
        self.request(Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(input)
    }

    /// `GET /system/calls/<id>`: the call's record.
    pub fn call_record(&self, id: &str) -> Result<Value, Error> {
        let path = format!("/system/calls/{}", encode(id));
        let resp = self.send(self.request(Method::GET, &path))?;
        match resp.status() {
            s if s.is_success() => json_body(resp),
            // 400: not even a UUID.
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => {
                Err(Error::NoSuchCallId(id.to_string()))
            }
            _ => Err(gateway_error(resp)),
        }
    }

    /// `DELETE /system/calls/<id>`: cancels a queued or running call.
    pub fn cancel(&self, id: &str) -> Result<(), Error> {
        let path = format!("/system/calls/{}", encode(id));
        let resp = self.send(self.request(Method::DELETE, &path))?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            // 400: not even a UUID.
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => {
                Err(Error::NoSuchCallId(id.to_string()))
            }
            // Ended already, or synchronous: the gateway says which.
            StatusCode::CONFLICT => Err(Error::NotCancelled(message_of(
                &resp.text().unwrap_or_default(),
            ))),
            _ => Err(gateway_error(resp)),
        }
    }

    /// `GET /system/calls/<id>/output[?wait=true]`, answered whatever its
    /// status: the caller knows what 202, 410, 500 and 504 mean.
    pub fn output(&self, id: &str, wait: bool) -> Result<Response, Error> {
        let query = if wait { "?wait=true" } else { "" };
        let path = format!("/system/calls/{}/output{query}", encode(id));
        self.send(self.request(Method::GET, &path))
    }

    /// `GET /system/logs?name=…`: a stream of newline-delimited JSON events.
    pub fn logs(
        &self,
        name: &str,
        callid: Option<&str>,
        tail: Option<u64>,
        since: Option<&str>,
        follow: bool,
    ) -> Result<Response, Error> {
        let mut path = format!("/system/logs?name={}", encode(name));
        if let Some(since) = since {
            path.push_str(&format!("&since={}", encode(since)));
        }
        if let Some(id) = callid {
            path.push_str(&format!("&callid={}", encode(id)));
        }
        if let Some(n) = tail {
            path.push_str(&format!("&tail={n}"));
        }
        if follow {
            path.push_str("&follow=true");
        }
        let resp = self.send(self.request(Method::GET, &path))?;
        match resp.status() {
            s if s.is_success() => Ok(resp),
            StatusCode::NOT_FOUND => match callid {
                // Which of the two is unknown? Ask about the function.
                Some(id) => match self.function(name) {
                    Ok(_) => Err(Error::NoSuchCallId(id.to_string())),
                    Err(e) => Err(e),
                },
                None => Err(Error::NoSuchFunction(name.to_string())),
            },
            _ => Err(gateway_error(resp)),
        }
    }

    /// Copies a response body to `out` as it arrives, byte for byte,
    /// flushing after each chunk so followers see lines at once.
    pub fn copy_body(&self, mut resp: Response, out: &mut dyn Write) -> Result<(), Error> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = resp.read(&mut buf).map_err(|e| self.unreachable(&e))?;
            if n == 0 {
                return out.flush().map_err(Error::io("writing STDOUT"));
            }
            out.write_all(&buf[..n])
                .map_err(Error::io("writing STDOUT"))?;
            out.flush().map_err(Error::io("writing STDOUT"))?;
        }
    }

    /// The error for a connection that failed or broke.
    pub fn unreachable(&self, err: &(dyn std::error::Error + 'static)) -> Error {
        Error::Unreachable {
            gateway: self.base.clone(),
            cause: root_cause(err),
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.password {
            Some(password) => rb.basic_auth(&self.username, Some(password)),
            None => rb,
        }
    }

    /// Sends a request; a refused connection and 401 become errors here.
    fn send(&self, rb: RequestBuilder) -> Result<Response, Error> {
        let resp = rb.send().map_err(|e| self.unreachable(&e))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(match self.password {
                Some(_) => Error::BadCredentials(self.base.clone()),
                None => Error::NoCredentials(self.base.clone()),
            });
        }
        Ok(resp)
    }
}

/// The call id the gateway put in `X-Call-Id`.
pub fn call_id(resp: &Response) -> Option<String> {
    resp.headers()
        .get("X-Call-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Parses a JSON body.
fn json_body(resp: Response) -> Result<Value, Error> {
    let bytes = resp.bytes().map_err(|e| Error::Protocol(root_cause(&e)))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Protocol(format!("invalid JSON: {e}")))
}

/// An error status the caller did not expect, with the gateway's message.
pub fn gateway_error(resp: Response) -> Error {
    let status = resp.status();
    let message = message_of(&resp.text().unwrap_or_default());
    match status {
        StatusCode::BAD_REQUEST => Error::BadRequest(message),
        _ => Error::Gateway {
            status: status.as_u16(),
            message,
        },
    }
}

/// The message in an error body: a JSON `message`/`error` field, or the text.
pub fn message_of(body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        for key in ["message", "Message", "error", "Error"] {
            if let Some(m) = value[key].as_str() {
                return m.trim().to_string();
            }
        }
    }
    let text = body.trim();
    if text.is_empty() {
        "(no message)".to_string()
    } else {
        text.lines().collect::<Vec<_>>().join(" ")
    }
}

/// The innermost cause of an error: "Connection refused (os error 111)"
/// rather than reqwest's "error sending request for url …".
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Every byte but RFC 3986's unreserved ones (`A-Z a-z 0-9 - . _ ~`).
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment or query value.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, RESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        let encoded: Vec<String> = ["hello-world_1.2", "a/b?c d"].map(encode).into();
        assert_eq!(encoded, ["hello-world_1.2", "a%2Fb%3Fc%20d"]);
    }

    #[test]
    fn messages_come_from_json_or_text() {
        for (body, message) in [
            (r#"{"message":"bad name"}"#, "bad name"),
            ("Cannot find service: x.\n", "Cannot find service: x."),
            ("", "(no message)"),
        ] {
            assert_eq!(message_of(body), message, "{body:?}");
        }
    }
}
