//! The five Anshin Pack plans and what each one entitles (contract §1, the plan table).
//!
//! Owns: the plan names as the fleet file spells them and the entitlement table.
//! Must not know: clocks or holidays (whether "weekdays 9–18" applies now is decided elsewhere,
//! with the time passed in).

use std::fmt;
use std::str::FromStr;

/// A customer's contract plan. The fleet file spells them "zero", "30", "60", "150", "200".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Plan {
    Zero,
    P30,
    P60,
    P150,
    P200,
}

/// When a recovery is included in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryWindow {
    /// Not included at all.
    None,
    /// Not included, but available on request as billable spot work (20,000 yen and up).
    Spot,
    /// Included on weekdays 9–18 Asia/Tokyo (not on Japanese public holidays); spot otherwise
    /// where the plan offers spot work.
    BusinessHours { spot_outside: bool },
    /// Included around the clock.
    Always,
}

impl Plan {
    pub const ALL: [Plan; 5] = [Plan::Zero, Plan::P30, Plan::P60, Plan::P150, Plan::P200];

    /// The spelling used in the fleet file and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Zero => "zero",
            Plan::P30 => "30",
            Plan::P60 => "60",
            Plan::P150 => "150",
            Plan::P200 => "200",
        }
    }

    /// Monthly fee in yen, tax excluded.
    pub fn monthly_fee_yen(self) -> u32 {
        match self {
            Plan::Zero => 0,
            Plan::P30 => 3_000,
            Plan::P60 => 6_000,
            Plan::P150 => 15_000,
            Plan::P200 => 20_000,
        }
    }

    /// Service (port) monitoring and its mail: every plan but zero.
    pub fn service_monitoring(self) -> bool {
        self != Plan::Zero
    }

    /// Resource (load, disk, inode, mail queue) monitoring and its mail: every plan but zero.
    pub fn resource_monitoring(self) -> bool {
        self != Plan::Zero
    }

    /// Phone confirmation call (secondary recovery): every plan but zero.
    pub fn phone_call(self) -> bool {
        self != Plan::Zero
    }

    /// Monthly report: plans 60, 150 and 200.
    pub fn monthly_report(self) -> bool {
        matches!(self, Plan::P60 | Plan::P150 | Plan::P200)
    }

    /// Backup (one week of generations) and the restore of its data (contract §7): plans 60, 150
    /// and 200. Whether a given server is backed up also depends on its size
    /// (`backup::eligibility`).
    pub fn backup(self) -> bool {
        matches!(self, Plan::P60 | Plan::P150 | Plan::P200)
    }

    /// OS security updates: detection, the customer notice and applying them (contract §8):
    /// every plan but zero.
    pub fn os_updates(self) -> bool {
        self != Plan::Zero
    }

    /// CMS (WordPress) updates (contract §8): plans 150 and 200.
    pub fn cms_updates(self) -> bool {
        matches!(self, Plan::P150 | Plan::P200)
    }

    /// Temporary resource-up on request (contract §9.4): plans 150 and 200.
    pub fn resource_up(self) -> bool {
        matches!(self, Plan::P150 | Plan::P200)
    }

    /// One hour a month of configuration work (contract §9.5): plans 150 and 200.
    pub fn config_work(self) -> bool {
        matches!(self, Plan::P150 | Plan::P200)
    }

    /// Server recovery (reboot after ping/SSH failure).
    pub fn server_recovery(self) -> RecoveryWindow {
        match self {
            Plan::Zero => RecoveryWindow::None,
            Plan::P30 => RecoveryWindow::Spot,
            Plan::P60 => RecoveryWindow::BusinessHours { spot_outside: true },
            Plan::P150 | Plan::P200 => RecoveryWindow::Always,
        }
    }

    /// Service recovery (restart of a down service).
    pub fn service_recovery(self) -> RecoveryWindow {
        match self {
            Plan::Zero | Plan::P30 => RecoveryWindow::None,
            Plan::P60 => RecoveryWindow::BusinessHours { spot_outside: false },
            Plan::P150 | Plan::P200 => RecoveryWindow::Always,
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of an unknown plan name; says which names exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown plan \"{0}\": use one of \"zero\", \"30\", \"60\", \"150\", \"200\"")]
pub struct UnknownPlan(pub String);

impl FromStr for Plan {
    type Err = UnknownPlan;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownPlan(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row per plan, the columns of contract §1 that the engine acts on.
    #[test]
    fn entitlement_table_matches_spec() {
        use RecoveryWindow::*;
        let table = [
            // plan, service mon, resource mon, phone, report, server recovery, service recovery
            (Plan::Zero, false, false, false, false, None, None),
            (Plan::P30, true, true, true, false, Spot, None),
            (
                Plan::P60,
                true,
                true,
                true,
                true,
                BusinessHours { spot_outside: true },
                BusinessHours { spot_outside: false },
            ),
            (Plan::P150, true, true, true, true, Always, Always),
            (Plan::P200, true, true, true, true, Always, Always),
        ];
        for (plan, svc, res, phone, report, server, service) in table {
            assert_eq!(plan.service_monitoring(), svc, "{plan}");
            assert_eq!(plan.resource_monitoring(), res, "{plan}");
            assert_eq!(plan.phone_call(), phone, "{plan}");
            assert_eq!(plan.monthly_report(), report, "{plan}");
            assert_eq!(plan.server_recovery(), server, "{plan}");
            assert_eq!(plan.service_recovery(), service, "{plan}");
            assert_eq!(plan.backup(), report, "{plan}: backup goes with the monthly report's plans");
        }
    }

    #[test]
    fn parses_fleet_spelling_only() {
        for p in Plan::ALL {
            assert_eq!(p.as_str().parse::<Plan>().unwrap(), p);
        }
        let err = "100".parse::<Plan>().unwrap_err();
        assert!(err.to_string().contains("\"zero\", \"30\""), "{err}");
        assert!("Zero".parse::<Plan>().is_err());
    }
}
