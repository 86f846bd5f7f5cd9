//! Property tests of the resource poll parser (`resource::parse_poll`), which reads what a
//! monitored server prints: `/proc/loadavg`, nproc, `df -P /`, `df -Pi /` and the MTA's queue
//! (postfix, exim, sendmail). Whatever comes back never panics; a value that parses is in range;
//! the reasons quote the server safely; and every output the real tools print reads back as
//! the values it was printed from. Bounded: a few hundred cases, a second or two.

use std::time::{Duration, Instant};

use anshin_core::resource::{parse_poll, FsUsage, ResourceSample, MAX_OUTPUT};
use anshin_core::text::is_hidden;
use proptest::prelude::*;

/// A poll output as the script prints it.
fn poll(loadavg: &str, nproc: &str, df: &str, dfi: &str, mta: &str, mailq: &str) -> String {
    format!(
        "@@anshin loadavg\n{loadavg}\n@@anshin nproc\n{nproc}\n@@anshin df\n{df}\n@@anshin dfi\n{dfi}\n\
         @@anshin mailq {mta}\n{mailq}\n@@anshin end\n"
    )
}

/// Every value that parsed is one the tools can print; every reason is safe to show.
fn in_range(s: &ResourceSample) -> Result<(), TestCaseError> {
    if let Ok(l) = &s.load {
        prop_assert!(l.value.is_finite() && l.value >= 0.0 && l.value < 1e7, "{l:?}");
        prop_assert_eq!(l.text.parse::<f64>().ok(), Some(l.value));
    }
    if let Ok(n) = s.cpus {
        prop_assert!((1..=65_536).contains(&n), "{n}");
    }
    if let Ok(p) = s.disk_pct {
        prop_assert!(p <= 100, "{p}");
    }
    if let Ok(Some(p)) = s.inode_pct {
        prop_assert!(p <= 100, "{p}");
    }
    for p in &s.paths {
        prop_assert!(p.index < anshin_core::backup::MAX_PATHS, "{p:?}");
        if let Err(e) = &p.usage {
            let shown = e.to_string();
            prop_assert!(!shown.chars().any(is_hidden), "{shown:?}");
            prop_assert!(shown.chars().count() < 300, "{shown:?}");
        }
    }
    prop_assert!(s.paths.windows(2).all(|w| w[0].index < w[1].index), "{:?}", s.paths);
    let reasons = [
        s.load.as_ref().err(),
        s.cpus.as_ref().err(),
        s.disk_pct.as_ref().err(),
        s.inode_pct.as_ref().err(),
        s.mailq.as_ref().err(),
    ];
    for e in reasons.into_iter().flatten() {
        let shown = e.to_string();
        prop_assert!(!shown.chars().any(is_hidden), "{shown:?}");
        prop_assert!(shown.chars().count() < 300, "{shown:?}");
    }
    Ok(())
}

fn line_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => any::<char>(),
        3 => prop::sample::select(vec![' ', '\t', '%', '/', '.', '-', '@', '\r', '\u{1b}', '\u{2028}', '\u{202e}']),
        3 => prop::char::range('0', '9'),
    ]
}

/// A few lines of anything, digits, spaces and `%` weighted in.
fn lines() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::collection::vec(line_char(), 0..40).prop_map(|v| v.into_iter().collect::<String>()),
        0..4,
    )
    .prop_map(|v| v.join("\n"))
}

/// Words of the real outputs, shuffled into lines: reaches the parsers' deeper branches.
fn near_miss() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "--",
        "Kbytes",
        "in",
        "Request.",
        "Requests.",
        "Total",
        "requests:",
        "Mail",
        "queue",
        "is",
        "empty",
        "/",
        "-",
        "15%",
        "100%",
        "101%",
        "99999999999999999999",
        "0",
        "7",
        "1.29",
        "0.54",
        "3/115",
        "fatal:",
        "\r",
        "%",
    ]);
    prop::collection::vec(prop::collection::vec(word, 0..8).prop_map(|w| w.join(" ")), 0..4).prop_map(|v| v.join("\n"))
}

fn body() -> impl Strategy<Value = String> {
    prop_oneof![lines(), near_miss()]
}

