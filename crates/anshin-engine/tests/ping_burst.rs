//! The shared ICMP socket must not lose replies in a burst (a lost reply is a false
//! "ping down" for a healthy server). 2,000 loopback addresses at once, every one must answer.
//! Needs root, CAP_NET_RAW or a ping_group_range covering the user (as the engine does).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use anshin_engine::probe::Pinger;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_2000_pings_loses_no_reply() {
    let pinger = Pinger::new().expect("an ICMP socket: run the tests as root");
    let mut tasks = Vec::new();
    for i in 0..2000u32 {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 80, (i / 250) as u8, (i % 250 + 1) as u8));
        let pinger = pinger.clone();
        tasks.push(tokio::spawn(async move { pinger.ping(ip, Duration::from_secs(3)).await }));
    }
    let mut lost = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            lost.push(e);
        }
    }
    assert!(lost.is_empty(), "{} of 2000 replies lost, e.g. {:?}", lost.len(), lost.first());
}
