//! Interval arithmetic for availability: unions of down intervals, clipping to the month,
//! subtracting maintenance, and the percentage. Times are milliseconds since the epoch.
//!
//! Owns: the arithmetic only. Must not know: incidents, checks, or where intervals come from.

/// A half-open interval `[start, end)` in milliseconds.
pub type Span = (i64, i64);

/// Sorts and merges overlapping or touching spans; drops empty ones.
pub fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|(a, b)| b > a);
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The parts of `spans` inside `[lo, hi)`, merged.
pub fn clip(spans: &[Span], lo: i64, hi: i64) -> Vec<Span> {
    union(spans.iter().map(|&(a, b)| (a.max(lo), b.min(hi))).collect())
}

/// `a` minus `b` (both merged first).
pub fn subtract(a: &[Span], b: &[Span]) -> Vec<Span> {
    let b = union(b.to_vec());
    let mut out = Vec::new();
    for &(mut start, end) in &union(a.to_vec()) {
        for &(cs, ce) in &b {
            if ce <= start || cs >= end {
                continue;
            }
            if cs > start {
                out.push((start, cs));
            }
            start = start.max(ce);
            if start >= end {
                break;
            }
        }
        if start < end {
            out.push((start, end));
        }
    }
    out
}

/// Total length of merged spans.
pub fn total(spans: &[Span]) -> i64 {
    union(spans.to_vec()).iter().map(|(a, b)| b - a).sum()
}

/// Availability in percent: the share of the period outside maintenance that was not down.
/// `down` must already exclude maintenance. A period entirely under maintenance is 100 %.
pub fn percent(period: i64, maintenance: i64, down: i64) -> f64 {
    let service = period - maintenance;
    if service <= 0 {
        return 100.0;
    }
    100.0 * (service - down.min(service)) as f64 / service as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_clip_subtract() {
        assert_eq!(union(vec![(5, 7), (1, 3), (2, 4), (7, 8), (9, 9)]), [(1, 4), (5, 8)]);
        assert_eq!(clip(&[(0, 10), (20, 30)], 5, 25), [(5, 10), (20, 25)]);
        assert_eq!(clip(&[(0, 4)], 5, 25), []);
        assert_eq!(subtract(&[(0, 10)], &[(2, 3), (5, 12)]), [(0, 2), (3, 5)]);
        assert_eq!(subtract(&[(0, 10), (20, 30)], &[(8, 22)]), [(0, 8), (22, 30)]);
        assert_eq!(subtract(&[(0, 10)], &[]), [(0, 10)]);
        assert_eq!(subtract(&[(0, 10)], &[(0, 10)]), []);
        assert_eq!(total(&[(0, 10), (5, 15), (20, 21)]), 16);
    }

    #[test]
    fn percent_excludes_maintenance() {
        assert_eq!(percent(1000, 0, 0), 100.0);
        assert_eq!(percent(1000, 0, 10), 99.0);
        assert_eq!(percent(1000, 500, 5), 99.0);
        assert_eq!(percent(1000, 1000, 0), 100.0);
        assert_eq!(percent(1000, 0, 2000), 0.0);
    }
}
