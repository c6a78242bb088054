//! Health over a period (KPIS.md, sections 6 and 8), from the health of every account of S
//! active at the end of P, which the ledger keeps per book, month and presence pattern.
//!
//! | KPI | formula |
//! |---|---|
//! | `averageHealthScore` | mean score on `end(P)` over accounts active at the end of P |
//! | `dataCompleteness` | among accounts active at the end of P: share whose health on `end(P)` has all six components present (present = has data, whatever its weight) |
use std::collections::{BTreeMap, HashMap};

use async_graphql::SimpleObject;
use sea_orm::DatabaseConnection;
use tokio::sync::OnceCell;

use super::movements::GroupKey;
use super::period::Period;
use super::scope::{KpiScope, OverBooks};
use crate::base::calendar::MonthIndex;
use crate::base::error::AppResult;
use crate::base::sql::count;
use crate::ledger::health::{ADOPTION_COLUMNS, AdoptionCounts, HEALTH_UNIT, HealthDelta};
use crate::metrics::catalog::{Entry, KPI_READERS};
use crate::metrics::health::COMPONENT_COLUMNS;
use crate::metrics::health::model::Model;
use crate::metrics::share;

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct HealthKpis {
    pub average_health_score: Option<f64>,
    pub data_completeness: Option<f64>,
}

/// Per period and group, from the ledger's `health_book_months`: for each presence pattern p of
/// the components, the accounts active at the end of P with that pattern (`n_p`) and the sums
/// of their component values (`S_p,i`), as running sums up to the period's last month. Every
/// account of a pattern divides by the same weight total `W_p = sum_{i in p} w_i`, so
/// `averageHealthScore = sum_p (sum_{i in p} w_i * S_p,i) / W_p / sum_p n_p` over the patterns
/// with `W_p > 0`, and `dataCompleteness = n_(all six) / sum_p n_p`.
pub async fn health(month_ends: &MonthEnds<'_>, model: &Model) -> AppResult<HashMap<(usize, GroupKey), HealthKpis>> {
    let (periods, changes) = (month_ends.periods, month_ends.changes().await?);
    // Per period and group: (sum of scores, scored accounts, complete accounts, active accounts).
    let mut totals: HashMap<(usize, GroupKey), (f64, i64, i64, i64)> = HashMap::new();
    for (i, period) in periods.iter().enumerate() {
        for ((group, pattern), changes) in changes {
            let at_end = at_end(changes, period.last);
            if at_end.accounts == 0 {
                continue;
            }
            let present = |c: usize| pattern & (1 << c) != 0;
            let weight: f64 = (0..6).filter(|c| present(*c)).map(|c| model.weights[c]).sum();
            let total = totals.entry((i, group.clone())).or_default();
            if weight > 0.0 {
                let weighted: f64 = (0..6)
                    .filter(|c| present(*c))
                    .map(|c| model.weights[c] * (at_end.sums[c] as f64 / HEALTH_UNIT))
                    .sum();
                total.0 += weighted / weight;
                total.1 += at_end.accounts;
            }
            total.2 += if *pattern == ALL_PRESENT { at_end.accounts } else { 0 };
            total.3 += at_end.accounts;
        }
    }
    Ok(totals
        .into_iter()
        .map(|(key, (sum, scored, complete, active))| {
            let kpis = HealthKpis {
                average_health_score: (scored != 0).then(|| sum / scored as f64),
                data_completeness: share(complete, active),
            };
            (key, kpis)
        })
        .collect())
}

/// The pattern of an account whose six components are all present.
const ALL_PRESENT: i32 = 0b11_1111;

/// The changes of the figures, by period end: at each, the changes of its month and of the
/// months since the period end before it.
type Changes = BTreeMap<MonthIndex, HealthDelta>;

/// The month-end figures of a request's periods, read once for every family that needs them
/// (health, adoption, growth), whichever asks first.
pub struct MonthEnds<'a> {
    db: &'a DatabaseConnection,
    scope: &'a KpiScope<'a>,
    periods: &'a [Period],
    columns: MonthEndColumns,
    changes: OnceCell<Vec<((GroupKey, i32), Changes)>>,
}

/// Which sums of `health_book_months` a request reads besides the accounts: summing the columns
/// no family asks for is most of the statement's time.
#[derive(Clone, Copy)]
pub struct MonthEndColumns {
    /// The health components (the health KPIs).
    pub components: bool,
    /// The adoption counts ([`adoption_at_period_ends`]; none without them).
    pub adoption: bool,
}

impl<'a> MonthEnds<'a> {
    pub fn new(
        db: &'a DatabaseConnection,
        scope: &'a KpiScope<'a>,
        periods: &'a [Period],
        columns: MonthEndColumns,
    ) -> Self {
        MonthEnds { db, scope, periods, columns, changes: OnceCell::new() }
    }

