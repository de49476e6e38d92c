//! Request headers as CGI-style environment variables: `X-Call-Id` becomes
//! `Http_X_Call_Id`, plus `Http_Method`, `Http_Path`, `Http_Query`,
//! `Http_Host` and `Http_Content_Length`.

use http::{HeaderMap, Method, Uri};

/// The `Http_*` variables for a request.
pub fn request_env(method: &Method, uri: &Uri, headers: &HeaderMap) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::with_capacity(headers.keys_len() + 4);
    for name in headers.keys() {
        let value = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        env.push((variable_name(name.as_str()), value));
    }
    env.push(("Http_Method".into(), method.as_str().into()));
    env.push(("Http_Path".into(), uri.path().into()));
    if let Some(query) = uri.query().filter(|q| !q.is_empty()) {
        env.push(("Http_Query".into(), query.into()));
    }
    if !headers.contains_key(http::header::HOST) {
        if let Some(host) = uri.authority() {
            env.push(("Http_Host".into(), host.as_str().into()));
        }
    }
    env
}

/// `x-call-id` → `Http_X_Call_Id`.
pub fn variable_name(header: &str) -> String {
    let mut name = String::with_capacity(header.len() + 5);
    name.push_str("Http_");
    for (i, word) in header.split('-').enumerate() {
        if i > 0 {
            name.push('_');
        }
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_canonical() {
        assert_eq!(variable_name("content-type"), "Http_Content_Type");
        assert_eq!(variable_name("x-call-id"), "Http_X_Call_Id");
        assert_eq!(variable_name("X-FOO"), "Http_X_Foo");
    }

    #[test]
    fn request_variables() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "example:8080".parse().expect("value"));
        headers.insert("content-length", "5".parse().expect("value"));
        let uri: Uri = "/a/b?x=1".parse().expect("uri");
        let env = request_env(&Method::PUT, &uri, &headers);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("Http_Method"), Some("PUT"));
        assert_eq!(get("Http_Path"), Some("/a/b"));
        assert_eq!(get("Http_Query"), Some("x=1"));
        assert_eq!(get("Http_Host"), Some("example:8080"));
        assert_eq!(get("Http_Content_Length"), Some("5"));
        let env = request_env(&Method::GET, &"/".parse().expect("uri"), &HeaderMap::new());
        assert!(!env.iter().any(|(n, _)| n == "Http_Query"));
    }
}
