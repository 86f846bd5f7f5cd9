//! Console load for `make bench` (bench/consoles.py): what a NOC's consoles do to a running
//! `anshin serve`, one kind of load per run, a JSON summary line at the end.
//!
//! - `console_storm consoles ADDR TOKEN N SECS`: N viewer WebSockets connect at the same
//!   instant (every wall and workstation after an engine restart), read the feed for SECS, leave.
//! - `console_storm readers ADDR TOKEN N SECS`: N clients read `/incidents?limit=1000` and
//!   `/review?limit=1000` in a loop for SECS (heavy readers).
//! - `console_storm health ADDR TOKEN SECS`: `/health` every 250 ms: its latency, the engine's
//!   own probe lag and alarms, the consoles' counters.
//!
//! ADDR is `127.x.y.z:port` (loopback only). Plain HTTP/1.0 over TCP for reads, so the client
//! costs little beside the engine it measures.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

/// Longest wait for one read answer before it counts as failed.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        eprintln!("usage: console_storm consoles|readers ADDR TOKEN N SECS | console_storm health ADDR TOKEN SECS");
        ExitCode::from(2)
    };
    let (Some(mode), Some(addr), Some(token)) = (args.first(), args.get(1), args.get(2)) else {
        return usage();
    };
    let Ok(ip) = addr.parse::<std::net::SocketAddr>() else {
        return usage();
    };
    if !ip.ip().is_loopback() {
        eprintln!("console_storm: loopback addresses only");
        return ExitCode::from(2);
    }
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
    let Ok(rt) = rt else { return ExitCode::FAILURE };
    let out = match (mode.as_str(), num(3), num(4)) {
        ("consoles", Some(n), Some(secs)) => rt.block_on(consoles(addr, token, n, secs)),
        ("readers", Some(n), Some(secs)) => rt.block_on(readers(addr, token, n, secs)),
        ("health", Some(secs), None) => rt.block_on(health(addr, token, secs)),
        _ => return usage(),
    };
    println!("{out}");
    ExitCode::SUCCESS
}

/// p50, p99 and max of `ms` (0 when empty).
fn percentiles(ms: &mut [f64]) -> (f64, f64, f64) {
    if ms.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    (at(0.5), at(0.99), ms[ms.len() - 1])
}

#[derive(Default)]
struct ConsoleResult {
    connected: bool,
    first_snapshot_ms: Option<f64>,
    snapshots: u64,
    deltas: u64,
    bytes: u64,
    closed_by_engine: Option<String>,
}

async fn consoles(addr: &str, token: &str, n: u64, secs: u64) -> serde_json::Value {
    let barrier = Arc::new(Barrier::new(n as usize));
    let url = format!("ws://{addr}/api/v1/events?token={token}");
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let (barrier, url) = (barrier.clone(), url.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let mut r = ConsoleResult::default();
            let start = Instant::now();
            let mut ws = match tokio::time::timeout(READ_TIMEOUT, tokio_tungstenite::connect_async(&url)).await {
                Ok(Ok((ws, _))) => ws,
                Ok(Err(e)) => {
                    r.closed_by_engine = Some(format!("connect: {e}"));
                    return r;
                }
                Err(_) => {
                    r.closed_by_engine = Some("connect: timed out".into());
                    return r;
                }
            };
            r.connected = true;
            let until = start + Duration::from_secs(secs);
            while let Ok(Some(msg)) = tokio::time::timeout_at(until.into(), ws.next()).await {
                match msg {
                    Ok(Message::Text(t)) => {
                        r.bytes += t.len() as u64;
                        if t.starts_with("{\"type\":\"snapshot\"") {
                            r.snapshots += 1;
                            r.first_snapshot_ms.get_or_insert(start.elapsed().as_secs_f64() * 1000.0);
                        } else if t.starts_with("{\"type\":\"delta\"") {
                            r.deltas += 1;
                        }
                    }
                    Ok(Message::Close(frame)) => {
                        r.closed_by_engine =
                            Some(frame.map_or_else(String::new, |f| format!("{} {}", f.code, f.reason)));
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        r.closed_by_engine = Some(e.to_string());
                        break;
                    }
                }
            }
            let _ = ws.close(None).await;
            r
        });
    }
    let results: Vec<ConsoleResult> = tasks.join_all().await;
    let mut first: Vec<f64> = results.iter().filter_map(|r| r.first_snapshot_ms).collect();
    let (p50, p99, max) = percentiles(&mut first);
    let closes: BTreeSet<&str> = results.iter().filter_map(|r| r.closed_by_engine.as_deref()).collect();
    serde_json::json!({
        "mode": "consoles",
        "consoles": n,
        "connected": results.iter().filter(|r| r.connected).count(),
        "got_snapshot": first.len(),
        "snapshots_received": results.iter().map(|r| r.snapshots).sum::<u64>(),
        "deltas_received": results.iter().map(|r| r.deltas).sum::<u64>(),
        "bytes_received": results.iter().map(|r| r.bytes).sum::<u64>(),
        "closed_by_engine": results.iter().filter(|r| r.closed_by_engine.is_some()).count(),
        "close_reasons": closes,
        "first_snapshot_ms": {"p50": p50, "p99": p99, "max": max},
    })
}