fn mta() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["postfix", "exim", "sendmail", "none", ""]).prop_map(String::from),
        "\\PC{0,8}",
    ]
}

/// `/proc/loadavg`: the kernel's `%lu.%02lu` for the 1-minute average.
fn loadavg() -> impl Strategy<Value = (String, f64)> {
    (0u64..10_000_000, 0u8..100).prop_map(|(i, f)| {
        let text = format!("{i}.{f:02}");
        let value = text.parse().unwrap();
        (text, value)
    })
}

/// `df -P /` (or `-Pi`), with a header in some locale, the device name possibly on its own line.
fn df(pct: Option<u8>) -> impl Strategy<Value = String> {
    let header = prop::sample::select(vec![
        "Filesystem     1024-blocks     Used Available Capacity Mounted on",
        "Filesystem      Inodes  IUsed   IFree IUse% Mounted on",
        "ファイルシス   1024-ブロック    使用   使用可 使用率 マウント位置",
        "",
    ]);
    let device = "/dev/[a-z]{2,4}[0-9]?|/dev/mapper/[A-Za-z]{2,8}-lv_root|overlay";
    (header, device, any::<bool>(), 1u64..1u64 << 40).prop_map(move |(header, device, wrapped, n)| {
        let pct = pct.map(|p| format!("{p}%")).unwrap_or_else(|| "-".into());
        let sep = if wrapped { "\n                 " } else { " " };
        format!("{header}\n{device}{sep}{n} {} {} {pct} /", n / 2, n / 3)
    })
}

