//! Health components (KPIS.md, section 6), computed set-wise: one query per component for every
//! (account, day) target at once.
//!
//! | component | value | present |
//! |---|---|---|
//! | `USAGE` | `100 * min(1, activeUsers / licensedSeats)` of the latest usage record dated in `(d-30, d]` | with such a record |
//! | `NPS` | `10 * score` of the latest NPS response in `(d-180 days, d]` (ties on `respondedAt`: the greatest `externalId` in code-point order) | with such a response |
//! | `CSAT` | `25 * (mean score - 1)` of CSAT responses in `(d-180 days, d]` | with such responses |
//! | `SUPPORT` | `max(0, 100 - 25 * open)`; `open` = tickets with `openedAt <= d` not resolved by d | always |
//! | `ENGAGEMENT` | `100 * min(3, touchpoints in (d-90 days, d]) / 3` | always |
//! | `REVENUE_TREND` | `100` if `MRR(a, d) > MRR(a, d-90)`, `70` if equal, `30` if lower but > 0, `0` if 0 | when `MRR(a, d-90) > 0` |
//!
//! Windows are whole days; an instant belongs to the day of its UTC date.
use std::collections::HashMap;

use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::HealthComponentKind::{Csat, Engagement, Nps, RevenueTrend, Support, Usage};
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
    let from = usage.days_before("t.day", 30);
    usage.push(&format!(
        "SELECT tkey, account_id, active_users, licensed_seats FROM (SELECT t.tkey, t.account_id, u.active_users, u.licensed_seats, \
         ROW_NUMBER() OVER (PARTITION BY t.tkey, t.account_id ORDER BY u.date DESC) AS rn FROM targets t \
         JOIN usage_records u ON u.account_id = t.account_id AND u.date > {from} AND u.date <= t.day) latest WHERE rn = 1"
    ));

    // NPS: the latest response in (d-180, d], ties broken by the greatest externalId.
    let mut nps = start();
    let (day, from, external_id) =
        (nps.utc_day("f.responded_at"), nps.days_before("t.day", 180), nps.code_points("f.external_id"));
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
    let (day, from) = (engagement.utc_day("p.occurred_at"), engagement.days_before("t.day", 90));
    engagement.push(&format!(
        "SELECT t.tkey, t.account_id, COUNT(p.id) AS touchpoints FROM targets t LEFT JOIN touchpoints p ON p.account_id = t.account_id \
         AND {day} > {from} AND {day} <= t.day GROUP BY t.tkey, t.account_id"
    ));

    // REVENUE_TREND: MRR on d against MRR on d-90 (absent when that is 0).
    let mut trend = start();
    let (mrr, before) = (trend.money("s.mrr"), trend.days_before("t.day", 90));
    trend.push(&format!(
        "SELECT t.tkey, t.account_id, \
         SUM(CASE WHEN s.start_date <= t.day AND (s.end_date IS NULL OR s.end_date > t.day) THEN {mrr} ELSE 0 END) AS now_mrr, \
         SUM(CASE WHEN s.start_date <= {before} AND (s.end_date IS NULL OR s.end_date > {before}) THEN {mrr} ELSE 0 END) AS then_mrr \
         FROM targets t JOIN subscriptions s ON s.account_id = t.account_id GROUP BY t.tkey, t.account_id"
    ));

    // The six queries are independent: they run at once, each on its own connection, and each
    // keeps only its values, not the rows.
    let (usage, nps, csat, support, engagement, trend) = tokio::try_join!(
        values(db, usage, |row| {
            let (used, seats) = (count(row, "active_users")? as f64, count(row, "licensed_seats")? as f64);
            Ok(Some(100.0 * (used / seats).min(1.0)))
        }),
        values(db, nps, |row| Ok(Some(10.0 * count(row, "score")? as f64))),
        values(db, csat, |row| {
            let mean = count(row, "total")? as f64 / count(row, "responses")? as f64;
            Ok(Some(25.0 * (mean - 1.0)))
        }),
        values(db, support, |row| Ok(Some((100.0 - 25.0 * count(row, "open")? as f64).max(0.0)))),
        values(db, engagement, |row| Ok(Some(100.0 * (count(row, "touchpoints")?.min(3) as f64) / 3.0))),
        values(db, trend, |row| {
            let (now, then) = (money(backend, row, "now_mrr")?, money(backend, row, "then_mrr")?);
            Ok((then > Decimal::ZERO).then(|| {
                if now > then {
                    100.0
                } else if now == then {
                    70.0
                } else if now > Decimal::ZERO {
                    30.0
                } else {
                    0.0
                }
            }))
        }),
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
