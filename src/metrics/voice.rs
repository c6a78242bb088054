//! Voice of the customer (KPIS.md, section 3), the whole family in one place: what the ledger
//! counts for each survey response, the KPIs of a period from those counts, their fields and
//! their entries of the metric catalog. Responses with `respondedAt` in P, accounts in S.
//!
//! | KPI | formula |
//! |---|---|
//! | `nps` | `100 * (promoters - detractors) / responses` over NPS responses; promoter: 9-10, detractor: 0-6 |
//! | `npsResponses` | number of NPS responses |
//! | `csat` | share of CSAT responses (1-5) scoring 4 or 5 |
//! | `csatAverage` | mean CSAT score |
//! | `ces` | mean CES score (1-7; higher = easier) |
use async_graphql::SimpleObject;

use super::activity::{ActivityCounts, Counter};
use super::catalog::{Entry, KPI_READERS};
use super::share;

/// An NPS response scoring at least this is a promoter's.
pub const PROMOTER_AT_LEAST: i64 = 9;
/// An NPS response scoring at most this is a detractor's.
pub const DETRACTOR_AT_MOST: i64 = 6;
/// A CSAT response scoring at least this is satisfied.
pub const SATISFIED_AT_LEAST: i64 = 4;

/// What the ledger counts for one response of `kind` scoring `score`, in its month.
pub fn count_response(counts: &mut ActivityCounts, kind: &str, score: i64) {
    let counters: &[(Counter, i64)] = match kind {
        "NPS" => &[
            (Counter::NpsResponses, 1),
            (Counter::NpsPromoters, i64::from(score >= PROMOTER_AT_LEAST)),
            (Counter::NpsDetractors, i64::from(score <= DETRACTOR_AT_MOST)),
        ],
        "CSAT" => &[
            (Counter::CsatResponses, 1),
            (Counter::CsatSatisfied, i64::from(score >= SATISFIED_AT_LEAST)),
            (Counter::CsatScoreSum, score),
        ],
        "CES" => &[(Counter::CesResponses, 1), (Counter::CesScoreSum, score)],
        _ => &[],
    };
    for (counter, by) in counters {
        counts.bump(*counter, *by);
    }
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct VoiceKpis {
    pub nps: Option<f64>,
    pub nps_responses: i32,
    pub csat: Option<f64>,
    pub csat_average: Option<f64>,
    pub ces: Option<f64>,
}

impl VoiceKpis {
    /// The family's KPIs from the counters of a period (and group).
    pub fn of(c: &ActivityCounts) -> VoiceKpis {
        let nps_n = c[Counter::NpsResponses];
        VoiceKpis {
            nps: share(c[Counter::NpsPromoters] - c[Counter::NpsDetractors], nps_n).map(|s| 100.0 * s),
            nps_responses: nps_n as i32,
            csat: share(c[Counter::CsatSatisfied], c[Counter::CsatResponses]),
            csat_average: share(c[Counter::CsatScoreSum], c[Counter::CsatResponses]),
            ces: share(c[Counter::CesScoreSum], c[Counter::CesResponses]),
        }
    }
}

/// The family's entries of the metric catalog; their names are the fields of [`VoiceKpis`].
pub const CATALOG: &[Entry] = &[
    (
        "nps",
        "score",
        "Net Promoter Score (-100 to 100)",
        "100 * (promoters - detractors) / responses over NPS responses with respondedAt in P; promoter: 9-10, detractor: 0-6",
        KPI_READERS,
    ),
    (
        "npsResponses",
        "count",
        "NPS responses in the period",
        "number of NPS responses with respondedAt in P",
        KPI_READERS,
    ),
    (
        "csat",
        "ratio",
        "Customer satisfaction: share of satisfied responses",
        "share of CSAT responses (1-5) with respondedAt in P scoring 4 or 5",
        KPI_READERS,
    ),
    (
        "csatAverage",
        "score",
        "Mean CSAT score (1-5)",
        "mean score of CSAT responses with respondedAt in P",
        KPI_READERS,
    ),
    (
        "ces",
        "score",
        "Customer effort score (1-7; higher = easier)",
        "mean score of CES responses with respondedAt in P",
        KPI_READERS,
    ),
];