    async fn changes(&self) -> AppResult<&[((GroupKey, i32), Changes)]> {
        let read = || month_end_changes(self.db, self.scope, self.periods, self.columns);
        Ok(self.changes.get_or_try_init(read).await?)
    }
}

/// Per group and presence pattern, in a fixed order: how the month-end figures of the accounts
/// of S change up to each period's last month (the ledger's `health_book_months` over the books
/// of S, whose months are summed in SQL into the period end that follows them: the sums are
/// integers, exact in any order).
async fn month_end_changes(
    db: &DatabaseConnection,
    scope: &KpiScope<'_>,
    periods: &[Period],
    columns: MonthEndColumns,
) -> AppResult<Vec<((GroupKey, i32), Changes)>> {
    let mut ends: Vec<MonthIndex> = periods.iter().map(|p| p.last).collect();
    ends.sort_unstable();
    ends.dedup();
    let Some(latest) = ends.last().copied() else { return Ok(Vec::new()) };
    let OverBooks { mut sql, join, group_key } = scope.over_books(db).await?;
    let components: &[&str] = if columns.components { &COMPONENT_COLUMNS } else { &[] };
    let adoption: &[&str] = if columns.adoption { &ADOPTION_COLUMNS } else { &[] };
    let sums = std::iter::once("accounts").chain(components.iter().chain(adoption).copied());
    let sums = sums.map(|c| format!("CAST(SUM(r.{c}) AS BIGINT) AS {c}"));
    sql.push(&format!("SELECT {group_key} AS group_key, r.pattern, {}, CASE", sums.collect::<Vec<_>>().join(", ")));
    for end in &ends {
        sql.push(" WHEN r.month <= ").bind(*end).push(" THEN ").bind(*end);
    }
    sql.push(&format!(" END AS period_end FROM health_book_months r {join} WHERE r.month <= "))
        .bind(latest)
        .push(&format!(" GROUP BY {group_key}, r.pattern, period_end"));
    let mut changes: HashMap<(GroupKey, i32), Changes> = HashMap::new();
    for row in crate::base::sql::query_grouped(db, sql.statement()).await? {
        let mut delta = HealthDelta { accounts: count(&row, "accounts")?, ..HealthDelta::default() };
        for (sum, column) in delta.sums.iter_mut().zip(components) {
            *sum = count(&row, column)?;
        }
        let mut values = [0; ADOPTION_COLUMNS.len()];
        for (value, column) in values.iter_mut().zip(adoption) {
            *value = count(&row, column)?;
        }
        delta.adoption = AdoptionCounts::from_values(values);
        let key = (row.try_get::<Option<String>>("", "group_key")?, row.try_get::<i32>("", "pattern")?);
        changes.entry(key).or_default().insert(row.try_get::<i32>("", "period_end")?, delta);
    }
    let mut changes: Vec<_> = changes.into_iter().collect();
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(changes)
}

/// The figures at the end of `month`: the running sums of the changes up to it.
fn at_end(changes: &Changes, month: MonthIndex) -> HealthDelta {
    let mut figures = HealthDelta::default();
    for delta in changes.range(..=month).map(|(_, d)| d) {
        figures.merge(delta, 1);
    }
    figures
}

/// The adoption figures of the accounts of S active at the end of P ([`Adoption`], summed), per
/// period and group, with their number (`accounts`): the month-end KPIs of adoption and growth.
/// None when the request selects none of those KPIs ([`MonthEndColumns::adoption`]).
///
/// [`Adoption`]: crate::ledger::health::Adoption
pub async fn adoption_at_period_ends(month_ends: &MonthEnds<'_>) -> AppResult<HashMap<(usize, GroupKey), HealthDelta>> {
    let mut out: HashMap<(usize, GroupKey), HealthDelta> = HashMap::new();
    if !month_ends.columns.adoption {
        return Ok(out);
    }
    let changes = month_ends.changes().await?;
    for (i, period) in month_ends.periods.iter().enumerate() {
        for ((group, _), changes) in changes {
            out.entry((i, group.clone())).or_default().merge(&at_end(changes, period.last), 1);
        }
    }
    Ok(out)
}

/// The health KPIs of periods in the metric catalog; their names are the fields of [`HealthKpis`].
pub const CATALOG: &[Entry] = &[
    (
        "averageHealthScore",
        "score",
        "Mean health score (0-100) of the active accounts",
        "mean health score on end(P) over accounts active at the end of P; health = sum(w_i * c_i) / sum(w_i) over the present components USAGE, NPS, CSAT, SUPPORT, ENGAGEMENT, REVENUE_TREND",
        KPI_READERS,
    ),
    (
        "dataCompleteness",
        "ratio",
        "Share of active accounts whose health has every component",
        "among accounts active at the end of P: share whose health on end(P) has all six components present (present = has data, whatever its weight)",
        KPI_READERS,
    ),
];
