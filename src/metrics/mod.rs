//! Layer 3, KPI definitions that both the write side (the ledger) and the read side (the KPI
//! reads) use: the kinds of MRR movement, the counters the ledger keeps, account health, and
//! whole KPI families ([`voice`], [`renewals`]). Below the ledger, above auth.
pub mod activity;
pub mod catalog;
pub mod health;
pub mod renewals;
pub mod voice;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::base::db_enum::db_enum;

db_enum!(
    /// The kind of an MRR movement (KPIS.md, section 1).
    MovementKind {
        New => "NEW",
        Expansion => "EXPANSION",
        Contraction => "CONTRACTION",
        Churn => "CHURN",
        Reactivation => "REACTIVATION",
    }
);

/// `part / whole` for counts; `null` when `whole = 0`.
pub fn share(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}

/// `a / b` of exact amounts as a ratio; `null` when `b = 0`.
pub fn ratio(a: Decimal, b: Decimal) -> Option<f64> {
    a.checked_div(b).and_then(|q| q.to_f64())
}
