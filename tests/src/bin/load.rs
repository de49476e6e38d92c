//! `load`: an HTTP load generator for the benchmarks. Opens `--connections`
//! keep-alive HTTP/1.1 connections, sends requests back to back for
//! `--duration`, and prints requests/s, latency percentiles and error counts
//! (one JSON object with `--json`).

use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

#[derive(Parser, Debug)]
#[command(about = "HTTP load generator for the faas benchmarks")]
struct Args {
    /// Target URL (http only), e.g. http://127.0.0.1:8080/function/cat
    #[arg(long)]
    url: String,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Request method.
    #[arg(long, default_value = "POST")]
    method: String,
    /// Request body (a string).
    #[arg(long, default_value = "hello")]
    body: String,
    /// Extra header `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    by_status: std::collections::BTreeMap<u16, u64>,
    errors: u64,
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let uri: hyper::Uri = args.url.parse().map_err(|e| format!("bad --url: {e}"))?;
    let authority = uri.authority().ok_or("--url needs a host:port")?.clone();
    let method: hyper::Method = args
        .method
        .parse()
        .map_err(|e| format!("bad --method: {e}"))?;
    let mut headers = Vec::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or(format!("bad header {h:?}: use 'Name: value'"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let body = Bytes::from(args.body.clone());
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (uri, authority, method, headers, body) = (
            uri.clone(),
            authority.clone(),
            method.clone(),
            headers.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            'connect: while Instant::now() < deadline {
                let Ok(stream) = tokio::net::TcpStream::connect(authority.as_str()).await else {
                    tally.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let Ok((mut sender, conn)) = http1::handshake(TokioIo::new(stream)).await else {
                    tally.errors += 1;
                    continue;
                };
                tokio::spawn(conn);
                while Instant::now() < deadline {
                    let mut req = hyper::Request::builder()
                        .method(method.clone())
                        .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
                        .header("host", authority.as_str());
                    for (k, v) in &headers {
                        req = req.header(k, v);
                    }
                    let Ok(req) = req.body(Full::new(body.clone())) else {
                        tally.errors += 1;
                        break 'connect;
                    };
                    let t = Instant::now();
                    let Ok(resp) = sender.send_request(req).await else {
                        tally.errors += 1;
                        continue 'connect;
                    };
                    let status = resp.status().as_u16();
                    if resp.into_body().collect().await.is_err() {
                        tally.errors += 1;
                        continue 'connect;
                    }
                    tally.latencies.push(t.elapsed());
                    *tally.by_status.entry(status).or_default() += 1;
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for task in tasks {
        let t = task.await.map_err(|e| e.to_string())?;
        all.latencies.extend(t.latencies);
        all.errors += t.errors;
        for (k, v) in t.by_status {
            *all.by_status.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies.sort();
    let pct = |p: f64| -> f64 {
        if all.latencies.is_empty() {
            return 0.0;
        }
        let i = ((all.latencies.len() as f64 - 1.0) * p).round() as usize;
        all.latencies[i].as_secs_f64() * 1000.0
    };
    let ok = all.by_status.get(&200).copied().unwrap_or(0)
        + all.by_status.get(&202).copied().unwrap_or(0);
    let rps = all.latencies.len() as f64 / elapsed;
    let statuses: Vec<String> = all
        .by_status
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    if args.json {
        println!(
            "{{\"requests\":{},\"ok\":{ok},\"errors\":{},\"seconds\":{elapsed:.3},\"rps\":{rps:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"status\":{{{}}}}}",
            all.latencies.len(),
            all.errors,
            pct(0.5),
            pct(0.99),
            statuses.join(",")
        );
    } else {
        println!(
            "{} requests in {elapsed:.2}s: {rps:.1} req/s, p50 {:.3} ms, p99 {:.3} ms, ok {ok}, errors {}, statuses {{{}}}",
            all.latencies.len(),
            pct(0.5),
            pct(0.99),
            all.errors,
            statuses.join(", ")
        );
    }
    Ok(())
}
