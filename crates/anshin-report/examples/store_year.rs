//! The store after a simulated year, for `make bench`: a sample of servers polled every minute for
//! DAYS days, each reading through the engine's own rules (slow-changing readings on change,
//! `anshin_core::retention::SlowReadings`; rollups by the store's trigger; pruning with the
//! default retention every simulated hour, in the engine's batch size), then the monthly report's
//! load (every query it makes) for one customer's last whole month, timed. Prints one JSON line:
//! `{"servers":S,"days":D,"rows_inserted":…,"store_bytes":…,"bytes_per_server":…,
//!   "bytes_per_server_day":…,"raw_rows":…,"rollup_rows":…,"report_load_ms":[…],"seconds":…}`.
//! The year is generated for a sample and extrapolated by the caller (issue 16, Settled).
//!
//! `store_year DB [SERVERS] [DAYS]`

use std::process::ExitCode;
use std::time::Instant;

use anshin_core::retention::{Retention, SlowReadings};
use anshin_engine::Store;
use anshin_report::{load, Month};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};

/// The engine's pruning batch (rows per resolution per round).
const BATCH: usize = 5_000;

fn fleet(servers: usize) -> String {
    let mut s = String::from(
        "[noc]\nbrand = \"Speever\"\nmail_from = \"mail_alert@hosting-srv.net\"\n\n[[customer]]\nid = \"c00000\"\nname = \"顧客00000株式会社\"\nplan = \"150\"\nnotify = [\"ops0@example.jp\"]\n",
    );
    for i in 0..servers {
        s.push_str(&format!(
            "\n[[server]]\nlabel = \"s{i:05}\"\ncustomer = \"c00000\"\nfqdn = \"s{i:05}.example.jp\"\nip = \"127.80.0.{}\"\nos = \"AlmaLinux 9\"\nservices = [\"http\"]\n",
            i + 1
        ));
    }
    s
}

/// One poll's readings of server `i` at minute `m`: a daily load curve, a disk that fills by a
/// percent every few days, inodes slower, a mail queue that is mostly empty.
fn readings(i: usize, m: i64) -> [(&'static str, f64); 5] {
    let day = m / 1440;
    let hour = (m / 60) % 24;
    let load = 0.3 + if (9..18).contains(&hour) { 0.8 } else { 0.1 } + ((m * 7 + i as i64) % 10) as f64 * 0.01;
    [
        ("cpus", 2.0),
        ("load", (load * 100.0).round() / 100.0),
        ("disk", (40 + day / 4 % 50) as f64),
        ("inode", (10 + day / 12 % 60) as f64),
        ("mailq", if m % 97 == 0 { 3.0 } else { 0.0 }),
    ]
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: store_year DB [SERVERS] [DAYS]");
        return ExitCode::from(2);
    };
    let servers: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let days: i64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(365);
    match run(path, servers, days) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("store_year: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &str, servers: usize, days: i64) -> Result<String, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let _ = std::fs::remove_file(path);
    let mut store = Store::open(std::path::Path::new(path))?;
    let retention = Retention::default();
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2025, 12, 1, 0, 0, 0).single().ok_or("start")?;
    let mut slow = SlowReadings::default();
    let mut inserted = 0u64;
    // One transaction per simulated hour (the engine commits a batch per decider cycle; the
    // bytes on disk do not depend on it), then pruning as the engine's task does it.
    for hour in 0..days * 24 {
        let tx = store.begin()?;
        for minute in 0..60 {
            let m = hour * 60 + minute;
            let at = start + Duration::minutes(m);
            for i in 0..servers {
                let host = format!("s{i:05}");
                for (resource, value) in readings(i, m) {
                    if slow.keep(&host, resource, value, at) {
                        tx.add_sample(&host, resource, value, at)?;
                        inserted += 1;
                    }
                }
            }
        }
        let now = start + Duration::hours(hour + 1);
        while tx.prune_samples(&retention, now, BATCH)? > 0 {}
        tx.commit()?;
    }
    let end = start + Duration::days(days);
    let (raw, rollups) = store.sample_row_counts()?;
    // The monthly report of the last whole month, for the customer, five times.
    let fleet = anshin_core::fleet::parse(&fleet(servers), "fleet.toml").map_err(|e| format!("{e:?}"))?.fleet;
    let last = end - Duration::days(1);
    let month = Month::parse(&format!("{:04}-{:02}", last.year(), last.month()))?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let input = load(&store, &fleet, "c00000", month, end)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(input);
    }
    // Closed: the write-ahead log is folded into the file, whose size is the store's.
    drop(store);
    let bytes = std::fs::metadata(path)?.len();
    Ok(format!(
        "{{\"servers\":{servers},\"days\":{days},\"rows_inserted\":{inserted},\"store_bytes\":{bytes},\"bytes_per_server\":{},\"bytes_per_server_day\":{},\"raw_rows\":{raw},\"rollup_rows\":{rollups},\"report_load_ms\":[{}],\"seconds\":{:.1}}}",
        bytes / servers as u64,
        bytes / servers as u64 / days.max(1) as u64,
        times.iter().map(|t| format!("{t:.1}")).collect::<Vec<_>>().join(","),
        started.elapsed().as_secs_f64()
    ))
}