/// One GET over HTTP/1.0: (status, body) or an error text.
async fn get(addr: &str, token: &str, path: &str) -> Result<(u16, Vec<u8>), String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
        s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no HTTP head")?;
        let status = std::str::from_utf8(&buf[..head_end])
            .ok()
            .and_then(|h| h.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or("no status")?;
        Ok((status, buf.split_off(head_end + 4)))
    };
    tokio::time::timeout(READ_TIMEOUT, exchange).await.map_err(|_| "timed out".to_string())?
}

async fn readers(addr: &str, token: &str, n: u64, secs: u64) -> serde_json::Value {
    let barrier = Arc::new(Barrier::new(n as usize));
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let (barrier, addr, token) = (barrier.clone(), addr.to_owned(), token.to_owned());
        tasks.spawn(async move {
            barrier.wait().await;
            let (mut ok, mut busy, mut failed, mut bytes, mut ms) = (0u64, 0u64, 0u64, 0u64, Vec::new());
            let mut why = std::collections::BTreeMap::<String, u64>::new();
            let mut k = i;
            while Instant::now() < until {
                let path = if k % 2 == 0 { "/api/v1/incidents?limit=1000" } else { "/api/v1/review?limit=1000" };
                k += 1;
                let t = Instant::now();
                match get(&addr, &token, path).await {
                    Ok((200, body)) => {
                        ok += 1;
                        bytes += body.len() as u64;
                        ms.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok((503, _)) => {
                        busy += 1;
                        // As Retry-After asks (2 s), within the run.
                        tokio::time::sleep(Duration::from_secs(2).min(until.saturating_duration_since(Instant::now())))
                            .await;
                    }
                    other => {
                        failed += 1;
                        let reason = match other {
                            Ok((status, _)) => format!("HTTP {status}"),
                            Err(e) => e,
                        };
                        *why.entry(reason).or_default() += 1;
                    }
                }
            }
            (ok, busy, failed, bytes, ms, why)
        });
    }
    let (mut ok, mut busy, mut failed, mut bytes, mut ms) = (0, 0, 0, 0, Vec::new());
    let mut why = std::collections::BTreeMap::<String, u64>::new();
    for (o, b, f, by, m, w) in tasks.join_all().await {
        (ok, busy, failed, bytes) = (ok + o, busy + b, failed + f, bytes + by);
        ms.extend(m);
        for (k, v) in w {
            *why.entry(k).or_default() += v;
        }
    }
    let (p50, p99, max) = percentiles(&mut ms);
    serde_json::json!({
        "mode": "readers", "readers": n, "answered": ok, "busy_503": busy, "failed": failed,
        "bytes": bytes, "answer_ms": {"p50": p50, "p99": p99, "max": max}, "failures": why,
    })
}

async fn health(addr: &str, token: &str, secs: u64) -> serde_json::Value {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut ms, mut failed, mut lag_max, mut alarms) = (Vec::new(), 0u64, 0u64, BTreeSet::new());
    let mut last = serde_json::Value::Null;
    while Instant::now() < until {
        tick.tick().await;
        let t = Instant::now();
        match get(addr, token, "/api/v1/health").await {
            Ok((200, body)) => {
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                let Ok(h) = serde_json::from_slice::<serde_json::Value>(&body) else {
                    failed += 1;
                    continue;
                };
                lag_max = lag_max.max(h["probe_lag_p99_ms"].as_u64().unwrap_or(0));
                for a in h["alarms"].as_array().into_iter().flatten() {
                    alarms.insert(a["code"].as_str().unwrap_or("?").to_owned());
                }
                last = h;
            }
            _ => failed += 1,
        }
    }
    let (p50, p99, max) = percentiles(&mut ms);
    serde_json::json!({
        "mode": "health", "answered": ms.len(), "failed": failed,
        "health_ms": {"p50": p50, "p99": p99, "max": max},
        "probe_lag_p99_ms_max": lag_max, "alarms_seen": alarms, "consoles": last["consoles"],
    })
}
