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
use std::collections::HashMap;

use async_graphql::SimpleObject;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::activity::Activity;
use super::health;
use super::movements::GroupKey;
use super::period::Period;
use super::revenue::share;
use super::scope::KpiScope;
use super::sql::{count, period_group};
use crate::error::AppResult;
use crate::ledger::activity::Counter;

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

pub const FIELDS: &[&str] = &[
    "loginsPerActiveUser",
    "averageSessionMinutes",
    "featureAdoptionRate",
    "advocacyActivities",
    "advocates",
    "featureRequestsOpened",
    "featureRequestsShipped",
    "signups",
    "visitorConversionRate",
    "activationRate",
    "trialConversionRate",
    "viralCoefficient",
];

/// Per period and group: the section-8 KPIs, and the referred signups `viralCoefficient` divides
/// by `startCustomers` (which the revenue family knows).
pub async fn growth(
    db: &DatabaseConnection,
    scope: &KpiScope,
    periods: &[Period],
    month_ends: &health::MonthEnds<'_>,
    activity: &Activity<'_>,
) -> AppResult<HashMap<(usize, GroupKey), (GrowthKpis, i64)>> {
    let backend = db.get_database_backend();
    let mut out: HashMap<(usize, GroupKey), (GrowthKpis, i64)> = HashMap::new();

    // Usage depth over the records dated in P (the ledger's activity counters).
    for (key, c) in activity.counts().await? {
        let kpis = &mut out.entry(key.clone()).or_default().0;
        kpis.logins_per_active_user = share(c[Counter::Logins], c[Counter::LoginActiveUsers]);
        kpis.average_session_minutes = share(c[Counter::SessionMinutes], c[Counter::SessionLogins]);
    }

    // Feature adoption over the active accounts' latest records with feature counts (the
    // ledger's month-end figures).
    for (key, figures) in health::adoption_at_period_ends(month_ends).await? {
        let counts = figures.adoption;
        out.entry(key).or_default().0.feature_adoption_rate = share(counts.features_used, counts.features_available);
    }

    // Advocacy.
    let mut sql = scope.sql_over(backend, periods);
    sql.push(
        " SELECT pr.p, sa.group_key, COUNT(*) AS activities, COUNT(DISTINCT v.account_id) AS advocates FROM periods pr \
         JOIN advocacy v ON v.occurred_on >= pr.start_date AND v.occurred_on <= pr.end_date \
         JOIN scope_accounts sa ON sa.account_id = v.account_id GROUP BY pr.p, sa.group_key",
    );
    for row in db.query_all_raw(sql.statement()).await? {
        let kpis = &mut out.entry(period_group(&row)?).or_default().0;
        kpis.advocacy_activities = count(&row, "activities")? as i32;
        kpis.advocates = count(&row, "advocates")? as i32;
    }

    // Feature requests opened and shipped.
    let mut sql = scope.sql_over(backend, periods);
    sql.push(
        " SELECT pr.p, sa.group_key, \
         SUM(CASE WHEN f.requested_at >= pr.start_at AND f.requested_at < pr.next_at THEN 1 ELSE 0 END) AS opened, \
         SUM(CASE WHEN f.shipped_at >= pr.start_at AND f.shipped_at < pr.next_at THEN 1 ELSE 0 END) AS shipped \
         FROM periods pr JOIN feature_requests f ON (f.requested_at >= pr.start_at AND f.requested_at < pr.next_at) \
         OR (f.shipped_at >= pr.start_at AND f.shipped_at < pr.next_at) \
         JOIN scope_accounts sa ON sa.account_id = f.account_id GROUP BY pr.p, sa.group_key",
    );
    for row in db.query_all_raw(sql.statement()).await? {
        let kpis = &mut out.entry(period_group(&row)?).or_default().0;
        kpis.feature_requests_opened = count(&row, "opened")? as i32;
        kpis.feature_requests_shipped = count(&row, "shipped")? as i32;
    }

    // Signups: activation within 30 days, a paid subscription within 0..=90 days.
    let mut sql = scope.sql_over(backend, periods);
    let (signed, activated, started) =
        (sql.day_number("a.signed_up_on"), sql.day_number("a.activated_on"), sql.day_number("s.start_date"));
    let paying = sql.money("s.mrr");
    sql.push(&format!(
        " SELECT pr.p, sa.group_key, COUNT(*) AS signups, \
         SUM(CASE WHEN a.activated_on IS NOT NULL AND {activated} - {signed} <= 30 THEN 1 ELSE 0 END) AS activated, \
         SUM(CASE WHEN EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = a.id AND {paying} > 0 \
         AND {started} - {signed} BETWEEN 0 AND 90) THEN 1 ELSE 0 END) AS converted \
         FROM periods pr JOIN accounts a ON a.signed_up_on >= pr.start_date AND a.signed_up_on <= pr.end_date \
         JOIN scope_accounts sa ON sa.account_id = a.id GROUP BY pr.p, sa.group_key"
    ));
    for row in db.query_all_raw(sql.statement()).await? {
        let signups = count(&row, "signups")?;
        let kpis = &mut out.entry(period_group(&row)?).or_default().0;
        kpis.signups = signups as i32;
        kpis.activation_rate = share(count(&row, "activated")?, signups);
        kpis.trial_conversion_rate = share(count(&row, "converted")?, signups);
    }

    // Referred signups, in the referrer's group (the referred account itself may be outside S).
    let mut sql = scope.sql_over(backend, periods);
    sql.push(
        " SELECT pr.p, sa.group_key, COUNT(*) AS referred FROM periods pr \
         JOIN accounts r ON r.signed_up_on >= pr.start_date AND r.signed_up_on <= pr.end_date \
         JOIN scope_accounts sa ON sa.account_id = r.referred_by_id GROUP BY pr.p, sa.group_key",
    );
    for row in db.query_all_raw(sql.statement()).await? {
        out.entry(period_group(&row)?).or_default().1 = count(&row, "referred")?;
    }
    Ok(out)
}

/// Visitors per period (by position): `sum(visitors of the months in P)`.
pub async fn visitors(db: &DatabaseConnection, periods: &[Period]) -> AppResult<HashMap<usize, i64>> {
    let mut sql = super::sql::Sql::new(db.get_database_backend());
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
