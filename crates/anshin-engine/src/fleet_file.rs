//! Reading a fleet file from disk: the one place that turns a path into a validated `Fleet`
//! with its SSH paths made absolute (relative to the file's folder), and a server's `ssh` access
//! into the SSH session's target (`ssh_target`: probes, polls, recoveries and backups use it).
//! Must not know: consoles; it only writes diagnostics to standard error in `load_or_report`.

use std::path::Path;

use anshin_core::fleet::{self, ParsedFleet};

use crate::ssh::SshTarget;

/// Reads, validates and resolves a fleet file. On failure, the lines to show the operator:
/// `FILE:LINE:COL: message` per problem, or why the file cannot be read.
pub fn load(path: &Path) -> Result<ParsedFleet, Vec<String>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{name}: cannot read the fleet file: {e}")])?;
    let mut parsed =
        fleet::parse(&text, &name).map_err(|errs| errs.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parsed.fleet.resolve_paths(&std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf()));
    Ok(parsed)
}

/// [`load`], printing warnings and errors to standard error (`FILE:LINE:COL: message`) for the
/// command-line programs; `None` when the fleet is unusable.
pub fn load_or_report(path: &Path) -> Option<ParsedFleet> {
    match load(path) {
        Ok(parsed) => {
            for w in &parsed.warnings {
                eprintln!("{w} (warning)");
            }
            Some(parsed)
        }
        Err(lines) => {
            for l in &lines {
                eprintln!("{l}");
            }
            None
        }
    }
}

/// Where and how to log in to a server (its resources, recoveries, backups); `None` without `ssh` access.
pub fn ssh_target(s: &anshin_core::fleet::Server) -> Option<SshTarget> {
    let ssh = s.ssh.as_ref()?;
    Some(SshTarget {
        host: s.label.clone(),
        ip: s.ip,
        port: s.ssh_port,
        user: ssh.user.clone(),
        key_path: ssh.key.clone().into(),
        known_hosts: ssh.known_hosts.clone().into(),
        trust_on_first_use: ssh.trust_on_first_use,
    })
}
