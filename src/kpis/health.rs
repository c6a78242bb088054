//! Health over a period (KPIS.md, sections 6 and 8), from the health of every account of S
//! active at the end of P, computed set-wise (one query per component for all of them).
//!
//! | KPI | formula |
//! |---|---|
//! | `averageHealthScore` | mean score on `end(P)` over accounts active at the end of P |
//! | `dataCompleteness` | among accounts active at the end of P: share whose health on `end(P)` has all six components present (present = has data, whatever its weight) |
use std::collections::HashMap;

use async_graphql::SimpleObject;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::movements::GroupKey;
use super::period::Period;
use super::revenue::share;
use super::scope::KpiScope;
use crate::error::AppResult;
use crate::health::model::Model;
use crate::health::score;

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct HealthKpis {
    pub average_health_score: Option<f64>,
    pub data_completeness: Option<f64>,
}

pub const FIELDS: &[&str] = &["averageHealthScore", "dataCompleteness"];

pub async fn health(
    db: &DatabaseConnection,
    scope: &KpiScope,
    periods: &[Period],
    model: &Model,
) -> AppResult<HashMap<(usize, GroupKey), HealthKpis>> {
    let backend = db.get_database_backend();
    let targets = |sql: &mut super::sql::Sql| {
        scope.with_accounts(sql);
        sql.push(", ");
        super::period::with_periods(sql, periods);
        sql.push(", ");
        scope.with_active(sql);
        sql.push(", targets(tkey, account_id, day) AS (SELECT CAST(ac.p AS BIGINT), ac.account_id, pr.end_date FROM active ac JOIN periods pr ON pr.p = ac.p)");
    };
    let components = score::components(db, &targets).await?;
    let mut groups = super::sql::Sql::new(backend);
    groups.push("WITH ");
    scope.with_accounts(&mut groups);
    groups.push(" SELECT account_id, group_key FROM scope_accounts");
    let group_of: HashMap<i64, GroupKey> = db
        .query_all_raw(groups.statement())
        .await?
        .iter()
        .map(|row| Ok((row.try_get::<i64>("", "account_id")?, row.try_get::<Option<String>>("", "group_key")?)))
        .collect::<Result<_, sea_orm::DbErr>>()?;

    // Per period and group: (sum of scores, scored accounts, complete accounts, active accounts).
    // Accounts in a fixed order, so that the same accounts always sum to the same float.
    let mut components: Vec<_> = components.into_iter().collect();
    components.sort_by_key(|(key, _)| *key);
    let mut totals: HashMap<(usize, GroupKey), (f64, i64, i64, i64)> = HashMap::new();
    for ((p, account), values) in &components {
        let total = totals.entry((*p as usize, group_of.get(account).cloned().flatten())).or_default();
        if let Some(score) = model.score(values) {
            total.0 += score;
            total.1 += 1;
        }
        total.2 += i64::from(values.iter().all(Option::is_some));
        total.3 += 1;
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
