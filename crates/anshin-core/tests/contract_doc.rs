//! `docs/contract.md` is the project's statement of the Anshin Pack contract: what the service
//! promises and the decisions taken. Code, tests and documents cite its sections as
//! `contract §N` or `contract §N.M`. These tests keep that citable and self-contained:
//!
//! * the section numbers of its headings are unique, in order, and consecutive;
//! * every citation in the repository's sources and documents names a section that exists;
//! * nothing cites the specification document that lives outside the repository (its citation
//!   form or a path to it) — the contract is the only source;
//! * the mails it prints character for character are the renderer's golden files;
//! * its tables of services, thresholds and plans are fenced, and say what the code's tables say
//!   (`Service`, `Resource`, `Plan`: the catalogue consoles get is read from them).
//!
//! Failures name FILE:LINE. Reads files only; no network, no clock.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anshin_core::plan::{Plan, RecoveryWindow};
use anshin_core::recovery::{default_unit, OsFamily};
use anshin_core::resource::Resource;
use anshin_core::Service;

/// Where the sources and documents that may cite the contract live, relative to the repository.
const ROOTS: [&str; 8] =
    ["crates", "src-tauri/src", "ui/src", "ui/tests", "tests", "README.md", "ARCHITECTURE.md", "docs"];
/// Directories never read: build output, dependencies, VCS.
const SKIP_DIRS: [&str; 6] = ["target", "node_modules", "dist", ".git", "__pycache__", ".pytest_cache"];
/// The tables a later test compares with the code's catalogue.
const CATALOGUES: [&str; 3] = ["services", "thresholds", "plans"];
/// The renderer's golden mails (`mail.rs` tests), which contract §3.6 shows.
const GOLDEN_DIR: &str = "crates/anshin-core/tests/fixtures/mail";

fn repo() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

fn contract() -> String {
    let path = repo().join("docs/contract.md");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A section number: `4` → `[4]`, `4.2` → `[4, 2]`.
type Number = Vec<u32>;

fn show(n: &[u32]) -> String {
    n.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

/// The section number at the start of `s` (`4.2` of `4.2, …`) and how many bytes it took. A dot
/// not followed by a digit ends the number (the full stop of a sentence).
fn parse_number(s: &str) -> Option<(Number, usize)> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        parts.push(s[start..i].parse().ok()?);
        if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
            i += 1;
        } else {
            return Some((parts, i));
        }
    }
}

/// A numbered heading of the contract: `## §4 …` or `### §4.2 …`.
struct Heading {
    line: usize,
    hashes: usize,
    number: Number,
}

/// The numbered headings, outside code blocks. Headings without `§` (the title) are not sections.
fn headings(text: &str) -> Vec<Heading> {
    let mut out = Vec::new();
    let mut in_code = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        let Some(rest) = line[hashes..].trim_start().strip_prefix('§') else { continue };
        let number = parse_number(rest).map(|(n, _)| n).unwrap_or_default();
        out.push(Heading { line: i + 1, hashes, number });
    }
    out
}

/// The section numbers the contract has.
fn sections(text: &str) -> BTreeSet<Number> {
    headings(text).into_iter().map(|h| h.number).collect()
}

