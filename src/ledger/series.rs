//! One account's part of the MRR ledger, computed from its subscriptions alone (pure functions).
//!
//! **MRR of an account on a date d** (KPIS.md, section 1): `sum(s.mrr)` over its subscriptions
//! with `s.startDate <= d` and (`s.endDate` is null or `d < s.endDate`); month-end MRR
//! `MRR(a, M) = MRR(a, end(M))`. A subscription therefore counts at the end of every month from
//! the month of its start to the month before the month of its end.
//!
//! **Movements**, from `p = MRR(a, M-1)` and `c = MRR(a, M)`: NEW `p = 0, c > 0` and never
//! paying before; REACTIVATION `p = 0, c > 0` after paying in an earlier month; EXPANSION
//! `p > 0, c > p`; CONTRACTION `p > 0, 0 < c < p`; CHURN `p > 0, c = 0`. They are exactly the
//! months where month-end MRR changes: the account's change points.
use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::base::calendar::{MonthIndex, month_index};
use crate::metrics::MovementKind;

/// A subscription, as MRR sees it.
#[derive(Clone, Debug)]
pub struct Term {
    pub mrr: Decimal,
    pub start: NaiveDate,
    /// Exclusive.
    pub end: Option<NaiveDate>,
}

/// A month whose month-end MRR differs from the month before's: one movement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub month: MonthIndex,
    pub before: Decimal,
    pub after: Decimal,
    pub kind: MovementKind,
}

/// The change points of an account with subscriptions `terms`, oldest first.
pub fn changes(terms: &[Term]) -> Vec<Change> {
    let mut deltas: BTreeMap<MonthIndex, Decimal> = BTreeMap::new();
    for term in terms.iter().filter(|t| !t.mrr.is_zero()) {
        let (from, until) = (month_index(term.start), term.end.map(month_index));
        if until.is_some_and(|until| until <= from) {
            continue; // starts and ends within one month: never counted at a month end
        }
        *deltas.entry(from).or_default() += term.mrr;
        if let Some(until) = until {
            *deltas.entry(until).or_default() -= term.mrr;
        }
    }
    let (mut mrr, mut paid_before) = (Decimal::ZERO, false);
    let mut out = Vec::new();
    for (month, delta) in deltas {
        let before = mrr;
        mrr += delta;
        if delta.is_zero() {
            continue;
        }
        let kind = if before.is_zero() {
            if paid_before { MovementKind::Reactivation } else { MovementKind::New }
        } else if mrr.is_zero() {
            MovementKind::Churn
        } else if mrr > before {
            MovementKind::Expansion
        } else {
            MovementKind::Contraction
        };
        paid_before |= !mrr.is_zero();
        out.push(Change { month, before: before.normalize(), after: mrr.normalize(), kind });
    }
    out
}

/// `MRR(a, month)` from the account's change points.
fn mrr_at(changes: &[Change], month: MonthIndex) -> Decimal {
    changes.iter().take_while(|c| c.month <= month).last().map_or(Decimal::ZERO, |c| c.after)
}

/// What an account adds to its book's figures of one month.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MonthDelta {
    /// The change of month-end MRR (month-end MRR is the running sum).
    pub mrr: Decimal,
    /// The change of active customers (`MRR > 0`; a running sum too).
    pub active: i64,
    pub new_mrr: Decimal,
    pub new_customers: i64,
    pub expansion_mrr: Decimal,
    pub contraction_mrr: Decimal,
    pub churned_mrr: Decimal,
    pub churned_customers: i64,
    pub reactivation_mrr: Decimal,
    pub reactivated_customers: i64,
}

impl MonthDelta {
    fn of(change: &Change) -> Self {
        let (p, c) = (change.before, change.after);
        let mut delta = MonthDelta {
            mrr: c - p,
            active: i64::from(!c.is_zero()) - i64::from(!p.is_zero()),
            ..MonthDelta::default()
        };
        match change.kind {
            MovementKind::New => (delta.new_mrr, delta.new_customers) = (c, 1),
            MovementKind::Reactivation => (delta.reactivation_mrr, delta.reactivated_customers) = (c, 1),
            MovementKind::Expansion => delta.expansion_mrr = c - p,
            MovementKind::Contraction => delta.contraction_mrr = p - c,
            MovementKind::Churn => (delta.churned_mrr, delta.churned_customers) = (p, 1),
        }
        delta
    }

    /// Adds `sign * other`.
    pub fn add(&mut self, other: &MonthDelta, sign: i64) {
        let s = Decimal::from(sign);
        self.mrr += s * other.mrr;
        self.active += sign * other.active;
        self.new_mrr += s * other.new_mrr;
        self.new_customers += sign * other.new_customers;
        self.expansion_mrr += s * other.expansion_mrr;
        self.contraction_mrr += s * other.contraction_mrr;
        self.churned_mrr += s * other.churned_mrr;
        self.churned_customers += sign * other.churned_customers;
        self.reactivation_mrr += s * other.reactivation_mrr;
        self.reactivated_customers += sign * other.reactivated_customers;
    }

