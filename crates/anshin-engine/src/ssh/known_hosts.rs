//! Host key pinning in an OpenSSH-format known_hosts file.
//!
//! Owns: reading the file the way OpenSSH does (any whitespace between fields, comments,
//! `host,host` lists, `*`/`?` wildcards, `!negation`, `[addr]:port` for ports other than 22,
//! hashed `|1|salt|hash` names, `@revoked` lines; `@cert-authority` lines are ignored), the
//! verdict for a presented key, and appending a line on trust-on-first-use.
//! Must not know: sessions, retries or incidents. It matches on the address connected to,
//! never on the fleet label (labels are ours, not DNS names, and may repeat across customers).

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;

use russh::keys::ssh_key::known_hosts::HostPatterns;
use russh::keys::ssh_key::{Algorithm, HashAlg, PublicKey};

/// What a known_hosts file says about the key a server presented.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// A line for this host pins exactly this key.
    Known,
    /// No line names this host.
    Unknown,
    /// Lines name this host but none pins this key: `expected` is the fingerprint of the
    /// pinned key (the one of the same algorithm if any), `line` is 1-based.
    Changed { expected: String, line: usize },
    /// An `@revoked` line lists this key.
    Revoked { line: usize },
}

/// The host field OpenSSH writes and looks up for this address: `ip` on port 22,
/// `[ip]:port` otherwise.
pub(crate) fn host_pattern(ip: IpAddr, port: u16) -> String {
    if port == 22 {
        ip.to_string()
    } else {
        format!("[{ip}]:{port}")
    }
}

/// `SHA256:…`, as `ssh-keygen -l` and `ssh` print it.
pub(crate) fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// One non-comment line that names our host.
struct Pin {
    line: usize,
    revoked: bool,
    key: PublicKey,
}

/// Every line that names `ip:port`. A missing file has none. A line that names this host but
/// whose key cannot be read is an error: skipping it could let trust-on-first-use add a second,
/// different key next to a pin we failed to understand.
fn pins(path: &Path, ip: IpAddr, port: u16) -> Result<Vec<Pin>, String> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    let wanted = host_pattern(ip, port);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let mut revoked = false;
        if first.starts_with('@') {
            match first {
                "@revoked" => revoked = true,
                // Host certificates are not negotiated (no certificate algorithms offered).
                _ => continue,
            }
            first = fields.next().unwrap_or_default();
        }
        if !hosts_match(first, &wanted) {
            continue;
        }
        let (Some(algo), Some(b64)) = (fields.next(), fields.next()) else {
            return Err(format!("line {}: names {wanted} but has no key", i + 1));
        };
        let key = PublicKey::from_openssh(&format!("{algo} {b64}"))
            .map_err(|e| format!("line {}: names {wanted} but its key cannot be read: {e}", i + 1))?;
        out.push(Pin { line: i + 1, revoked, key });
    }
    Ok(out)
}

/// OpenSSH semantics: a hashed name, or a comma list where any negated match rejects the line
/// and otherwise any positive match accepts it. Host names compare case-insensitively.
fn hosts_match(field: &str, wanted: &str) -> bool {
    if field.starts_with("|1|") {
        return match HostPatterns::from_str(field) {
            Ok(HostPatterns::HashedName { salt, hash }) => {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
                ring::hmac::verify(&key, wanted.as_bytes(), &hash).is_ok()
            }
            _ => false,
        };
    }
    let wanted = wanted.to_ascii_lowercase();
    let mut matched = false;
    for pattern in field.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(&negated.to_ascii_lowercase(), &wanted) {
                return false;
            }
        } else if glob(&pattern.to_ascii_lowercase(), &wanted) {
            matched = true;
        }
    }
    matched
}

/// `*` and `?` wildcards; linear backtracking (no recursion), so hostile patterns stay cheap.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The verdict for `key` presented by `ip:port`.
pub(crate) fn check(path: &Path, ip: IpAddr, port: u16, key: &PublicKey) -> Result<Verdict, String> {
    let pins = pins(path, ip, port)?;
    Ok(verdict(&pins, |k| same_key(k, key), Some(key.algorithm())))
}

