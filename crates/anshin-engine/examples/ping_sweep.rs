//! Benchmark: ping N loopback addresses (127.79.x.y) once each through the engine's shared
//! ICMP socket, all in flight together (up to a cap), and print one JSON line with the time
//! taken and the replies counted. `make bench` runs it beside fping on the same list.
//!
//! usage: ping_sweep N [IN_FLIGHT]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anshin_engine::probe::Pinger;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000).min(65_000);
    let in_flight: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4096);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let pinger = Pinger::new().expect("ICMP socket (run as root)");
        let permits = Arc::new(tokio::sync::Semaphore::new(in_flight));
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(n as usize);
        for i in 0..n {
            let ip = IpAddr::V4(Ipv4Addr::new(127, 79, (i / 250) as u8, (i % 250 + 1) as u8));
            let (pinger, permits) = (pinger.clone(), permits.clone());
            tasks.push(tokio::spawn(async move {
                let _p = permits.acquire().await;
                pinger.ping(ip, Duration::from_millis(500)).await.is_ok()
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += u32::from(t.await.unwrap_or(false));
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{{\"tool\":\"anshin\",\"hosts\":{n},\"replies\":{ok},\"in_flight\":{in_flight},\"seconds\":{secs:.4}}}"
        );
    });
}