    pub fn is_zero(&self) -> bool {
        *self == MonthDelta::default()
    }
}

/// The cohort window lengths in months: the opening month B of a month, quarter or year and
/// its last month L = B + length (the trailing-twelve-month cohort is a year's).
pub const COHORT_WINDOWS: [i32; 3] = [1, 3, 12];

/// What an account adds to its book's cohort sums for opening month B and window length k,
/// `L = B + k`: with `C = {a : MRR(a, B) > 0}`, `endMrr = MRR(a, L)`,
/// `keptMrr = min(MRR(a, L), MRR(a, B))`, `retained = [MRR(a, L) > 0]`,
/// `upsold = [an EXPANSION in B+1..=L]`, each counted only when `a` is in C.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CohortDelta {
    pub end_mrr: Decimal,
    pub kept_mrr: Decimal,
    pub retained: i64,
    pub upsold: i64,
}

impl CohortDelta {
    /// The account's cohort values for opening month `opening` and window length `window`.
    fn at(changes: &[Change], window: i32, opening: MonthIndex) -> Self {
        let start = mrr_at(changes, opening);
        if start.is_zero() {
            return CohortDelta::default();
        }
        let last = opening + window;
        let end = mrr_at(changes, last);
        let upsold = changes.iter().any(|c| c.kind == MovementKind::Expansion && c.month > opening && c.month <= last);
        CohortDelta {
            end_mrr: end,
            kept_mrr: end.min(start),
            retained: i64::from(!end.is_zero()),
            upsold: upsold.into(),
        }
    }

    pub fn add(&mut self, other: &CohortDelta, sign: i64) {
        let s = Decimal::from(sign);
        self.end_mrr += s * other.end_mrr;
        self.kept_mrr += s * other.kept_mrr;
        self.retained += sign * other.retained;
        self.upsold += sign * other.upsold;
    }

    pub fn is_zero(&self) -> bool {
        *self == CohortDelta::default()
    }
}

/// What an account of first paid month `c(a)` (its cohort, KPIS.md section 9) adds to its
/// book's figures of month M >= c(a): `paying = [MRR(a, M) > 0]`, `mrr = MRR(a, M)` and
/// `keptMrr = min(MRR(a, M), MRR(a, c(a)))`, kept as changes at the account's change months
/// (the figures of M are the running sum up to M).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaidCohortDelta {
    pub paying: i64,
    pub mrr: Decimal,
    pub kept_mrr: Decimal,
}

impl PaidCohortDelta {
    fn at(value: Decimal, start: Decimal) -> Self {
        PaidCohortDelta { paying: i64::from(value > Decimal::ZERO), mrr: value, kept_mrr: value.min(start) }
    }

    pub fn add(&mut self, other: &PaidCohortDelta, sign: i64) {
        let s = Decimal::from(sign);
        self.paying += sign * other.paying;
        self.mrr += s * other.mrr;
        self.kept_mrr += s * other.kept_mrr;
    }

    pub fn is_zero(&self) -> bool {
        *self == PaidCohortDelta::default()
    }
}

/// The account's cohort month `c(a)` (the first month with `MRR(a, M) > 0`; none for an account
/// that never paid) and its changes from `c(a)` on, by month: at `c(a)` its whole value there.
fn paid_cohort(changes: &[Change]) -> Option<(MonthIndex, Vec<(MonthIndex, PaidCohortDelta)>)> {
    let first = changes.iter().find(|c| c.after > Decimal::ZERO)?;
    let start = first.after;
    let mut previous = PaidCohortDelta::default();
    let mut out = Vec::new();
    for change in changes.iter().filter(|c| c.month >= first.month) {
        let value = PaidCohortDelta::at(change.after, start);
        let mut delta = value.clone();
        delta.add(&previous, -1);
        if !delta.is_zero() {
            out.push((change.month, delta));
        }
        previous = value;
    }
    Some((first.month, out))
}

/// An account's contributions to its book.
#[derive(Debug, Default)]
pub struct Contributions {
    /// Month deltas by month.
    pub months: Vec<(MonthIndex, MonthDelta)>,
    /// Cohort deltas by window length and opening month.
    pub cohorts: Vec<(i32, MonthIndex, CohortDelta)>,
    /// Its first-paid-month cohort's deltas by cohort month and month.
    pub paid_cohort: Vec<(MonthIndex, MonthIndex, PaidCohortDelta)>,
}

