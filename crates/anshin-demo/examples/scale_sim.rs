//! The fleet-scale simulator as a command, for `make bench`: writes the fleet file, serves its
//! servers on loopback until SIGTERM/SIGINT, and prints one JSON line once everything listens:
//! `{"ready":true,"servers":N,"flapping":[labels…],"down_secs":D,"up_secs":U,"fail_after_secs":F|null}`, then a line a
//! second: `{"t":SECS,"served":CONNECTIONS}` (connections served since ready, every service).
//!
//! `scale_sim FLEET_OUT SERVERS [SERVICES] [INTERVAL_SECS] [FLAP_EVERY] [SMTP_URL|-] [FAIL_AFTER_SECS]`
//! e.g. `scale_sim /tmp/fleet.toml 2000 http,smtp 10 20 smtp://127.0.0.1:2599`; with
//! FAIL_AFTER_SECS the chosen one in FLAP_EVERY servers' HTTP goes down then and stays down.
//! With `SCALE_SIM_SLICE=K/N` in the environment, serves only the servers `i % N == K` (a large
//! fleet shared by N processes: each has its own open-file limit; the fleet file is the whole).
//! Needs a high open-file limit (`ulimit -n 65536`): one listener per server and service.

use std::net::Ipv4Addr;
use std::process::ExitCode;

use anshin_demo::{run_scale, ScaleSpec};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!(
            "usage: scale_sim FLEET_OUT SERVERS [SERVICES] [INTERVAL_SECS] [FLAP_EVERY] [SMTP_URL|-] [FAIL_AFTER_SECS]"
        );
        return ExitCode::from(2);
    };
    let num = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let spec = ScaleSpec {
        servers: num(2, 2000) as usize,
        first: Ipv4Addr::new(127, 80, 0, 1),
        services: args.get(3).map_or("http,smtp", String::as_str).split(',').map(str::to_owned).collect(),
        flap_every: num(5, 20) as usize,
        flap_service: "http".into(),
        flap_down_secs: 60,
        flap_up_secs: 60,
        fail_after_secs: args.get(7).and_then(|a| a.parse().ok()),
        slice: std::env::var("SCALE_SIM_SLICE")
            .ok()
            .and_then(|v| v.split_once('/').and_then(|(k, n)| Some((k.parse().ok()?, n.parse().ok()?))))
            .filter(|&(k, n): &(usize, usize)| n > 0 && k < n)
            .unwrap_or((0, 1)),
        interval_secs: num(4, 10),
        smtp_url: args.get(6).filter(|u| *u != "-").cloned(),
    };
    let text = match spec.fleet_toml() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("scale_sim: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::write(out, text) {
        eprintln!("scale_sim: cannot write {out}: {e}");
        return ExitCode::FAILURE;
    }
    let (stop, stopped) = watch::channel(false);
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            eprintln!("scale_sim: cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let flapping: Vec<String> =
        (0..spec.servers).filter(|&i| spec.flaps(i)).map(|i| format!("\"{}\"", ScaleSpec::label(i))).collect();
    let ready = format!(
        "{{\"ready\":true,\"servers\":{},\"flapping\":[{}],\"down_secs\":{},\"up_secs\":{},\"fail_after_secs\":{}}}",
        spec.servers,
        flapping.join(","),
        spec.flap_down_secs,
        spec.flap_up_secs,
        spec.fail_after_secs.map_or("null".to_string(), |s| s.to_string())
    );
    let run =
        run_scale(&spec, stopped, || println!("{ready}"), |t, served| println!("{{\"t\":{t},\"served\":{served}}}"));
    tokio::pin!(run);
    loop {
        tokio::select! {
            result = &mut run => {
                return match result {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => { eprintln!("scale_sim: {e}"); ExitCode::FAILURE }
                };
            }
            _ = term.recv() => { let _ = stop.send(true); }
            _ = int.recv() => { let _ = stop.send(true); }
        }
    }
}
