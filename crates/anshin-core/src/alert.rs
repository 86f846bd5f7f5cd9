//! The soft/hard state of one check (contract §2: "直近 3 回" — three consecutive failures).
//!
//! Owns: attempt counting exactly as Nagios/Icinga count soft and hard states with
//! `max_check_attempts`: failures count up while soft; the attempt that reaches `attempts` makes
//! the state hard; one success clears the count and, when hard, is a recovery.
//! Must not know: incidents, suppression, levels (see `incident`), clocks or storage.

/// What the engine remembers of one check between results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckState {
    /// Consecutive failed attempts (0 after any success).
    pub failures: u32,
    /// True from the attempt that reached `attempts` until the next success.
    pub hard_down: bool,
    /// The last result: `None` before the first one.
    pub last_ok: Option<bool>,
}

/// What one result did to a check's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing worth recording: still OK, or still hard down.
    Unchanged,
    /// A failed attempt that has not reached the limit yet (attempt number, 1-based).
    SoftFailure { attempt: u32 },
    /// The failure that reached the limit: the check is hard down now.
    HardDown,
    /// A success after soft failures: the count is cleared, no alert was raised.
    SoftRecovery,
    /// A success after a hard state: the problem is over.
    Recovered,
}

impl CheckState {
    /// A state that is known to be hard down (an incident was open when the engine stopped).
    pub fn resumed_hard(attempts: u32) -> Self {
        CheckState { failures: attempts, hard_down: true, last_ok: Some(false) }
    }

    /// Applies one result. `attempts` is the fleet's consecutive-failure limit (at least 1).
    #[must_use]
    pub fn observe(self, ok: bool, attempts: u32) -> (CheckState, Transition) {
        let attempts = attempts.max(1);
        if ok {
            let t = if self.hard_down {
                Transition::Recovered
            } else if self.failures > 0 {
                Transition::SoftRecovery
            } else {
                Transition::Unchanged
            };
            return (CheckState { failures: 0, hard_down: false, last_ok: Some(true) }, t);
        }
        let failures = self.failures.saturating_add(1);
        let next = CheckState { failures, hard_down: self.hard_down || failures >= attempts, last_ok: Some(false) };
        let t = if self.hard_down {
            Transition::Unchanged
        } else if next.hard_down {
            Transition::HardDown
        } else {
            Transition::SoftFailure { attempt: failures }
        };
        (next, t)
    }

    /// Whether the last attempt failed (soft or hard): enough to hold back dependent alerts.
    pub fn failing(&self) -> bool {
        self.last_ok == Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Transition::*;

    /// Runs a sequence of results (true = ok) from a fresh state and returns every transition.
    fn run(results: &[bool], attempts: u32) -> (CheckState, Vec<Transition>) {
        let mut s = CheckState::default();
        let mut out = Vec::new();
        for &ok in results {
            let (n, t) = s.observe(ok, attempts);
            s = n;
            out.push(t);
        }
        (s, out)
    }

    #[test]
    fn soft_hard_table() {
        let table: &[(&[bool], u32, &[Transition], bool)] = &[
            (&[true, true], 3, &[Unchanged, Unchanged], false),
            (&[false, false], 3, &[SoftFailure { attempt: 1 }, SoftFailure { attempt: 2 }], false),
            (&[false, false, false], 3, &[SoftFailure { attempt: 1 }, SoftFailure { attempt: 2 }, HardDown], true),
            (
                &[false, false, false, false, false],
                3,
                &[SoftFailure { attempt: 1 }, SoftFailure { attempt: 2 }, HardDown, Unchanged, Unchanged],
                true,
            ),
            (
                &[false, false, true, false, false],
                3,
                &[
                    SoftFailure { attempt: 1 },
                    SoftFailure { attempt: 2 },
                    SoftRecovery,
                    SoftFailure { attempt: 1 },
                    SoftFailure { attempt: 2 },
                ],
                false,
            ),
            (
                &[false, false, false, true],
                3,
                &[SoftFailure { attempt: 1 }, SoftFailure { attempt: 2 }, HardDown, Recovered],
                false,
            ),
            (
                &[false, false, false, true, false],
                3,
                &[
                    SoftFailure { attempt: 1 },
                    SoftFailure { attempt: 2 },
                    HardDown,
                    Recovered,
                    SoftFailure { attempt: 1 },
                ],
                false,
            ),
            (&[false], 1, &[HardDown], true),
            (&[false], 0, &[HardDown], true),
            (
                &[false, false, false, false],
                5,
                &[
                    SoftFailure { attempt: 1 },
                    SoftFailure { attempt: 2 },
                    SoftFailure { attempt: 3 },
                    SoftFailure { attempt: 4 },
                ],
                false,
            ),
        ];
        for (results, attempts, want, hard) in table {
            let (s, got) = run(results, *attempts);
            assert_eq!(&got, want, "{results:?} attempts={attempts}");
            assert_eq!(s.hard_down, *hard, "{results:?}");
        }
    }

    #[test]
    fn a_resumed_hard_state_stays_hard_without_a_new_transition() {
        let s = CheckState::resumed_hard(3);
        assert_eq!(s.observe(false, 3).1, Unchanged);
        assert_eq!(s.observe(true, 3).1, Recovered);
    }

    #[test]
    fn failing_reflects_the_last_attempt_only() {
        assert!(!CheckState::default().failing());
        let (s, _) = CheckState::default().observe(false, 3);
        assert!(s.failing() && !s.hard_down);
    }
}