/// An account's contributions to its book. The cohort values of an opening month are the
/// running sum of the deltas up to it: they change only where B or B + k is a change month, so
/// a few deltas describe every opening month, however far the subscriptions reach.
pub fn contributions(changes: &[Change]) -> Contributions {
    let months = changes.iter().map(|c| (c.month, MonthDelta::of(c))).collect();
    let mut cohorts = Vec::new();
    for window in COHORT_WINDOWS {
        let openings: BTreeSet<MonthIndex> = changes.iter().flat_map(|c| [c.month, c.month - window]).collect();
        let mut previous = CohortDelta::default();
        for opening in openings {
            let value = CohortDelta::at(changes, window, opening);
            if value != previous {
                let mut delta = value.clone();
                delta.add(&previous, -1);
                cohorts.push((window, opening, delta));
                previous = value;
            }
        }
    }
    let paid_cohort = paid_cohort(changes)
        .map(|(cohort, deltas)| deltas.into_iter().map(|(month, delta)| (cohort, month, delta)).collect())
        .unwrap_or_default();
    Contributions { months, cohorts, paid_cohort }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// `MRR(a, M)` straight from KPIS.md's definition.
    fn mrr_by_definition(terms: &[Term], month: MonthIndex) -> Decimal {
        let end = crate::base::calendar::month_end(month);
        terms.iter().filter(|t| t.start <= end && t.end.is_none_or(|e| end < e)).map(|t| t.mrr).sum()
    }

    #[test]
    fn movements_of_a_customer_who_leaves_and_comes_back() {
        let terms = [
            Term { mrr: Decimal::from(100), start: day(2025, 1, 10), end: Some(day(2025, 4, 1)) },
            Term { mrr: Decimal::from(50), start: day(2025, 2, 1), end: Some(day(2025, 3, 15)) },
            Term { mrr: Decimal::from(80), start: day(2025, 6, 1), end: None },
            // Within one month: never counted at a month end.
            Term { mrr: Decimal::from(999), start: day(2025, 7, 2), end: Some(day(2025, 7, 30)) },
        ];
        let kinds: Vec<_> = changes(&terms).iter().map(|c| (c.month - month_index(day(2025, 1, 1)), c.kind)).collect();
        use MovementKind::*;
        assert_eq!(kinds, [(0, New), (1, Expansion), (2, Contraction), (3, Churn), (5, Reactivation)]);
    }

    fn term() -> impl Strategy<Value = Term> {
        (0_i64..5, 0_i32..30, proptest::option::of(1_i32..20), 1_u32..28).prop_map(|(mrr, start, length, d)| {
            let start_month = month_index(day(2024, 1, 1)) + start;
            let start = crate::base::calendar::month_start(start_month).with_day0(d).unwrap_or_default();
            Term {
                mrr: Decimal::new(mrr * 2550, 2),
                start,
                end: length.map(|l| crate::base::calendar::month_start(start_month + l).with_day0(d / 2).unwrap()),
            }
        })
    }

    use chrono::Datelike;

    proptest! {
        /// The change points reproduce month-end MRR by definition, and the running sums of the
        /// cohort deltas give every opening month's cohort values by definition.
        #[test]
        fn ledger_matches_the_definitions(terms in proptest::collection::vec(term(), 0..6)) {
            let changes = changes(&terms);
            let Contributions { months, cohorts, paid_cohort } = contributions(&changes);
            let first = month_index(day(2023, 1, 1));
            let first_paid = (first..first + 72).find(|m| mrr_by_definition(&terms, *m) > Decimal::ZERO);
            let (mut mrr, mut active) = (Decimal::ZERO, 0);
            for m in first..first + 72 {
                if let Some((_, delta)) = months.iter().find(|(month, _)| *month == m) {
                    mrr += delta.mrr;
                    active += delta.active;
                }
                let expected = mrr_by_definition(&terms, m);
                prop_assert_eq!(mrr, expected);
                prop_assert_eq!(active, i64::from(!expected.is_zero()));
                for window in COHORT_WINDOWS {
                    let mut sum = CohortDelta::default();
                    for (_, _, delta) in cohorts.iter().filter(|(w, b, _)| *w == window && *b <= m) {
                        sum.add(delta, 1);
                    }
                    let (start, end) = (mrr_by_definition(&terms, m), mrr_by_definition(&terms, m + window));
                    let expanded = (m + 1..=m + window).any(|e| {
                        let (p, c) = (mrr_by_definition(&terms, e - 1), mrr_by_definition(&terms, e));
                        p > Decimal::ZERO && c > p
                    });
                    let expected = if start.is_zero() { CohortDelta::default() } else {
                        CohortDelta { end_mrr: end, kept_mrr: end.min(start), retained: (!end.is_zero()).into(), upsold: expanded.into() }
                    };
                    prop_assert_eq!(sum, expected);
                }
                // The cohort of the first paid month, followed to m.
                let mut followed = PaidCohortDelta::default();
                for (_, _, delta) in paid_cohort.iter().filter(|(_, month, _)| *month <= m) {
                    followed.add(delta, 1);
                }
                let expected = match first_paid.filter(|c| *c <= m) {
                    Some(c) => PaidCohortDelta::at(mrr_by_definition(&terms, m), mrr_by_definition(&terms, c)),
                    None => PaidCohortDelta::default(),
                };
                prop_assert_eq!(followed, expected);
                prop_assert!(paid_cohort.iter().all(|(cohort, _, _)| Some(*cohort) == first_paid));
            }
        }
    }
}