/// The verdict for a key known only by its `SHA256:…` fingerprint (a refused server's key,
/// re-checked without connecting).
pub(crate) fn check_fingerprint(path: &Path, ip: IpAddr, port: u16, fp: &str) -> Result<Verdict, String> {
    let pins = pins(path, ip, port)?;
    Ok(verdict(&pins, |k| fingerprint(k) == fp, None))
}

fn verdict(pins: &[Pin], is_it: impl Fn(&PublicKey) -> bool, algorithm: Option<Algorithm>) -> Verdict {
    if let Some(p) = pins.iter().find(|p| p.revoked && is_it(&p.key)) {
        return Verdict::Revoked { line: p.line };
    }
    let pinned: Vec<&Pin> = pins.iter().filter(|p| !p.revoked).collect();
    if pinned.iter().any(|p| is_it(&p.key)) {
        return Verdict::Known;
    }
    let Some(first) = pinned.first() else {
        return Verdict::Unknown;
    };
    let shown = pinned.iter().find(|p| algorithm.as_ref().is_some_and(|a| &p.key.algorithm() == a)).unwrap_or(first);
    Verdict::Changed { expected: fingerprint(&shown.key), line: shown.line }
}

fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    // Compare the key material only: comments differ between files and servers.
    a.key_data() == b.key_data()
}

