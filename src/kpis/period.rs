//! Calendar periods (KPIS.md, "Conventions"): a month, quarter or year; `start(P)`, `end(P)`.
use chrono::{NaiveDate, NaiveTime};
use sea_orm::Value;

use crate::base::calendar::{MonthIndex, month_end, month_index, month_start};
use crate::base::sql::Sql;

use super::{Granularity, PeriodInput};
use crate::base::error::{AppError, AppResult};

/// The most periods one request may ask for.
pub const MAX_PERIODS: usize = 120;

/// One calendar period: its months `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub first: MonthIndex,
    pub last: MonthIndex,
}

impl Period {
    pub fn start(self) -> NaiveDate {
        month_start(self.first)
    }

    pub fn end(self) -> NaiveDate {
        month_end(self.last)
    }

    /// The opening month `B`: the month just before the period's first month.
    pub fn opening(self) -> MonthIndex {
        self.first - 1
    }

    pub fn months(self) -> impl Iterator<Item = MonthIndex> {
        self.first..=self.last
    }

    /// How many months it spans: 1, 3 or 12.
    pub fn length(self) -> i32 {
        self.last - self.first + 1
    }
}

fn months_per(granularity: Granularity) -> i32 {
    match granularity {
        Granularity::Month => 1,
        Granularity::Quarter => 3,
        Granularity::Year => 12,
    }
}

/// The periods a `PeriodInput` names, oldest first: from the one containing `from` to the one
/// containing `to`. `BAD_USER_INPUT` when `from > to` or for more than [`MAX_PERIODS`].
pub fn periods(input: &PeriodInput) -> AppResult<Vec<Period>> {
    let (from, to) = (input.from.0, input.to.0);
    if from > to {
        return Err(AppError::invalid(None, "period", "from must not be after to"));
    }
    let size = months_per(input.granularity);
    let align = |date: NaiveDate| {
        let index = month_index(date);
        index - index.rem_euclid(size)
    };
    let (first, last) = (align(from), align(to));
    let count = ((last - first) / size + 1) as usize;
    if count > MAX_PERIODS {
        return Err(AppError::invalid(None, "period", format!("at most {MAX_PERIODS} periods, asked for {count}")));
    }
    Ok((0..count as i32).map(|i| Period { first: first + i * size, last: first + i * size + size - 1 }).collect())
}

/// Appends the CTE `periods(p, start_date, end_date, next_start, start_at, next_at)`: per period
/// (by position) its first and last day, the day after it, and the same bounds as instants (an
/// instant t is in P when `start_at <= t < next_at`).
pub fn with_periods(sql: &mut Sql, periods: &[Period]) {
    sql.push("periods(p, start_date, end_date, next_start, start_at, next_at) AS (VALUES ");
    sql.values_rows(periods.iter().enumerate(), |(i, p)| {
        let next = month_start(p.last + 1);
        let midnight = |d: NaiveDate| Value::from(d.and_time(NaiveTime::MIN).and_utc());
        vec![Value::from(i as i32), p.start().into(), p.end().into(), next.into(), midnight(p.start()), midnight(next)]
    });
    sql.push(")");
}
