//! `anshin secret set|delete NAME`: Anshin NOC's entries in the OS keyring (Secret Service:
//! service `anshin-noc`, user `smtp`, `ssh-passphrase` or `reboot:LABEL`).
//!
//! The secret is read from standard input, never from the command line (where `ps` and the
//! shell's history would keep it). Must not know: where secrets are looked up or in which order
//! (`anshin_engine::secrets`).

use std::io::{IsTerminal as _, Read as _};
use std::process::ExitCode;

use anshin_engine::secrets::{self, SecretName, KEYRING_SERVICE};
use anyhow::{Context as _, Result};

/// A secret read from standard input is at most this long.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

#[derive(clap::Subcommand)]
pub enum SecretCommand {
    /// Store a secret, read from standard input (one final line end is dropped); replaces an
    /// older value. NAME: smtp, ssh-passphrase or reboot:LABEL.
    Set { name: String },
    /// Remove a secret. NAME: smtp, ssh-passphrase or reboot:LABEL.
    Delete { name: String },
}

pub fn run(command: SecretCommand) -> Result<ExitCode> {
    let (text, set) = match &command {
        SecretCommand::Set { name } => (name, true),
        SecretCommand::Delete { name } => (name, false),
    };
    let name = match SecretName::parse(text) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("anshin: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let entry = format!("{KEYRING_SERVICE}/{}", name.keyring_user());
    if !set {
        return Ok(match secrets::keyring_delete(&name)? {
            true => {
                println!("removed {name} from the OS keyring ({entry})");
                ExitCode::SUCCESS
            }
            false => {
                eprintln!("anshin: the OS keyring has no entry {entry}");
                ExitCode::from(1)
            }
        });
    }
    let value = read_secret(&name)?;
    if value.is_empty() {
        eprintln!("anshin: standard input was empty: nothing stored (pipe the secret in, e.g. `anshin secret set {name} < file`)");
        return Ok(ExitCode::from(2));
    }
    secrets::keyring_set(&name, &value)?;
    println!("stored {name} in the OS keyring ({entry})");
    Ok(ExitCode::SUCCESS)
}

/// All of standard input without one final line end. On a terminal: one line, not echoed.
fn read_secret(name: &SecretName) -> Result<String> {
    let stdin = std::io::stdin();
    let mut text = String::new();
    if stdin.is_terminal() {
        eprint!("{name} (not shown, end with Enter): ");
        let echo_off = stty("-echo");
        let read = stdin.read_line(&mut text);
        if echo_off {
            stty("echo");
        }
        eprintln!();
        read.context("cannot read the secret from the terminal")?;
    } else {
        let mut bytes = Vec::new();
        stdin.lock().take(MAX_SECRET_BYTES + 1).read_to_end(&mut bytes).context("cannot read standard input")?;
        anyhow::ensure!(
            bytes.len() as u64 <= MAX_SECRET_BYTES,
            "standard input is longer than {MAX_SECRET_BYTES} bytes: that is not a secret"
        );
        text = String::from_utf8(bytes).context("the secret is not UTF-8 text")?;
    }
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// Terminal echo on or off through stty (the terminal is standard input); false if it failed.
fn stty(arg: &str) -> bool {
    std::process::Command::new("stty")
        .arg(arg)
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success())
}
