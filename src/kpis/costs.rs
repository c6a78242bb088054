//! Costs per period (KPIS.md, section 2): `ACQUISITION` is sales and marketing spend; the
//! `CS_*` categories together are the cost to serve. A cost's `month` may be any day of its
//! month (stored as the first day).
use std::collections::HashMap;

use async_graphql::SimpleObject;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use super::period::{Period, with_periods};
use super::ratio::Ratio;
use super::revenue::{Exact, cents};
use crate::auth::{Role, RoleGuard};
use crate::base::error::AppResult;
use crate::base::scalars::Decimal as Money;
use crate::base::sql::{Sql, money};
use crate::metrics::catalog::Entry;
use crate::metrics::ratio;

/// FINANCE and ADMIN only (FORBIDDEN otherwise); null unless the scope is the whole portfolio.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct CostKpis {
    /// `sum(ACQUISITION costs with month in P) / newCustomers`
    #[graphql(guard = "RoleGuard(COST_READERS)")]
    pub cac: Option<Money>,
    /// `ltv / cac`
    #[graphql(guard = "RoleGuard(COST_READERS)")]
    pub ltv_to_cac: Option<f64>,
    /// `cac / (arpa * grossMargin)`
    #[graphql(guard = "RoleGuard(COST_READERS)")]
    pub cac_payback_months: Option<f64>,
    /// `sum(CS_* costs with month in P)`
    #[graphql(guard = "RoleGuard(COST_READERS)")]
    pub cost_to_serve: Option<Money>,
    /// `costToServe / average over the months of P of activeCustomers(month)`
    #[graphql(guard = "RoleGuard(COST_READERS)")]
    pub cost_to_serve_per_account: Option<Money>,
    /// `costToServe / |{a in C : MRR(a, last) > 0}|`
    #[graphql(guard = "RoleGuard(COST_READERS)")]
    pub customer_retention_cost: Option<Money>,
}

/// The roles that may read the cost KPIs.
pub const COST_READERS: &[Role] = &[Role::Admin, Role::Finance];

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

/// The cost KPIs of a whole-portfolio period.
pub fn cost_kpis(costs: &PeriodCosts, exact: &Exact) -> CostKpis {
    let cac = costs.acquisition.checked_div(Decimal::from(exact.new_customers)).filter(|_| exact.new_customers != 0);
    let (active_sum, months) = exact.active_months;
    let per_account = (active_sum != 0).then(|| costs.to_serve * Decimal::from(months) / Decimal::from(active_sum));
    let retention_cost = exact.retained.filter(|r| *r != 0).map(|r| costs.to_serve / Decimal::from(r));
    CostKpis {
        cac: cac.map(cents),
        ltv_to_cac: exact.ltv.and_then(Ratio::to_f64).zip(cac.and_then(|c| c.to_f64())).map(|(ltv, cac)| ltv / cac),
        cac_payback_months: cac.zip(exact.arpa).and_then(|(cac, arpa)| ratio(cac, arpa * exact.gross_margin)),
        cost_to_serve: Some(Money(costs.to_serve)),
        cost_to_serve_per_account: per_account.map(cents),
        customer_retention_cost: retention_cost.map(cents),
    }
}

/// The cost KPIs of the metric catalog (FINANCE and ADMIN); their names are the fields of `CostKpis`.
pub const CATALOG: &[Entry] = &[
    (
        "cac",
        "currency",
        "Customer acquisition cost (whole portfolio only)",
        "sum(ACQUISITION costs with month in P) / newCustomers",
        COST_READERS,
    ),
    (
        "ltvToCac",
        "ratio",
        "Lifetime value per acquisition cost (whole portfolio only)",
        "ltv / cac, both unrounded",
        COST_READERS,
    ),
    (
        "cacPaybackMonths",
        "months",
        "Months of margin to earn back the CAC (whole portfolio only)",
        "cac / (arpa * grossMargin), grossMargin the finance setting (setFinanceSettings; 1.0 until set)",
        COST_READERS,
    ),
    (
        "costToServe",
        "currency",
        "Customer-success cost (whole portfolio only)",
        "sum(CS_SALARIES, CS_TRAINING, CS_TOOLS, CS_PROGRAMS costs with month in P)",
        COST_READERS,
    ),
    (
        "costToServePerAccount",
        "currency",
        "Cost to serve per active account (whole portfolio only)",
        "costToServe / the mean over the months of P of activeCustomers(month)",
        COST_READERS,
    ),
    (
        "customerRetentionCost",
        "currency",
        "Cost to serve per retained opening customer (whole portfolio only)",
        "costToServe / |{a in C : MRR(a, last) > 0}|",
        COST_READERS,
    ),
];
