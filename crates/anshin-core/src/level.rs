//! Alert levels (contract §2): Lv.2 警告 … Lv.5 unreachable, mapped onto Zabbix severities.

use std::fmt;

/// How bad an open problem is. The numeric value is the `Lv.N` of mails and tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Lv.2 警告 (Zabbix Warning).
    Warning = 2,
    /// Lv.3 軽度の障害 (Zabbix Average).
    Minor = 3,
    /// Lv.4 重度の障害 (Zabbix High): a service or SSH is down.
    Severe = 4,
    /// Lv.5: the server (or the network in front of it) does not answer ping (Zabbix Disaster).
    Unreachable = 5,
}

impl Level {
    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn from_number(n: u8) -> Option<Level> {
        match n {
            2 => Some(Level::Warning),
            3 => Some(Level::Minor),
            4 => Some(Level::Severe),
            5 => Some(Level::Unreachable),
            _ => None,
        }
    }

    /// The Japanese name operators and customers read.
    pub fn name_ja(self) -> &'static str {
        match self {
            Level::Warning => "警告",
            Level::Minor => "軽度の障害",
            Level::Severe => "重度の障害",
            Level::Unreachable => "疎通不可",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lv.{}", self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_order_by_severity() {
        for n in 2..=5 {
            assert_eq!(Level::from_number(n).unwrap().number(), n);
        }
        assert_eq!(Level::from_number(1), None);
        assert_eq!(Level::from_number(6), None);
        assert!(Level::Unreachable > Level::Severe);
        assert_eq!(Level::Severe.to_string(), "Lv.4");
    }
}
