//! Engagement depth, advocacy, feature requests and the product-led funnel (KPIS.md, section 8).
//!
//! | KPI | formula |
//! |---|---|
//! | `loginsPerActiveUser` | over usage records of S dated in P that have `logins`: `sum(logins) / sum(activeUsers)` |
//! | `averageSessionMinutes` | over usage records of S dated in P that have `logins` and `sessionMinutes`: `sum(sessionMinutes) / sum(logins)` |
//! | `featureAdoptionRate` | over accounts active at the end of P, each one's latest usage record dated in `(end(P)-30, end(P)]` among those having `featuresUsed` and `featuresAvailable`: `sum(featuresUsed) / sum(featuresAvailable)` |
//! | `advocacyActivities` | advocacy records of S with `occurredOn` in P |
//! | `advocates` | distinct accounts among them |
//! | `featureRequestsOpened` | feature requests of S with `requestedAt` in P |
//! | `featureRequestsShipped` | feature requests of S with `shippedAt` in P (whatever their status) |
//! | `signups` | accounts of S with `signedUpOn` in P |
//! | `visitorConversionRate` | `signups / sum(visitors of the months in P)` (a month without a traffic row adds 0); whole portfolio only |
//! | `activationRate` | among accounts of S with `signedUpOn` in P: share with `activatedOn` set and `activatedOn - signedUpOn <= 30` days (a negative gap counts) |
//! | `trialConversionRate` | among accounts of S with `signedUpOn` in P: share having a subscription with `mrr > 0` whose `startDate - signedUpOn` is between 0 and 90 days, both included |
//! | `viralCoefficient` | `(accounts with signedUpOn in P whose referredByExternalId names an account of S) / startCustomers` |
//!
//! Everything comes from the ledger: records dated in P, signups and referred signups from its
//! activity counters, feature adoption from its month-end figures.
use std::collections::HashMap;

use async_graphql::SimpleObject;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::activity::Activity;
use super::health;
use super::movements::GroupKey;
use super::period::Period;
use crate::base::error::AppResult;
use crate::base::sql::count;
use crate::ledger::activity::{ADVOCATES, for_period};
use crate::metrics::activity::Counter;
use crate::metrics::catalog::{Entry, KPI_READERS};
use crate::metrics::share;

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct GrowthKpis {
    pub logins_per_active_user: Option<f64>,
    pub average_session_minutes: Option<f64>,
    pub feature_adoption_rate: Option<f64>,
    pub advocacy_activities: i32,
    pub advocates: i32,
    pub feature_requests_opened: i32,
    pub feature_requests_shipped: i32,
    pub signups: i32,
    /// Whole portfolio only (null otherwise), like the cost KPIs, but readable by every role that reads kpis.
    pub visitor_conversion_rate: Option<f64>,
    pub activation_rate: Option<f64>,
    pub trial_conversion_rate: Option<f64>,
    pub viral_coefficient: Option<f64>,
}

/// The field over the accounts active at the end of P.
pub const MONTH_END_FIELDS: &[&str] = &["featureAdoptionRate"];

/// Per period and group: the section-8 KPIs, and the referred signups `viralCoefficient` divides
/// by `startCustomers` (which the revenue family knows).
pub async fn growth(
    periods: &[Period],
    month_ends: &health::MonthEnds<'_>,
    activity: &Activity<'_>,
) -> AppResult<HashMap<(usize, GroupKey), (GrowthKpis, i64)>> {
    let mut out: HashMap<(usize, GroupKey), (GrowthKpis, i64)> = HashMap::new();

    // Usage depth, advocacy, feature requests and signups in P (the ledger's activity counters);
    // referred signups count in the referrer's group (the referred account may be outside S).
    for ((i, group), c) in activity.counts().await? {
        let (kpis, referred) = out.entry((*i, group.clone())).or_default();
        kpis.logins_per_active_user = share(c[Counter::Logins], c[Counter::LoginActiveUsers]);
        kpis.average_session_minutes = share(c[Counter::SessionMinutes], c[Counter::SessionLogins]);
        kpis.advocacy_activities = c[Counter::AdvocacyActivities] as i32;
        kpis.advocates = for_period(ADVOCATES, periods[*i].length()).map_or(0, |a| c[a]) as i32;
        kpis.feature_requests_opened = c[Counter::FeatureRequestsOpened] as i32;
        kpis.feature_requests_shipped = c[Counter::FeatureRequestsShipped] as i32;
        kpis.signups = c[Counter::Signups] as i32;
        kpis.activation_rate = share(c[Counter::SignupsActivated], c[Counter::Signups]);
        kpis.trial_conversion_rate = share(c[Counter::SignupsConverted], c[Counter::Signups]);
        *referred = c[Counter::ReferredSignups];
    }

    // Feature adoption over the active accounts' latest records with feature counts (the
    // ledger's month-end figures, when the request selects them).
    for (key, figures) in health::adoption_at_period_ends(month_ends).await? {
        let counts = figures.adoption;
        out.entry(key).or_default().0.feature_adoption_rate = share(counts.features_used, counts.features_available);
    }

    Ok(out)
}

