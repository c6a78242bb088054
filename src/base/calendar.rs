//! Calendar months as running indexes (KPIS.md, "Conventions": months are calendar months, UTC).
use chrono::{Datelike, NaiveDate};

/// A month as a running index (`year * 12 + month - 1`), so that `M-1` and `M-12` are arithmetic.
pub type MonthIndex = i32;

pub fn month_index(date: NaiveDate) -> MonthIndex {
    date.year() * 12 + date.month0() as i32
}

/// The first day of a month index.
pub fn month_start(index: MonthIndex) -> NaiveDate {
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1).unwrap_or(NaiveDate::MIN)
}

/// The last day of a month index.
pub fn month_end(index: MonthIndex) -> NaiveDate {
    month_start(index + 1).pred_opt().unwrap_or(NaiveDate::MIN)
}

/// The first day of `date`'s month.
pub fn first_day_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}