#[test]
fn section_numbers_are_unique_ordered_and_consecutive() {
    let text = contract();
    let hs = headings(&text);
    let mut errors = Vec::new();
    let mut previous: Option<&Number> = None;
    for h in &hs {
        let at = format!("docs/contract.md:{}", h.line);
        if h.number.is_empty() {
            errors.push(format!("{at}: a § heading without a number; write `## §N Title` or `### §N.M Title`"));
            continue;
        }
        if h.hashes != h.number.len() + 1 {
            errors.push(format!(
                "{at}: §{} is a heading of level {} but needs {} (`##` for §N, `###` for §N.M)",
                show(&h.number),
                h.hashes,
                h.number.len() + 1
            ));
        }
        // The number that must come next: the next sibling, the first child, or the next
        // sibling of an ancestor.
        let expected: Vec<Number> = match previous {
            None => vec![vec![1]],
            Some(p) => {
                let mut options = vec![[p.as_slice(), &[1]].concat()];
                for len in (1..=p.len()).rev() {
                    let mut next = p[..len].to_vec();
                    next[len - 1] += 1;
                    options.push(next);
                }
                options
            }
        };
        if !expected.contains(&h.number) {
            let want: Vec<String> = expected.iter().map(|n| format!("§{}", show(n))).collect();
            let after = previous.map_or("the start".to_string(), |p| format!("§{}", show(p)));
            errors.push(format!(
                "{at}: §{} after {after}: section numbers are unique and in order; expected one of {}",
                show(&h.number),
                want.join(", ")
            ));
        }
        previous = Some(&h.number);
    }
    let numbers = sections(&text);
    for n in 1..=9 {
        if !numbers.contains(&vec![n]) {
            errors.push(format!("docs/contract.md: no section §{n} (it keeps §1 plans … §9 contracts)"));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// Every text file under the roots, with its path relative to the repository.
fn sources() -> Vec<(String, String)> {
    let repo = repo();
    let mut files = Vec::new();
    let mut stack = Vec::new();
    for root in ROOTS {
        let path = repo.join(root);
        assert!(path.exists(), "{root} is gone: update ROOTS in {}", file!());
        stack.push(path);
    }
    while let Some(path) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if SKIP_DIRS.contains(&name) {
                continue;
            }
            let entries = fs::read_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        } else if meta.is_file() {
            // Binary files (images, fonts, stores) are not read as text and cannot cite.
            if let Ok(text) = fs::read_to_string(&path) {
                let rel = path.strip_prefix(&repo).unwrap_or(&path).display().to_string();
                files.push((rel, text));
            }
        }
    }
    files.sort();
    files
}

/// The section numbers a line cites: `contract §4`, `contract §4.2`, and the list that follows
/// one (`contract §1.1, §1.3`, `contract §9.4 and §9.5`). A placeholder such as `§N` is not a
/// citation.
fn citations(line: &str) -> Vec<Number> {
    const MARK: &str = "contract §";
    // ASCII lowercase keeps byte offsets, so offsets found in it index `line` too.
    let lower = line.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = lower[from..].find(MARK) {
        let mut at = from + found + MARK.len();
        while let Some((number, used)) = parse_number(&line[at..]) {
            out.push(number);
            at += used;
            // A list: `, §M`, ` and §M`, ` or §M`, `–§M`.
            let rest = &line[at..];
            let gap = rest.len() - rest.trim_start_matches([',', ' ', '–', '-']).len();
            let after = &rest[gap..];
            let after = after.strip_prefix("and ").or_else(|| after.strip_prefix("or ")).unwrap_or(after);
            match after.strip_prefix('§') {
                Some(next) => at = line.len() - next.len(),
                None => break,
            }
        }
        from = at.max(from + found + MARK.len());
    }
    out
}

#[test]
fn citations_are_read_as_written() {
    // `K§` stands for the word and the sign, so that this file holds no citation of its own.
    let table: [(&str, &[&[u32]]); 8] = [
        ("see K§4.", &[&[4]]),
        ("(Contract §4.2: 15 minutes)", &[&[4, 2]]),
        ("K§1.1, §1.3 and §9.4 and §9.5", &[&[1, 1], &[1, 3], &[9, 4], &[9, 5]]),
        ("K§2, §3.", &[&[2], &[3]]),
        ("cite as K§N or K§N.M", &[]),
        ("seed §2.4 and K§3", &[&[3]]),
        ("K§7; see §8", &[&[7]]),
        ("K§12.10.3 then K§1", &[&[12, 10, 3], &[1]]),
    ];
    for (line, want) in table {
        let line = line.replace("K§", "contract §");
        let want: Vec<Number> = want.iter().map(|n| n.to_vec()).collect();
        assert_eq!(citations(&line), want, "{line}");
    }
}

#[test]
fn every_citation_names_a_section_of_the_contract() {
    let have = sections(&contract());
    let files = sources();
    for must in ["crates/anshin-core/src/lib.rs", "README.md", "docs/contract.md"] {
        assert!(files.iter().any(|(f, _)| f == must), "the walk did not read {must}");
    }
    let mut errors = Vec::new();
    let mut count = 0;
    for (file, text) in &files {
        for (i, line) in text.lines().enumerate() {
            for n in citations(line) {
                count += 1;
                if !have.contains(&n) {
                    errors.push(format!(
                        "{file}:{}: cites contract §{}, which docs/contract.md does not have",
                        i + 1,
                        show(&n)
                    ));
                }
            }
        }
    }
    assert!(count > 0, "no citation found at all: is the walk reading the files?");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn nothing_cites_a_document_outside_the_repository() {
    // Built at run time so that this file does not contain what it forbids.
    let forbidden = [["SPEC", " §"].concat(), ["..", "/shared"].concat(), ["shared/", "SPEC"].concat()];
    let mut errors = Vec::new();
    for (file, text) in sources() {
        for (i, line) in text.lines().enumerate() {
            for f in &forbidden {
                if line.contains(f.as_str()) {
                    errors.push(format!(
                        "{file}:{}: \"{f}\" refers to a document outside the repository: cite docs/contract.md (contract §N) instead",
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// The blocks fenced `<!-- NAME:KEY -->` … `<!-- /NAME:KEY -->`, as (KEY, first line, inner text).
fn fenced<'a>(text: &'a str, name: &str) -> Vec<(String, usize, &'a str)> {
    let open = format!("<!-- {name}:");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(&open) {
        let start = from + found;
        let line = text[..start].lines().count() + 1;
        let after = &text[start + open.len()..];
        let Some(end) = after.find(" -->") else { panic!("docs/contract.md:{line}: an unclosed comment") };
        let key = after[..end].to_string();
        let body_start = start + open.len() + end + " -->".len();
        let close = format!("<!-- /{name}:{key} -->");
        let Some(len) = text[body_start..].find(&close) else {
            panic!("docs/contract.md:{line}: <!-- {name}:{key} --> has no {close}")
        };
        out.push((key, line, &text[body_start..body_start + len]));
        from = body_start + len + close.len();
    }
    out
}

#[test]
fn the_mails_shown_are_the_renderers_golden_files() {
    let text = contract();
    let dir = repo().join(GOLDEN_DIR);
    let mut shown = BTreeSet::new();
    let mut errors = Vec::new();
    for (key, line, inner) in fenced(&text, "mail") {
        let at = format!("docs/contract.md:{line}");
        let inner = inner.trim_matches('\n');
        let Some(mail) = inner.strip_prefix("```text\n").and_then(|m| m.strip_suffix("\n```")) else {
            errors.push(format!("{at}: mail:{key} holds no ```text block"));
            continue;
        };
        if !shown.insert(key.clone()) {
            errors.push(format!("{at}: mail:{key} is shown twice"));
        }
        let path = dir.join(format!("{key}.txt"));
        let Ok(golden) = fs::read_to_string(&path) else {
            errors.push(format!("{at}: mail:{key} has no golden file {GOLDEN_DIR}/{key}.txt"));
            continue;
        };
        let mail = format!("{mail}\n");
        if mail != golden {
            let (n, (got, want)) = mail
                .lines()
                .chain(std::iter::repeat(""))
                .zip(golden.lines().chain(std::iter::repeat("")))
                .enumerate()
                .find(|(_, (a, b))| a != b)
                .unwrap_or((0, ("", "")));
            errors.push(format!(
                "{at}: mail:{key} differs from {GOLDEN_DIR}/{key}.txt at its line {}: the contract shows {got:?}, the renderer writes {want:?}",
                n + 1
            ));
        }
    }
    let goldens = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{GOLDEN_DIR}: {e}"));
    for entry in goldens.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(key) = name.strip_suffix(".txt") {
            if !shown.contains(key) {
                errors.push(format!("docs/contract.md: the golden mail {name} is not shown (add a <!-- mail:{key} --> block to contract §3.6)"));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn catalogue_tables_are_fenced_once_each() {
    let text = contract();
    let blocks = fenced(&text, "catalogue");
    let mut errors = Vec::new();
    for name in CATALOGUES {
        let found: Vec<_> = blocks.iter().filter(|(k, _, _)| k == name).collect();
        match found.as_slice() {
            [(_, line, inner)] => {
                let rows = inner.lines().filter(|l| l.starts_with('|')).count();
                // Header, separator and at least one row.
                if rows < 3 {
                    errors.push(format!("docs/contract.md:{line}: catalogue:{name} holds no table"));
                }
            }
            [] => errors.push(format!("docs/contract.md: no <!-- catalogue:{name} --> table")),
            more => errors.push(format!("docs/contract.md: catalogue:{name} is fenced {} times", more.len())),
        }
    }
    for (key, line, _) in &blocks {
        if !CATALOGUES.contains(&key.as_str()) {
            errors.push(format!("docs/contract.md:{line}: unknown catalogue:{key} (known: {})", CATALOGUES.join(", ")));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// The rows of the table fenced `catalogue:NAME`: cells trimmed, backticks dropped, header and
/// separator left out; each with its line in docs/contract.md.
fn catalogue_rows(text: &str, name: &str) -> Vec<(usize, Vec<String>)> {
    let blocks = fenced(text, "catalogue");
    let Some((_, first, inner)) = blocks.iter().find(|(k, _, _)| k == name) else {
        panic!("docs/contract.md: no <!-- catalogue:{name} --> table")
    };
    inner
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with('|'))
        .skip(2)
        .map(|(i, l)| {
            let cells = l.trim_matches('|').split('|').map(|c| c.trim().replace('`', "")).collect();
            (first + i, cells)
        })
        .collect()
}

#[test]
fn the_services_table_is_the_codes() {
    let rows = catalogue_rows(&contract(), "services");
    let mut errors = Vec::new();
    let ids: Vec<&str> = rows.iter().map(|(_, c)| c[0].as_str()).collect();
    let code: Vec<&str> = Service::ALL.iter().map(|s| s.as_str()).collect();
    if ids != code {
        errors.push(format!("docs/contract.md: the services table lists {ids:?}, the code {code:?} (same order)"));
    }
    for (line, c) in &rows {
        let Ok(s) = c[0].parse::<Service>() else { continue };
        let units: Vec<&str> = OsFamily::ALL.iter().map(|f| default_unit(s, *f)).collect();
        let want = [s.display_name().to_string(), s.default_port().to_string(), s.transport().to_uppercase()];
        if c[1..4] != want || c[5..8] != units {
            errors.push(format!(
                "docs/contract.md:{line}: {} says {:?} / units {:?}, the code {want:?} / units {units:?}",
                c[0],
                &c[1..4],
                &c[5..8]
            ));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_thresholds_table_is_the_codes() {
    let rows = catalogue_rows(&contract(), "thresholds");
    let ids: Vec<&str> = rows.iter().map(|(_, c)| c[1].as_str()).collect();
    let mut want: Vec<&str> = Resource::ALL.iter().map(|r| r.as_str()).collect();
    want.sort_by_key(|id| ids.iter().position(|i| i == id));
    assert_eq!(ids, want, "docs/contract.md: the thresholds table's resources");
    for (line, c) in &rows {
        let r = Resource::from_id(&c[1]).expect("a resource");
        let code: Vec<String> = Resource::LEVELS.iter().map(|l| r.threshold(*l, 1).to_string()).collect();
        assert_eq!(c[3..6], code, "docs/contract.md:{line}: {} thresholds", c[1]);
        let compared = if r.at_least() { "≥" } else { ">" };
        assert!(c[2].starts_with(compared), "docs/contract.md:{line}: {} is compared {compared}", c[1]);
        assert_eq!(c[2].contains("CPUs"), r.per_cpu(), "docs/contract.md:{line}: {} per CPU", c[1]);
    }
}

fn yes(b: bool) -> String {
    (if b { "yes" } else { "–" }).to_string()
}

/// What the two recovery rows of the plans table (weekdays 9–18, 24/365) say of a window.
fn window(w: RecoveryWindow) -> [String; 2] {
    let [a, b] = match w {
        RecoveryWindow::None => ["–", "–"],
        RecoveryWindow::Spot => ["–", "spot"],
        RecoveryWindow::BusinessHours { spot_outside: true } => ["yes", "spot"],
        RecoveryWindow::BusinessHours { spot_outside: false } => ["yes", "–"],
        RecoveryWindow::Always => ["yes", "yes"],
    };
    [a.to_string(), b.to_string()]
}

fn yen(n: u32) -> String {
    if n >= 1000 {
        format!("{},{:03}", n / 1000, n % 1000)
    } else {
        n.to_string()
    }
}

#[test]
fn the_plans_table_is_the_codes() {
    let text = contract();
    let header = fenced(&text, "catalogue").into_iter().find(|(k, _, _)| k == "plans").map(|(_, _, inner)| {
        let line = inner.lines().find(|l| l.starts_with('|')).unwrap_or_default();
        line.trim_matches('|').split('|').skip(1).map(|c| c.trim().to_string()).collect::<Vec<_>>()
    });
    let plans: Vec<String> = Plan::ALL.iter().map(|p| p.as_str().to_string()).collect();
    assert_eq!(header, Some(plans), "docs/contract.md: the plans table's columns are the plans, in order");
    let rows = catalogue_rows(&text, "plans");
    /// A row of the plans table: its first cell and what the code says for each plan.
    type PlanRow = (&'static str, fn(Plan) -> String);
    let checks: [PlanRow; 11] = [
        ("monthly fee (yen)", |p| yen(p.monthly_fee_yen())),
        ("service monitoring and its mail", |p| yes(p.service_monitoring())),
        ("resource monitoring and its mail", |p| yes(p.resource_monitoring())),
        ("phone confirmation call", |p| yes(p.phone_call())),
        ("monthly report", |p| yes(p.monthly_report())),
        ("server recovery, weekdays 9–18", |p| window(p.server_recovery())[0].clone()),
        ("server recovery, 24/365", |p| window(p.server_recovery())[1].clone()),
        ("service recovery, weekdays 9–18", |p| window(p.service_recovery())[0].clone()),
        ("service recovery, 24/365", |p| window(p.service_recovery())[1].clone()),
        ("temporary resource-up", |p| yes(p.resource_up())),
        ("1 hour a month of configuration work", |p| yes(p.config_work())),
    ];
    let mut errors = Vec::new();
    for (name, of) in checks {
        let code: Vec<String> = Plan::ALL.into_iter().map(of).collect();
        match rows.iter().find(|(_, c)| c[0] == name) {
            Some((line, c)) if c[1..] != code => errors
                .push(format!("docs/contract.md:{line}: plans row {name:?} says {:?}, the code {code:?}", &c[1..])),
            Some(_) => {}
            None => errors.push(format!("docs/contract.md: the plans table has no row {name:?}")),
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