/// Visitors per period (by position): `sum(visitors of the months in P)`.
pub async fn visitors(db: &DatabaseConnection, periods: &[Period]) -> AppResult<HashMap<usize, i64>> {
    let mut sql = crate::base::sql::Sql::new(db.get_database_backend());
    sql.push("WITH ");
    super::period::with_periods(&mut sql, periods);
    sql.push(
        " SELECT pr.p, SUM(t.visitors) AS visitors FROM periods pr \
         JOIN traffic t ON t.month >= pr.start_date AND t.month <= pr.end_date GROUP BY pr.p",
    );
    let mut out = HashMap::new();
    for row in db.query_all_raw(sql.statement()).await? {
        out.insert(row.try_get::<i32>("", "p")? as usize, count(&row, "visitors")?);
    }
    Ok(out)
}

/// The growth KPIs of the metric catalog; their names are the fields of [`GrowthKpis`].
pub const CATALOG: &[Entry] = &[
    (
        "loginsPerActiveUser",
        "ratio",
        "Logins per active user",
        "over usage records dated in P that have logins: sum(logins) / sum(activeUsers)",
        KPI_READERS,
    ),
    (
        "averageSessionMinutes",
        "minutes",
        "Average session length",
        "over usage records dated in P that have logins and sessionMinutes: sum(sessionMinutes) / sum(logins)",
        KPI_READERS,
    ),
    (
        "featureAdoptionRate",
        "ratio",
        "Share of available features in use",
        "over accounts active at the end of P, each one's latest usage record dated in (end(P)-30, end(P)] with feature counts: sum(featuresUsed) / sum(featuresAvailable)",
        KPI_READERS,
    ),
    ("advocacyActivities", "count", "Advocacy activities", "advocacy records with occurredOn in P", KPI_READERS),
    (
        "advocates",
        "count",
        "Accounts advocating",
        "distinct accounts among the advocacy records with occurredOn in P",
        KPI_READERS,
    ),
    ("featureRequestsOpened", "count", "Feature requests made", "feature requests with requestedAt in P", KPI_READERS),
    (
        "featureRequestsShipped",
        "count",
        "Feature requests shipped",
        "feature requests with shippedAt in P, whatever their status",
        KPI_READERS,
    ),
    ("signups", "count", "Self-serve signups", "accounts with signedUpOn in P", KPI_READERS),
    (
        "visitorConversionRate",
        "ratio",
        "Website visitors who signed up (whole portfolio only)",
        "signups / sum(visitors of the months in P); a month without a traffic row adds 0; null unless the scope is the whole portfolio",
        KPI_READERS,
    ),
    (
        "activationRate",
        "ratio",
        "Signups activated within 30 days",
        "among accounts with signedUpOn in P: share with activatedOn set and activatedOn - signedUpOn <= 30 days (a negative gap counts)",
        KPI_READERS,
    ),
    (
        "trialConversionRate",
        "ratio",
        "Signups that became paying within 90 days",
        "among accounts with signedUpOn in P: share having a subscription with mrr > 0 whose startDate - signedUpOn is between 0 and 90 days, both included",
        KPI_READERS,
    ),
    (
        "viralCoefficient",
        "ratio",
        "Referred signups per opening customer",
        "(accounts with signedUpOn in P whose referredByExternalId names an account of the scope) / startCustomers",
        KPI_READERS,
    ),
];
