//! Costs per period (KPIS.md, section 2): `ACQUISITION` is sales and marketing spend; the
//! `CS_*` categories together are the cost to serve. A cost's `month` may be any day of its
//! month (stored as the first day).
use std::collections::HashMap;

use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use super::period::{Period, with_periods};
use crate::base::error::AppResult;
use crate::base::sql::{Sql, money};

#[derive(Clone, Debug, Default)]
pub struct PeriodCosts {
    /// `sum(ACQUISITION costs with month in P)`
    pub acquisition: Decimal,
    /// `sum(CS_* costs with month in P)`
    pub to_serve: Decimal,
}

/// Costs per period (by position).
pub async fn costs(db: &DatabaseConnection, periods: &[Period]) -> AppResult<HashMap<usize, PeriodCosts>> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push("WITH ");
    with_periods(&mut sql, periods);
    let amount = sql.money("c.amount");
    sql.push(&format!(
        " SELECT pr.p, SUM(CASE WHEN c.category = 'ACQUISITION' THEN {amount} ELSE 0 END) AS acquisition, \
         SUM(CASE WHEN c.category <> 'ACQUISITION' THEN {amount} ELSE 0 END) AS to_serve \
         FROM periods pr JOIN costs c ON c.month >= pr.start_date AND c.month < pr.next_start GROUP BY pr.p"
    ));
    let read = |row: &QueryResult| -> Result<(usize, PeriodCosts), DbErr> {
        Ok((
            row.try_get::<i32>("", "p")? as usize,
            PeriodCosts {
                acquisition: money(backend, row, "acquisition")?,
                to_serve: money(backend, row, "to_serve")?,
            },
        ))
    };
    let rows = db.query_all_raw(sql.statement()).await?;
    Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
}
