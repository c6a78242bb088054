//! Voice of the customer (KPIS.md, section 3): responses with `respondedAt` in P, accounts in S.
//!
//! | KPI | formula |
//! |---|---|
//! | `nps` | `100 * (promoters - detractors) / responses` over NPS responses; promoter: 9-10, detractor: 0-6 |
//! | `npsResponses` | number of NPS responses |
//! | `csat` | share of CSAT responses (1-5) scoring 4 or 5 |
//! | `csatAverage` | mean CSAT score |
//! | `ces` | mean CES score (1-7; higher = easier) |
use std::collections::HashMap;

use async_graphql::SimpleObject;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use super::movements::GroupKey;
use super::period::Period;
use super::revenue::share;
use super::scope::KpiScope;
use super::sql::{count, period_group};
use crate::error::AppResult;

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct VoiceKpis {
    pub nps: Option<f64>,
    pub nps_responses: i32,
    pub csat: Option<f64>,
    pub csat_average: Option<f64>,
    pub ces: Option<f64>,
}

pub const FIELDS: &[&str] = &["nps", "npsResponses", "csat", "csatAverage", "ces"];

pub async fn voice(
    db: &DatabaseConnection,
    scope: &KpiScope,
    periods: &[Period],
) -> AppResult<HashMap<(usize, GroupKey), VoiceKpis>> {
    let mut sql = scope.sql_over(db.get_database_backend(), periods);
    sql.push(
        " SELECT pr.p, sa.group_key, \
         SUM(CASE WHEN f.kind = 'NPS' THEN 1 ELSE 0 END) AS nps_n, \
         SUM(CASE WHEN f.kind = 'NPS' AND f.score >= 9 THEN 1 ELSE 0 END) AS promoters, \
         SUM(CASE WHEN f.kind = 'NPS' AND f.score <= 6 THEN 1 ELSE 0 END) AS detractors, \
         SUM(CASE WHEN f.kind = 'CSAT' THEN 1 ELSE 0 END) AS csat_n, \
         SUM(CASE WHEN f.kind = 'CSAT' AND f.score >= 4 THEN 1 ELSE 0 END) AS csat_good, \
         SUM(CASE WHEN f.kind = 'CSAT' THEN f.score ELSE 0 END) AS csat_sum, \
         SUM(CASE WHEN f.kind = 'CES' THEN 1 ELSE 0 END) AS ces_n, \
         SUM(CASE WHEN f.kind = 'CES' THEN f.score ELSE 0 END) AS ces_sum \
         FROM periods pr JOIN feedback f ON f.responded_at >= pr.start_at AND f.responded_at < pr.next_at \
         JOIN scope_accounts sa ON sa.account_id = f.account_id GROUP BY pr.p, sa.group_key",
    );
    let read = |row: &QueryResult| -> Result<((usize, GroupKey), VoiceKpis), DbErr> {
        let (nps_n, csat_n, ces_n) = (count(row, "nps_n")?, count(row, "csat_n")?, count(row, "ces_n")?);
        let nps = share(count(row, "promoters")? - count(row, "detractors")?, nps_n).map(|s| 100.0 * s);
        Ok((
            period_group(row)?,
            VoiceKpis {
                nps,
                nps_responses: nps_n as i32,
                csat: share(count(row, "csat_good")?, csat_n),
                csat_average: share(count(row, "csat_sum")?, csat_n),
                ces: share(count(row, "ces_sum")?, ces_n),
            },
        ))
    };
    let rows = db.query_all_raw(sql.statement()).await?;
    Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
}
