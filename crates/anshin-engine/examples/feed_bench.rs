//! `make bench`: what one console costs the engine per second on a large fleet — the feed's
//! deltas (only the hosts that changed) beside the full picture a polling console fetches every
//! second (the way status-polling tools such as Nagstamon refresh). No network: the fleet is
//! generated and its checks' results are set directly in the read model.
//!
//! Usage: `feed_bench [HOSTS] [SECONDS] [CHANGED_PER_SECOND]`; prints one JSON line.

use std::time::Instant;

use anshin_engine::view::FleetView;

fn fleet_toml(hosts: usize) -> String {
    let mut t = String::from(
        "[noc]\nmail_from = \"noc@example.jp\"\n[[customer]]\nid = \"c1\"\nname = \"顧客\"\nplan = \"150\"\n\
         notify = [\"ops@example.jp\"]\n",
    );
    for i in 0..hosts {
        t.push_str(&format!(
            "[[server]]\nlabel = \"srv{i:05}\"\ncustomer = \"c1\"\nfqdn = \"srv{i:05}.example.jp\"\n\
             ip = \"127.79.{}.{}\"\nos = \"AlmaLinux 9\"\nservices = [\"http\", \"smtp\", \"imap\"]\n",
            i / 250,
            i % 250 + 1
        ));
    }
    t
}

fn main() {
    let arg = |n: usize, default: usize| std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (hosts, seconds, changed) = (arg(1, 2000), arg(2, 60), arg(3, 20));
    let fleet = anshin_core::fleet::parse(&fleet_toml(hosts), "bench.toml").expect("generated fleet").fleet;
    let keys: Vec<_> = fleet.checks().into_iter().map(|c| c.key).collect();
    let mut view = FleetView::new(&fleet, chrono::Utc::now());
    let (mut delta_bytes, mut snapshot_bytes) = (0usize, 0usize);
    let (mut delta_secs, mut snapshot_secs) = (0f64, 0f64);
    let mut seen = view.rev();
    let mut k = 0usize;
    for s in 0..seconds {
        // `changed` check results arrive this second, spread over the fleet.
        for _ in 0..changed {
            k = (k + 7919) % keys.len();
            if let Some(c) = view.check_mut(&keys[k]) {
                c.ok = Some(s % 2 == 0);
                c.last_at = Some(format!("2026-11-25T00:{:02}:{:02}.000Z", s / 60, s % 60));
                c.ms = 0.25;
            }
        }
        let t = Instant::now();
        let delta = serde_json::to_vec(&view.changed_since(seen)).expect("serializable");
        delta_secs += t.elapsed().as_secs_f64();
        seen = view.rev();
        delta_bytes += delta.len();
        let t = Instant::now();
        let full = serde_json::to_vec(view.hosts()).expect("serializable");
        snapshot_secs += t.elapsed().as_secs_f64();
        snapshot_bytes += full.len();
    }
    let per_s = |x: f64| x / seconds as f64;
    println!(
        "{{\"hosts\":{hosts},\"seconds\":{seconds},\"changed_per_second\":{changed},\
         \"delta_bytes_per_s\":{:.0},\"snapshot_bytes_per_s\":{:.0},\
         \"delta_ms_per_s\":{:.3},\"snapshot_ms_per_s\":{:.3}}}",
        per_s(delta_bytes as f64),
        per_s(snapshot_bytes as f64),
        per_s(delta_secs * 1000.0),
        per_s(snapshot_secs * 1000.0)
    );
}