/// The host key algorithms to ask for first, so a server with several host keys presents the
/// one we pinned (what OpenSSH does), instead of a different type that would look "changed".
pub(crate) fn pinned_algorithms(path: &Path, ip: IpAddr, port: u16) -> Vec<Algorithm> {
    let mut out = Vec::new();
    for pin in pins(path, ip, port).unwrap_or_default().into_iter().filter(|p| !p.revoked) {
        let algos = match pin.key.algorithm() {
            // A pinned RSA key is presented with SHA-2 signatures when the server can.
            Algorithm::Rsa { .. } => vec![
                Algorithm::Rsa { hash: Some(HashAlg::Sha512) },
                Algorithm::Rsa { hash: Some(HashAlg::Sha256) },
                Algorithm::Rsa { hash: None },
            ],
            other => vec![other],
        };
        for a in algos {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

/// Serializes appends from concurrent first contacts to the same file.
static APPEND: Mutex<()> = Mutex::new(());

/// Appends `pattern algo base64` (creating the file and its folder), the way `ssh` records a
/// host it was told to trust.
pub(crate) fn record(path: &Path, ip: IpAddr, port: u16, key: &PublicKey) -> Result<(), String> {
    let _guard = APPEND.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create its folder: {e}"))?;
    }
    let openssh = key.to_openssh().map_err(|e| e.to_string())?;
    let mut fields = openssh.split_whitespace();
    let (algo, b64) = (fields.next().unwrap_or_default(), fields.next().unwrap_or_default());
    let needs_newline = std::fs::read(path).map(|b| b.last().is_some_and(|&c| c != b'\n')).unwrap_or(false);
    let line = format!("{}{} {algo} {b64}\n", if needs_newline { "\n" } else { "" }, host_pattern(ip, port));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open it for appending: {e}"))?;
    file.write_all(line.as_bytes()).map_err(|e| format!("cannot append to it: {e}"))?;
    file.sync_data().map_err(|e| format!("cannot sync it: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID3hWEjdW9HwKR0iN0Z0Nny821vs+oElDlS83Tr2HiRv";
    const ED_B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1T+0FGFGtUHQ/x0haUB2sm7gV7jklmAwZdL1eW+qsJ";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn verdict(file: &str, ip: &str, port: u16, k: &str) -> Verdict {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, file).unwrap();
        check(&path, ip.parse().unwrap(), port, &key(k)).unwrap()
    }

    #[test]
    fn patterns_like_openssh() {
        assert_eq!(host_pattern("127.78.1.2".parse().unwrap(), 22), "127.78.1.2");
        assert_eq!(host_pattern("127.78.1.2".parse().unwrap(), 2222), "[127.78.1.2]:2222");
        assert_eq!(host_pattern("::1".parse().unwrap(), 2222), "[::1]:2222");
        assert!(glob("127.78.*", "127.78.1.2"));
        assert!(glob("127.78.1.?", "127.78.1.2"));
        assert!(!glob("127.78.1.?", "127.78.1.22"));
        assert!(glob("*", ""));
        assert!(!glob("a*b", "acbd"));
        assert!(hosts_match("web01,127.78.1.2", "127.78.1.2"));
        assert!(!hosts_match("127.78.*,!127.78.1.2", "127.78.1.2"));
        assert!(!hosts_match("127.78.1.2", "[127.78.1.2]:2222"));
        assert!(hosts_match("[127.78.1.2]:2222", "[127.78.1.2]:2222"));
    }

    #[test]
    fn verdicts_table() {
        let a = ED_A;
        let b = ED_B;
        let rows: &[(&str, &str, u16, &str, Verdict)] = &[
            ("", "127.0.0.5", 22, a, Verdict::Unknown),
            (&format!("127.0.0.5 {a}\n"), "127.0.0.5", 22, a, Verdict::Known),
            (&format!("# c\n\n127.0.0.5\t{a} comment here\n"), "127.0.0.5", 22, a, Verdict::Known),
            (&format!("127.0.0.6 {a}\n"), "127.0.0.5", 22, a, Verdict::Unknown),
            (&format!("127.0.0.5 {a}\n"), "127.0.0.5", 2222, a, Verdict::Unknown),
            (&format!("[127.0.0.5]:2222 {a}\n"), "127.0.0.5", 2222, a, Verdict::Known),
            (
                &format!("127.0.0.5 {b}\n"),
                "127.0.0.5",
                22,
                a,
                Verdict::Changed { expected: fingerprint(&key(b)), line: 1 },
            ),
            (&format!("127.0.0.5 {a}\n@revoked * {a}\n"), "127.0.0.5", 22, a, Verdict::Revoked { line: 2 }),
            (&format!("@cert-authority * {b}\n127.0.0.5 {a}\n"), "127.0.0.5", 22, a, Verdict::Known),
            // unreadable lines for other hosts do not matter
            ("127.0.0.9 ssh-foo AAAA\n", "127.0.0.5", 22, a, Verdict::Unknown),
        ];
        for (file, ip, port, k, want) in rows {
            assert_eq!(&verdict(file, ip, *port, k), want, "file {file:?} ip {ip} port {port}");
        }
    }

    #[test]
    fn hashed_names_match() {
        // `ssh-keygen -H` style entry for 127.0.0.5, salt and HMAC-SHA1 computed here.
        let salt = b"0123456789abcdefghij";
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
        let tag = ring::hmac::sign(&k, b"127.0.0.5");
        use russh::keys::ssh_key::encoding::base64::{Base64, Encoding};
        let field = format!("|1|{}|{}", Base64::encode_string(salt), Base64::encode_string(tag.as_ref()));
        assert_eq!(verdict(&format!("{field} {ED_A}\n"), "127.0.0.5", 22, ED_A), Verdict::Known);
        assert_eq!(verdict(&format!("{field} {ED_A}\n"), "127.0.0.6", 22, ED_A), Verdict::Unknown);
    }

    #[test]
    fn a_pinned_line_we_cannot_read_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, "127.0.0.5 ssh-ed25519 !!notbase64\n").unwrap();
        assert!(check(&path, "127.0.0.5".parse().unwrap(), 22, &key(ED_A)).is_err());
    }

    #[test]
    fn record_appends_a_line_that_then_matches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("known_hosts");
        let ip: IpAddr = "127.0.0.5".parse().unwrap();
        record(&path, ip, 2222, &key(ED_A)).unwrap();
        std::fs::write(&path, std::fs::read_to_string(&path).unwrap() + "# no newline").unwrap();
        record(&path, ip, 22, &key(ED_B)).unwrap();
        assert_eq!(fingerprint(&key(ED_B)), "SHA256:0iE+Gqfh8iDLe0wLofoWOlzhAhnZ/Cf3vgRRA13zVb0");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("[127.0.0.5]:2222 ssh-ed25519 AAAA"), "{text}");
        assert!(
            text.ends_with(
                "\n127.0.0.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1T+0FGFGtUHQ/x0haUB2sm7gV7jklmAwZdL1eW+qsJ\n"
            ),
            "{text}"
        );
        assert_eq!(check(&path, ip, 2222, &key(ED_A)).unwrap(), Verdict::Known);
        assert_eq!(check(&path, ip, 22, &key(ED_B)).unwrap(), Verdict::Known);
    }
}
