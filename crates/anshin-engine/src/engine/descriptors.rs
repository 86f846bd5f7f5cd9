//! File descriptors: the budget the probes need, reserved before anything else may use one.
//!
//! A process shares one limit (RLIMIT_NOFILE) between its probes and whatever else it opens
//! (consoles' connections, the store, the SMTP connection). Probes that run out fail with
//! "Too many open files", which must never look like customers' servers failing: so the engine
//! raises its soft limit to the hard one at start, refuses to start when even that is below
//! what the fleet needs (saying the number), and the console server caps its connections so
//! they can never eat into the probes' share.
//!
//! Owns: the rule for what a fleet needs and the limit check. Must not know: what the
//! descriptors are used for beyond that rule.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Descriptors per check attempt in flight (its socket, plus room for TLS and the resolver).
pub const PER_CHECK_IN_FLIGHT: u64 = 4;
/// Descriptors per persistent SSH session (its socket and a spare for a reconnect).
pub const PER_SSH_SESSION: u64 = 2;
/// The engine's own: the store and its WAL, the outbox's connection, stdio, the ICMP sockets,
/// the runtime's internals, the report schedule.
pub const ENGINE_OWN: u64 = 64;

/// What a fleet needs: 4 descriptors per check in flight, 2 per SSH session, plus 64.
pub fn fleet_needs(checks_in_flight: usize, ssh_sessions: usize) -> u64 {
    PER_CHECK_IN_FLIGHT * checks_in_flight as u64 + PER_SSH_SESSION * ssh_sessions as u64 + ENGINE_OWN
}

#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    #[error(
        "this engine needs {needed} file descriptors ({why}) but the limit is {limit} (hard limit {hard}): \
         raise it (`ulimit -n {needed}` in the shell, or LimitNOFILE={needed} in the systemd unit)"
    )]
    TooFew { needed: u64, limit: u64, hard: u64, why: String },
    #[error("cannot read the file-descriptor limit: {0}")]
    Read(nix::Error),
}

/// Raises the soft limit on open files to the hard limit and checks that `needed` fit; `why`
/// says what makes up the number (shown when it does not fit). Returns the soft limit now.
pub fn reserve(needed: u64, why: &str) -> Result<u64, DescriptorError> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(DescriptorError::Read)?;
    let soft = if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(e) => {
                tracing::warn!(soft, hard, error = %e, "could not raise the open-file limit to the hard limit");
                soft
            }
        }
    } else {
        soft
    };
    if soft < needed {
        return Err(DescriptorError::TooFew { needed, limit: soft, hard, why: why.to_string() });
    }
    Ok(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_needs_four_per_check_two_per_session_and_sixty_four() {
        assert_eq!(fleet_needs(0, 0), 64);
        assert_eq!(fleet_needs(100, 10), 400 + 20 + 64);
    }

    #[test]
    fn a_budget_beyond_the_hard_limit_is_refused_with_the_number() {
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        if hard == nix::sys::resource::RLIM_INFINITY {
            return; // nothing can be beyond it on this machine
        }
        let e = reserve(hard + 1, "a test").unwrap_err().to_string();
        assert!(e.contains(&format!("needs {}", hard + 1)), "{e}");
        assert!(e.contains("LimitNOFILE"), "{e}");
        assert!(reserve(16, "a test").unwrap() >= 16);
    }
}