/// What each MTA's queue command prints (its last line) for `n` messages.
fn mailq(n: u64) -> impl Strategy<Value = (String, String)> {
    prop::sample::select(vec![0u8, 1, 2, 3, 4]).prop_map(move |form| match (form, n) {
        (0, 0) => ("postfix".into(), "Mail queue is empty".into()),
        (0, n) => ("postfix".into(), format!("-- {} Kbytes in {n} Request{}.", n * 3, if n == 1 { "" } else { "s" })),
        (1 | 2, n) => ("exim".into(), format!("  {n}  ")),
        (3, 0) => ("sendmail".into(), "/var/spool/mqueue is empty".into()),
        (_, n) => ("sendmail".into(), format!("\t\tTotal requests: {n}")),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_output_never_panics(text in prop::collection::vec(line_char(), 0..600)) {
        let text: String = text.into_iter().collect();
        if let Ok(s) = parse_poll(&text) {
            in_range(&s)?;
        }
        // With the end marker appended it is read section by section.
        if let Ok(s) = parse_poll(&format!("{text}\n@@anshin end\n")) {
            in_range(&s)?;
        }
    }

    #[test]
    fn any_section_body_never_panics_and_values_are_in_range(
        l in body(), n in body(), d in body(), i in body(), m in mta(), q in body(),
    ) {
        let s = parse_poll(&poll(&l, &n, &d, &i, &m, &q)).expect("complete output");
        in_range(&s)?;
    }

    #[test]
    fn what_the_tools_print_reads_back(
        ((load_text, load), cpus, disk, inode, queued, df_out, dfi_out, (mta, queue)) in
            (loadavg(), 1u32..=65_536, 0u8..=100, prop::option::of(0u8..=100), 0u64..10_000_000)
                .prop_flat_map(|(l, cpus, disk, inode, q)| {
                    (Just(l), Just(cpus), Just(disk), Just(inode), Just(q), df(Some(disk)), df(inode), mailq(q))
                }),
    ) {
        let load_line = format!("{load_text} 0.54 0.20 3/115 16218");
        let out = poll(&load_line, &cpus.to_string(), &df_out, &dfi_out, &mta, &queue);
        let s = parse_poll(&out).expect("complete output");
        prop_assert_eq!(s.load.as_ref().map(|l| (l.text.as_str(), l.value)), Ok((load_text.as_str(), load)));
        prop_assert_eq!(s.cpus.clone(), Ok(cpus));
        prop_assert_eq!(s.disk_pct.clone(), Ok(disk));
        prop_assert_eq!(s.inode_pct.clone(), Ok(inode));
        prop_assert_eq!(s.mailq.clone(), Ok(Some(queued)));
    }
}

/// A poll whose tail holds the backed-up paths' sections (`resource::poll_command`).
fn with_paths(sections: &str) -> String {
    let base = poll("0.00 0 0 1/1 1", "1", "x 1 1 1 1% /", "x 1 1 1 1% /", "none", "");
    format!("{}{sections}@@anshin end\n", base.strip_suffix("@@anshin end\n").unwrap())
}

/// A mount point as df prints it: absolute, with spaces and odd characters but no line break.
fn mount() -> impl Strategy<Value = String> {
    "(/[a-z0-9 ._'\"$-]{1,12}){0,3}".prop_map(|m| if m.is_empty() { "/".to_string() } else { m })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_path_sections_never_panic(
        idx in prop::collection::vec(prop_oneof!["[0-9]{1,3}", "\\PC{0,4}"], 0..6),
        bodies in prop::collection::vec(body(), 0..12),
    ) {
        let mut sections = String::new();
        for (n, b) in bodies.iter().enumerate() {
            let i = idx.get(n / 2).cloned().unwrap_or_default();
            let name = if n % 2 == 0 { "bdf" } else { "bdfi" };
            sections.push_str(&format!("@@anshin {name} {i}\n{b}\n"));
        }
        let s = parse_poll(&with_paths(&sections)).expect("complete output");
        in_range(&s)?;
    }

    #[test]
    fn df_of_a_path_reads_back(
        rows in prop::collection::vec(
            ("/dev/[a-z]{2,4}[0-9]?|tmpfs|overlay", 1u64..1 << 40, 0u64..1 << 40, 0u8..=100, prop::option::of(0u64..1 << 32), mount()),
            1..5,
        ),
    ) {
        let mut sections = String::new();
        for (i, (dev, blocks, used, pct, inodes, mount)) in rows.iter().enumerate() {
            sections.push_str(&format!(
                "@@anshin bdf {i}\nFilesystem 1024-blocks Used Available Capacity Mounted on\n{dev}   {blocks} {used} {} {pct}% {mount}\n",
                blocks.saturating_sub(*used)
            ));
            let irow = match inodes {
                Some(n) => format!("{dev} {} {n} 0 {}% {mount}", n + 1, pct),
                None => format!("{dev} 0 0 0 - {mount}"),
            };
            sections.push_str(&format!("@@anshin bdfi {i}\nFilesystem Inodes IUsed IFree IUse% Mounted on\n{irow}\n"));
        }
        let s = parse_poll(&with_paths(&sections)).expect("complete output");
        prop_assert_eq!(s.paths.len(), rows.len());
        for (p, (dev, _, used, _, inodes, mount)) in s.paths.iter().zip(&rows) {
            let want = FsUsage { filesystem: dev.clone(), mount: mount.trim().to_string(), used_bytes: used * 1024, used_inodes: *inodes };
            prop_assert_eq!(p.usage.as_ref(), Ok(&want));
        }
    }
}

/// No MTA is not an error: the mail queue is simply not measured.
#[test]
fn no_mta_is_no_mail_queue() {
    let s = parse_poll(&poll("0.00 0 0 1/1 1", "1", "x 1 1 1 1% /", "x 1 1 1 1% /", "none", "")).unwrap();
    assert_eq!(s.mailq, Ok(None));
}

/// A hostile server that prints far too much costs one bounded read, not the engine's time.
#[test]
fn huge_output_is_read_in_bounded_time() {
    let line = format!("{}\n", "\u{1b}[2J%/ 99% / 1.29 ".repeat(20));
    let huge = line.repeat(4 * MAX_OUTPUT / line.len());
    let started = Instant::now();
    let first = parse_poll(&huge);
    assert!(first.is_err(), "no end marker in the first 64 KiB");
    let marked = format!("@@anshin df\n{huge}@@anshin end\n");
    let second = parse_poll(&marked);
    assert!(second.is_err(), "the end marker lies beyond the 64 KiB read");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    for e in [first.unwrap_err(), second.unwrap_err()] {
        assert!(!e.to_string().chars().any(is_hidden), "{e}");
    }
}
