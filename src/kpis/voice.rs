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

use super::activity::Activity;
use super::movements::GroupKey;
use super::revenue::share;
use crate::base::error::AppResult;
use crate::ledger::activity::{ActivityCounts, Counter};

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct VoiceKpis {
    pub nps: Option<f64>,
    pub nps_responses: i32,
    pub csat: Option<f64>,
    pub csat_average: Option<f64>,
    pub ces: Option<f64>,
}

pub const FIELDS: &[&str] = &["nps", "npsResponses", "csat", "csatAverage", "ces"];

/// From the ledger's activity counters of P.
pub async fn voice(activity: &Activity<'_>) -> AppResult<HashMap<(usize, GroupKey), VoiceKpis>> {
    let kpis = |c: &ActivityCounts| {
        let nps_n = c[Counter::NpsResponses];
        VoiceKpis {
            nps: share(c[Counter::NpsPromoters] - c[Counter::NpsDetractors], nps_n).map(|s| 100.0 * s),
            nps_responses: nps_n as i32,
            csat: share(c[Counter::CsatSatisfied], c[Counter::CsatResponses]),
            csat_average: share(c[Counter::CsatScoreSum], c[Counter::CsatResponses]),
            ces: share(c[Counter::CesScoreSum], c[Counter::CesResponses]),
        }
    };
    Ok(activity.counts().await?.iter().map(|(key, counts)| (key.clone(), kpis(counts))).collect())
}
