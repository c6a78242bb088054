//! What the ledger counts per account and month (its `activity_book_months` columns): one list,
//! from which the [`Counter`] enum and the column names are both generated, so that a counter
//! and its column can never drift apart. What each counter counts is stated by the ledger
//! (`ledger::activity`) and by the KPI family that reads it (for example [`super::voice`]).
use std::ops::Index;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Declares [`Counter`] and [`ACTIVITY_COLUMNS`] from one list of `Variant => "column"`.
macro_rules! counters {
    ($($counter:ident => $column:literal,)+) => {
        /// A counter of [`ActivityCounts`], stored in the column [`Counter::column`] names.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Counter {
            $($counter,)+
        }

        /// The columns of `activity_book_months`, in [`Counter`] order.
        pub const ACTIVITY_COLUMNS: [&str; [$($column),+].len()] = [$($column),+];

        impl Counter {
            /// Its column of `activity_book_months`.
            pub fn column(self) -> &'static str {
                ACTIVITY_COLUMNS[self as usize]
            }
        }
    };
}

counters! {
    TicketsOpened => "tickets_opened",
    TicketsResolved => "tickets_resolved",
    FirstContactResolutions => "first_contact_resolutions",
    NpsResponses => "nps_responses",
    NpsPromoters => "nps_promoters",
    NpsDetractors => "nps_detractors",
    CsatResponses => "csat_responses",
    CsatSatisfied => "csat_satisfied",
    CsatScoreSum => "csat_score_sum",
    CesResponses => "ces_responses",
    CesScoreSum => "ces_score_sum",
    Logins => "logins",
    LoginActiveUsers => "login_active_users",
    SessionMinutes => "session_minutes",
    SessionLogins => "session_logins",
    Touchpoints => "touchpoints",
    AdvocacyActivities => "advocacy_activities",
    FeatureRequestsOpened => "feature_requests_opened",
    FeatureRequestsShipped => "feature_requests_shipped",
    Signups => "signups",
    SignupsActivated => "signups_activated",
    SignupsConverted => "signups_converted",
    Referrals => "referrals",
    ReferredSignups => "referred_signups",
    ExecutiveAccounts1 => "executive_accounts_1",
    ExecutiveAccounts3 => "executive_accounts_3",
    ExecutiveAccounts12 => "executive_accounts_12",
    Advocates1 => "advocates_1",
    Advocates3 => "advocates_3",
    Advocates12 => "advocates_12",
    RenewalsDue => "renewals_due",
    RenewalsRenewed => "renewals_renewed",
    RenewalsDueMrr => "renewals_due_mrr",
    RenewalsRenewalMrr => "renewals_renewal_mrr",
    RenewalsDueMrrWhole => "renewals_due_mrr_whole",
    RenewalsRenewalMrrWhole => "renewals_renewal_mrr_whole",
}

/// `amount` as its whole units and the rest in 1/10000 units (money has 4 decimals and at most
/// 15 integer digits, so both fit).
pub fn money_parts(amount: Decimal) -> [i64; 2] {
    let mut units = amount;
    units.rescale(entity::money::MONEY_SCALE);
    let scale = 10_i128.pow(entity::money::MONEY_SCALE);
    let (whole, rest) = (units.mantissa() / scale, units.mantissa() % scale);
    [i64::try_from(whole).unwrap_or(i64::MAX), rest as i64]
}

/// The renewal MRR as summed by its two counters (`whole` units, `rest` in 1/10000 units).
pub fn renewal_mrr(whole: i64, rest: i64) -> Decimal {
    (Decimal::from(whole) + Decimal::new(rest, entity::money::MONEY_SCALE)).normalize()
}

/// The counters an account's months were stored with before the renewal MRR's whole units: such
/// a list holds that MRR in 1/10000 units alone (and none whole), which reads the same.
const COUNTERS_BEFORE_WHOLE_MRR: usize = 34;

/// The counters of one month (of an account, or summed over accounts and months); stored as a
/// JSON list (serde's arrays stop at 32 elements).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<i64>", try_from = "Vec<i64>")]
pub struct ActivityCounts(pub [i64; ACTIVITY_COLUMNS.len()]);

impl Default for ActivityCounts {
    fn default() -> Self {
        ActivityCounts([0; ACTIVITY_COLUMNS.len()])
    }
}

impl From<ActivityCounts> for Vec<i64> {
    fn from(counts: ActivityCounts) -> Vec<i64> {
        counts.0.to_vec()
    }
}

impl TryFrom<Vec<i64>> for ActivityCounts {
    type Error = String;

    fn try_from(mut values: Vec<i64>) -> Result<Self, String> {
        let found = values.len();
        if found == COUNTERS_BEFORE_WHOLE_MRR {
            values.resize(ACTIVITY_COLUMNS.len(), 0);
        }
        values.try_into().map(ActivityCounts).map_err(|_| format!("{found} counters, not {}", ACTIVITY_COLUMNS.len()))
    }
}

impl Index<Counter> for ActivityCounts {
    type Output = i64;

    fn index(&self, counter: Counter) -> &i64 {
        &self.0[counter as usize]
    }
}

impl ActivityCounts {
    pub fn bump(&mut self, counter: Counter, by: i64) {
        self.0[counter as usize] += by;
    }

    /// Adds `amount` to a pair of money counters: its whole units, and the rest in 1/10000 units.
    pub fn add_money(&mut self, [whole, rest]: [Counter; 2], amount: Decimal) {
        let [units, tenth_thousandths] = money_parts(amount);
        self.bump(whole, units);
        self.bump(rest, tenth_thousandths);
    }

    /// Adds `other` (`sign` 1) or takes it away (-1).
    pub fn merge(&mut self, other: &ActivityCounts, sign: i64) {
        for (value, other) in self.0.iter_mut().zip(other.0) {
            *value += sign * other;
        }
    }

    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_splits_exactly_into_whole_units_and_the_rest() {
        let largest = Decimal::from_i128_with_scale(9_999_999_999_999_999_999, 4);
        assert_eq!(money_parts(largest), [999_999_999_999_999, 9_999]);
        let mut counts = ActivityCounts::default();
        for _ in 0..3 {
            counts.add_money([Counter::RenewalsDueMrrWhole, Counter::RenewalsDueMrr], largest);
        }
        let sum = renewal_mrr(counts[Counter::RenewalsDueMrrWhole], counts[Counter::RenewalsDueMrr]);
        assert_eq!(sum, largest * Decimal::from(3));
    }

    #[test]
    fn months_stored_before_the_whole_units_read_the_same() {
        let mut stored = vec![0_i64; COUNTERS_BEFORE_WHOLE_MRR];
        stored[Counter::RenewalsDueMrr as usize] = 12_345_678;
        let counts = ActivityCounts::try_from(stored).unwrap_or_else(|e| panic!("{e}"));
        let due = renewal_mrr(counts[Counter::RenewalsDueMrrWhole], counts[Counter::RenewalsDueMrr]);
        assert_eq!(due, Decimal::new(12_345_678, 4));
        assert!(ActivityCounts::try_from(vec![0; 35]).is_err());
    }
}
