//! Health components (KPIS.md, section 6, as the parent module states them) of any (account,
//! day), computed set-wise: one query per component gathers its inputs for every target at
//! once, and the parent module's functions turn them into values.
use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::HealthComponentKind::{Csat, Engagement, Nps, RevenueTrend, Support, Usage};
use super::{ENGAGEMENT_WINDOW_DAYS, SURVEY_WINDOW_DAYS, TREND_DAYS, USAGE_WINDOW_DAYS};
use crate::base::sql::{Sql, count, money};

/// Component values in `COMPONENTS` order; `None` where a component has no data.
pub type Components = [Option<f64>; 6];

/// A target: `(tkey, account_id)`, the day coming from the `targets` CTE.
pub type Target = (i64, i64);

/// Runs one component's query: the value `value` reads from each row (none: not present), by target.
async fn values(
    db: &impl ConnectionTrait,
    sql: Sql,
    value: impl Fn(&QueryResult) -> Result<Option<f64>, DbErr>,
) -> Result<Vec<(Target, f64)>, DbErr> {
    let rows = db.query_all_raw(sql.statement()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(v) = value(row)? {
            out.push(((row.try_get::<i64>("", "tkey")?, row.try_get::<i64>("", "account_id")?), v));
        }
    }
    Ok(out)
}

/// Computes the components of every row of the CTE `targets(tkey, account_id, day)`, which
/// `with_targets` appends after `WITH`.
pub async fn components(
    db: &impl ConnectionTrait,
    with_targets: &(dyn Fn(&mut Sql) + Sync),
) -> Result<HashMap<Target, Components>, DbErr> {
    let backend = db.get_database_backend();
    let start = || {
        let mut sql = Sql::new(backend);
        sql.push("WITH ");
        with_targets(&mut sql);
        sql.push(" ");
        sql
    };

    // USAGE: the latest record dated in (d-30, d].
    let mut usage = start();
    let from = usage.days_before("t.day", USAGE_WINDOW_DAYS);
    usage.push(&format!(
        "SELECT tkey, account_id, active_users, licensed_seats FROM (SELECT t.tkey, t.account_id, u.active_users, u.licensed_seats, \
         ROW_NUMBER() OVER (PARTITION BY t.tkey, t.account_id ORDER BY u.date DESC) AS rn FROM targets t \
         JOIN usage_records u ON u.account_id = t.account_id AND u.date > {from} AND u.date <= t.day) latest WHERE rn = 1"
    ));

    // NPS: the latest response in (d-180, d], ties broken by the greatest externalId.
    let mut nps = start();
    let (day, from, external_id) =
        (nps.utc_day("f.responded_at"), nps.days_before("t.day", SURVEY_WINDOW_DAYS), nps.code_points("f.external_id"));
    nps.push(&format!(
        "SELECT tkey, account_id, score FROM (SELECT t.tkey, t.account_id, f.score, ROW_NUMBER() OVER (PARTITION BY t.tkey, t.account_id \
         ORDER BY f.responded_at DESC, {external_id} DESC) AS rn FROM targets t JOIN feedback f ON f.account_id = t.account_id \
         AND f.kind = 'NPS' AND {day} > {from} AND {day} <= t.day) latest WHERE rn = 1"
    ));

    // CSAT: the mean of the responses in (d-180, d].
    let mut csat = start();
    csat.push(&format!(
        "SELECT t.tkey, t.account_id, SUM(f.score) AS total, COUNT(*) AS responses FROM targets t JOIN feedback f \
         ON f.account_id = t.account_id AND f.kind = 'CSAT' AND {day} > {from} AND {day} <= t.day GROUP BY t.tkey, t.account_id"
    ));

    // SUPPORT: tickets opened by d and not resolved by d (always present).
    let mut support = start();
    let (opened, resolved) = (support.utc_day("k.opened_at"), support.utc_day("k.resolved_at"));
    support.push(&format!(
        "SELECT t.tkey, t.account_id, COUNT(k.id) AS open FROM targets t LEFT JOIN tickets k ON k.account_id = t.account_id \
         AND {opened} <= t.day AND (k.resolved_at IS NULL OR {resolved} > t.day) GROUP BY t.tkey, t.account_id"
    ));

    // ENGAGEMENT: touchpoints in (d-90, d] (always present).
    let mut engagement = start();
    let (day, from) = (engagement.utc_day("p.occurred_at"), engagement.days_before("t.day", ENGAGEMENT_WINDOW_DAYS));
    engagement.push(&format!(
        "SELECT t.tkey, t.account_id, COUNT(p.id) AS touchpoints FROM targets t LEFT JOIN touchpoints p ON p.account_id = t.account_id \
         AND {day} > {from} AND {day} <= t.day GROUP BY t.tkey, t.account_id"
    ));

    // REVENUE_TREND: MRR on d against MRR on d-90 (absent when that is 0).
    let mut trend = start();
    let (mrr, before) = (trend.money("s.mrr"), trend.days_before("t.day", TREND_DAYS));
    trend.push(&format!(
        "SELECT t.tkey, t.account_id, \
         SUM(CASE WHEN s.start_date <= t.day AND (s.end_date IS NULL OR s.end_date > t.day) THEN {mrr} ELSE 0 END) AS now_mrr, \
         SUM(CASE WHEN s.start_date <= {before} AND (s.end_date IS NULL OR s.end_date > {before}) THEN {mrr} ELSE 0 END) AS then_mrr \
         FROM targets t JOIN subscriptions s ON s.account_id = t.account_id GROUP BY t.tkey, t.account_id"
    ));

    // The six queries are independent: they run at once, each on its own connection, and each
    // keeps only its values, not the rows.
    let (usage, nps, csat, support, engagement, trend) = tokio::try_join!(
        values(db, usage, |row| Ok(Some(super::usage(count(row, "active_users")?, count(row, "licensed_seats")?)))),
        values(db, nps, |row| Ok(Some(super::nps(count(row, "score")?)))),
        values(db, csat, |row| Ok(Some(super::csat(count(row, "total")?, count(row, "responses")?)))),
        values(db, support, |row| Ok(Some(super::support(count(row, "open")?)))),
        values(db, engagement, |row| Ok(Some(super::engagement(count(row, "touchpoints")?)))),
        values(db, trend, |row| Ok(super::revenue_trend(
            money(backend, row, "now_mrr")?,
            money(backend, row, "then_mrr")?
        ))),
    )?;
    let mut out: HashMap<Target, Components> = HashMap::new();
    for (component, values) in
        [(Usage, usage), (Nps, nps), (Csat, csat), (Support, support), (Engagement, engagement), (RevenueTrend, trend)]
    {
        for (key, value) in values {
            out.entry(key).or_insert([None; 6])[component as usize] = Some(value);
        }
    }
    Ok(out)
}
