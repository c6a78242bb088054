//! One account's health and adoption at every month end, as change points (pure functions), for
//! the KPIs of periods that look at the accounts active at the end of P (KPIS.md, sections 5, 6
//! and 8): the six health components on `end(M)` of an account active then (`MRR(a, end(M)) > 0`),
//! with the windows and values of `crate::metrics::health` (as the on-the-fly path computes
//! them), and its [`Adoption`].
//!
//! Every component looks at a window of whole days ending on `d`, so its value at month ends
//! changes only in the months where a record's day, or that day plus the window, falls: the
//! month of a usage record's date and 30 days later; of a survey response and 180 days later;
//! of a ticket's opening and of its resolution; of a touchpoint and 90 days later; of a
//! subscription's start or end, and 90 days later (the revenue trend compares `d` with
//! `d - 90`); of the onboarding's completion; and, for "a touchpoint in P" of periods of 1, 3 or
//! 12 months ending on `d`, that many months after a touchpoint's. Between those months, and
//! after the last of them, an account's month-end state is constant.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use sea_orm::sea_query::Value;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::rows::{rows_per_statement, store_json, stored_json};
use super::series::Term;
use super::{Book, Move, Sum, add_to, changed_parts, stored_accounts};
use crate::base::calendar::{MonthIndex, month_end, month_index};
use crate::metrics::health::score::Components;
use crate::metrics::health::{
    self, COMPONENT_COLUMNS, ENGAGEMENT_WINDOW_DAYS, SURVEY_WINDOW_DAYS, TREND_DAYS, USAGE_WINDOW_DAYS,
};
use entity::{account, advocacy, feature_request, feedback, ticket, touchpoint, usage_record};

/// Everything an account's month-end state (and its activity, `super::activity`) is computed from.
#[derive(Debug, Default)]
pub struct Records {
    pub onboarded_on: Option<NaiveDate>,
    pub signed_up_on: Option<NaiveDate>,
    pub activated_on: Option<NaiveDate>,
    pub started_on: Option<NaiveDate>,
    pub first_value_on: Option<NaiveDate>,
    pub terms: Vec<Term>,
    pub feedback: Vec<feedback::Model>,
    pub tickets: Vec<ticket::Model>,
    pub usage: Vec<usage_record::Model>,
    pub touchpoints: Vec<touchpoint::Model>,
    pub advocacy: Vec<advocacy::Model>,
    pub feature_requests: Vec<feature_request::Model>,
    /// `startedOn` and `signedUpOn` of each account this one referred.
    pub referred: Vec<(Option<NaiveDate>, Option<NaiveDate>)>,
    /// Its subscriptions that end (and so fall due).
    pub dues: Vec<Due>,
}

/// A subscription with an end date, and the MRR of each subscription that renews it.
#[derive(Debug)]
pub struct Due {
    pub mrr: Decimal,
    /// Exclusive: its last active day is the day before.
    pub end: NaiveDate,
    pub renewals: Vec<Decimal>,
}

/// From month `month` on (until the next point), the account's state at month ends, or `None`
/// while it is not active.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthPoint {
    pub month: MonthIndex,
    pub state: Option<MonthEnd>,
}

/// An active account on a month end: its health components and its adoption.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonthEnd {
    pub components: Components,
    pub adoption: Adoption,
}

/// An active account's adoption on a month end `d` (KPIS.md, sections 5 and 8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adoption {
    /// `onboardingCompletedOn <= d`.
    pub onboarded: bool,
    /// `activeUsers` and `licensedSeats` of its latest usage record dated in `(d-30, d]` (0, 0
    /// without one).
    pub seats: [i64; 2],
    /// `featuresUsed` and `featuresAvailable` of its latest record dated in `(d-30, d]` among
    /// those having both (0, 0 without one).
    pub features: [i64; 2],
    /// A touchpoint in each period ending on `d` of [`PERIOD_MONTHS`] months.
    pub engaged: [bool; 3],
}

/// The lengths, in months, of the periods ending on a month end: a month, a quarter, a year.
pub const PERIOD_MONTHS: [i32; 3] = [1, 3, 12];

/// The adoption columns of `health_book_months`, in [`AdoptionCounts::values`] order.
pub const ADOPTION_COLUMNS: [&str; 8] =
    ["onboarded", "seats_used", "seats", "features_used", "features_available", "engaged_1", "engaged_3", "engaged_12"];

/// The sums of [`Adoption`] over accounts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdoptionCounts {
    pub onboarded: i64,
    pub seats_used: i64,
    pub seats: i64,
    pub features_used: i64,
    pub features_available: i64,
    /// Engaged accounts, by [`PERIOD_MONTHS`].
    pub engaged: [i64; 3],
}

impl AdoptionCounts {
    /// The values of [`ADOPTION_COLUMNS`].
    pub fn values(&self) -> [i64; 8] {
        let [month, quarter, year] = self.engaged;
        [self.onboarded, self.seats_used, self.seats, self.features_used, self.features_available, month, quarter, year]
    }

    pub fn from_values(values: [i64; 8]) -> Self {
        let [onboarded, seats_used, seats, features_used, features_available, month, quarter, year] = values;
        AdoptionCounts {
            onboarded,
            seats_used,
            seats,
            features_used,
            features_available,
            engaged: [month, quarter, year],
        }
    }

    fn add(&mut self, other: &AdoptionCounts, sign: i64) {
        let mut values = self.values();
        for (value, other) in values.iter_mut().zip(other.values()) {
            *value += sign * other;
        }
        *self = AdoptionCounts::from_values(values);
    }

    /// The engaged accounts of a period of `months` months ending on the month end.
    pub fn engaged_in(&self, months: i32) -> Option<i64> {
        PERIOD_MONTHS.iter().position(|m| *m == months).map(|i| self.engaged[i])
    }
}

impl Adoption {
    /// What one account adds.
    fn counts(&self) -> AdoptionCounts {
        let [seats_used, seats] = self.seats;
        let [features_used, features_available] = self.features;
        AdoptionCounts {
            onboarded: i64::from(self.onboarded),
            seats_used,
            seats,
            features_used,
            features_available,
            engaged: self.engaged.map(i64::from),
        }
    }
}

fn plus(day: NaiveDate, days: u32) -> NaiveDate {
    day.checked_add_days(Days::new(u64::from(days))).unwrap_or(NaiveDate::MAX)
}

fn minus(day: NaiveDate, days: u32) -> NaiveDate {
    day.checked_sub_days(Days::new(u64::from(days))).unwrap_or(NaiveDate::MIN)
}

/// `MRR(a, d)`.
fn mrr_on(terms: &[Term], day: NaiveDate) -> Decimal {
    terms.iter().filter(|t| t.start <= day && t.end.is_none_or(|end| day < end)).map(|t| t.mrr).sum()
}

/// The state on month end `d` of an account active then; `None` when it is not.
fn month_end_on(records: &Records, d: NaiveDate) -> Option<MonthEnd> {
    let components = health_on(records, d)?;
    let in_window = |day: NaiveDate| minus(d, USAGE_WINDOW_DAYS) < day && day <= d;
    let latest = |with_features: bool| {
        records
            .usage
            .iter()
            .filter(|u| in_window(u.date) && (!with_features || u.features_used.zip(u.features_available).is_some()))
            .max_by_key(|u| u.date)
    };
    let seats = latest(false).map_or([0, 0], |u| [u.active_users, u.licensed_seats].map(i64::from));
    let features = latest(true)
        .and_then(|u| u.features_used.zip(u.features_available))
        .map_or([0, 0], |(used, available)| [used, available].map(i64::from));
    // A touchpoint in the `months` months up to d's (a period of that many months ending on d).
    let month = month_index(d);
    let engaged = PERIOD_MONTHS.map(|months| {
        records
            .touchpoints
            .iter()
            .map(|p| p.occurred_at.date_naive())
            .any(|day| day <= d && month_index(day) > month - months)
    });
    let onboarded = records.onboarded_on.is_some_and(|day| day <= d);
    Some(MonthEnd { components, adoption: Adoption { onboarded, seats, features, engaged } })
}

/// The components on day `d` of an account active then; `None` when it is not.
fn health_on(records: &Records, d: NaiveDate) -> Option<Components> {
    let now = mrr_on(&records.terms, d);
    if now.is_zero() {
        return None;
    }
    let in_window = |day: NaiveDate, days: u32| minus(d, days) < day && day <= d;
    // USAGE: the latest record in its window.
    let usage = records
        .usage
        .iter()
        .filter(|u| in_window(u.date, USAGE_WINDOW_DAYS))
        .max_by_key(|u| u.date)
        .map(|u| health::usage(i64::from(u.active_users), i64::from(u.licensed_seats)));
    let responses = |kind: &'static str| {
        records
            .feedback
            .iter()
            .filter(move |f| f.kind == kind && in_window(f.responded_at.date_naive(), SURVEY_WINDOW_DAYS))
    };
    // NPS: the latest response in its window; ties: the greatest externalId.
    let nps = responses("NPS")
        .max_by(|a, b| (a.responded_at, &a.external_id).cmp(&(b.responded_at, &b.external_id)))
        .map(|f| health::nps(i64::from(f.score)));
    // CSAT: the responses in its window.
    let (total, count) = responses("CSAT").fold((0_i64, 0_i64), |(t, n), f| (t + i64::from(f.score), n + 1));
    let csat = (count > 0).then(|| health::csat(total, count));
    // SUPPORT: tickets opened by d and not resolved by d.
    let open = records
        .tickets
        .iter()
        .filter(|k| k.opened_at.date_naive() <= d && k.resolved_at.is_none_or(|r| r.date_naive() > d))
        .count();
    let support = health::support(open as i64);
    // ENGAGEMENT: touchpoints in its window.
    let touchpoints =
        records.touchpoints.iter().filter(|p| in_window(p.occurred_at.date_naive(), ENGAGEMENT_WINDOW_DAYS)).count();
    let engagement = health::engagement(touchpoints as i64);
    let trend = health::revenue_trend(now, mrr_on(&records.terms, minus(d, TREND_DAYS)));
    Some([usage, nps, csat, Some(support), Some(engagement), trend])
}

/// The months where the account's health at month ends may change (see the module's doc).
fn turning_months(records: &Records) -> BTreeSet<MonthIndex> {
    let mut days: Vec<NaiveDate> = Vec::new();
    for t in &records.terms {
        days.extend([t.start, plus(t.start, TREND_DAYS)]);
        if let Some(end) = t.end {
            days.extend([end, plus(end, TREND_DAYS)]);
        }
    }
    for u in &records.usage {
        days.extend([u.date, plus(u.date, USAGE_WINDOW_DAYS)]);
    }
    for f in &records.feedback {
        let day = f.responded_at.date_naive();
        days.extend([day, plus(day, SURVEY_WINDOW_DAYS)]);
    }
    for k in &records.tickets {
        days.push(k.opened_at.date_naive());
        days.extend(k.resolved_at.map(|r| r.date_naive()));
    }
    for p in &records.touchpoints {
        let day = p.occurred_at.date_naive();
        days.extend([day, plus(day, ENGAGEMENT_WINDOW_DAYS)]);
    }
    days.extend(records.onboarded_on);
    let mut months: BTreeSet<MonthIndex> = days.into_iter().map(month_index).collect();
    for p in &records.touchpoints {
        let month = month_index(p.occurred_at.date_naive());
        months.extend(PERIOD_MONTHS.map(|length| month + length));
    }
    months
}

/// The account's health points, oldest first (none while it never was active).
pub fn points(records: &Records) -> Vec<HealthPoint> {
    let mut out: Vec<HealthPoint> = Vec::new();
    let mut previous = None;
    for month in turning_months(records) {
        let state = month_end_on(records, month_end(month));
        if state != previous {
            out.push(HealthPoint { month, state });
            previous = state;
        }
    }
    out
}

/// The presence pattern of a state's components: bit i set when component i is present.
pub fn pattern(components: &Components) -> i32 {
    components.iter().enumerate().filter(|(_, c)| c.is_some()).map(|(i, _)| 1 << i).sum()
}

/// What an account adds to its book's month-end figures of a month, for one presence pattern:
/// accounts, the sums of their component values (absent ones count 0) and of their adoption
/// counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthDelta {
    pub accounts: i64,
    /// The sums of the component values, in [`HEALTH_UNIT`]s.
    pub sums: [i64; 6],
    pub adoption: AdoptionCounts,
}

/// Units of a health point in the ledger's component sums: fixed point, so that sums are exact
/// integers, the same in whatever order they are added (a value moves by at most 5e-10 when
/// rounded to a unit; 100,000 accounts of 100 points sum to 10^16, far within 64 bits).
pub const HEALTH_UNIT: f64 = 1e9;

/// A component value in [`HEALTH_UNIT`]s.
fn units(value: f64) -> i64 {
    (value * HEALTH_UNIT).round() as i64
}

impl HealthDelta {
    pub fn add(&mut self, state: &MonthEnd, sign: i64) {
        self.accounts += sign;
        for (sum, value) in self.sums.iter_mut().zip(&state.components) {
            *sum += sign * value.map_or(0, units);
        }
        self.adoption.add(&state.adoption.counts(), sign);
    }
}

/// An account's contributions to its book: `(month, pattern, delta)`; its figures of a month
/// are the running sums of the deltas up to that month.
pub fn contributions(points: &[HealthPoint]) -> Vec<(MonthIndex, i32, HealthDelta)> {
    let mut out = Vec::new();
    let mut previous: Option<&MonthEnd> = None;
    for point in points {
        if let Some(old) = previous {
            let mut delta = HealthDelta::default();
            delta.add(old, -1);
            out.push((point.month, pattern(&old.components), delta));
        }
        if let Some(new) = &point.state {
            let mut delta = HealthDelta::default();
            delta.add(new, 1);
            out.push((point.month, pattern(&new.components), delta));
        }
        previous = point.state.as_ref();
    }
    out
}

impl HealthDelta {
    /// Adds `other` (`sign` 1) or takes it away (-1).
    pub fn merge(&mut self, other: &HealthDelta, sign: i64) {
        self.accounts += sign * other.accounts;
        for (sum, value) in self.sums.iter_mut().zip(other.sums) {
            *sum += sign * value;
        }
        self.adoption.add(&other.adoption, sign);
    }

    fn is_zero(&self) -> bool {
        *self == HealthDelta::default()
    }
}

/// The summed columns of `health_book_months`: accounts, components, adoption counts.
fn health_sums() -> Vec<Sum> {
    let components = COMPONENT_COLUMNS.map(Sum::Count);
    let adoption = ADOPTION_COLUMNS.map(Sum::Count);
    [Sum::Count("accounts")].into_iter().chain(components).chain(adoption).collect()
}

/// Follows `moves` (whose health inputs changed when in `recompute`; `fresh`: the records of
/// those) in the health tables.
pub async fn apply(
    txn: &impl ConnectionTrait,
    moves: &[Move],
    recompute: &BTreeSet<i64>,
    fresh: &BTreeMap<i64, Records>,
) -> Result<(), DbErr> {
    let stored = stored_json(txn, "health_points", "points", &stored_accounts(moves)).await?;
    let mut deltas: BTreeMap<(Book, MonthIndex, i32), HealthDelta> = BTreeMap::new();
    let mut rewritten: Vec<(i64, Vec<HealthPoint>)> = Vec::new();
    for (Move { account, from, to, .. }, old, new) in changed_parts(moves, recompute, stored, fresh, points) {
        // The account's own deltas first: where its history did not change they cancel exactly.
        let mut own: BTreeMap<(&Book, MonthIndex, i32), HealthDelta> = BTreeMap::new();
        for (sign, book, points) in [(-1, from, &old), (1, to, &new)] {
            for (month, pattern, delta) in contributions(points) {
                own.entry((book, month, pattern)).or_default().merge(&delta, sign);
            }
        }
        for ((book, month, pattern), delta) in own.into_iter().filter(|(_, d)| !d.is_zero()) {
            deltas.entry((book.clone(), month, pattern)).or_default().merge(&delta, 1);
        }
        if old != new {
            rewritten.push((*account, new));
        }
    }
    store_json(txn, "health_points", "points", &rewritten).await?;

    let deltas: Vec<_> = deltas.into_iter().filter(|(_, d)| !d.is_zero()).collect();
    let sums = health_sums();
    for chunk in deltas.chunks(rows_per_statement(4 + sums.len())) {
        let rows = chunk
            .iter()
            .map(|((book, month, pattern), d)| {
                let mut cells = book.key_values();
                cells.extend([Value::from(*month), Value::from(*pattern), Value::from(d.accounts)]);
                cells.extend(d.sums.map(Value::from));
                cells.extend(d.adoption.values().map(Value::from));
                cells
            })
            .collect();
        add_to(txn, "health_book_months", &["month", "pattern"], &sums, rows).await?;
    }
    Ok(())
}

/// The records of `accounts`, whose subscriptions are `terms`.
pub async fn records(
    txn: &impl ConnectionTrait,
    accounts: &[i64],
    mut terms: BTreeMap<i64, Vec<Term>>,
) -> Result<BTreeMap<i64, Records>, DbErr> {
    let mut out: BTreeMap<i64, Records> = accounts
        .iter()
        .map(|account| (*account, Records { terms: terms.remove(account).unwrap_or_default(), ..Records::default() }))
        .collect();
    let ids = accounts.to_vec();
    if ids.is_empty() {
        return Ok(out);
    }
    for a in account::Entity::find().filter(account::Column::Id.is_in(ids.clone())).all(txn).await? {
        let records = out.entry(a.id).or_default();
        records.onboarded_on = a.onboarding_completed_on;
        records.signed_up_on = a.signed_up_on;
        records.activated_on = a.activated_on;
        records.started_on = a.started_on;
        records.first_value_on = a.first_value_on;
    }
    for f in feedback::Entity::find().filter(feedback::Column::AccountId.is_in(ids.clone())).all(txn).await? {
        out.entry(f.account_id).or_default().feedback.push(f);
    }
    for k in ticket::Entity::find().filter(ticket::Column::AccountId.is_in(ids.clone())).all(txn).await? {
        out.entry(k.account_id).or_default().tickets.push(k);
    }
    for u in usage_record::Entity::find().filter(usage_record::Column::AccountId.is_in(ids.clone())).all(txn).await? {
        out.entry(u.account_id).or_default().usage.push(u);
    }
    for p in touchpoint::Entity::find().filter(touchpoint::Column::AccountId.is_in(ids.clone())).all(txn).await? {
        out.entry(p.account_id).or_default().touchpoints.push(p);
    }
    for a in advocacy::Entity::find().filter(advocacy::Column::AccountId.is_in(ids.clone())).all(txn).await? {
        out.entry(a.account_id).or_default().advocacy.push(a);
    }
    for r in
        feature_request::Entity::find().filter(feature_request::Column::AccountId.is_in(ids.clone())).all(txn).await?
    {
        out.entry(r.account_id).or_default().feature_requests.push(r);
    }
    for a in account::Entity::find().filter(account::Column::ReferredById.is_in(ids.clone())).all(txn).await? {
        if let Some(referrer) = a.referred_by_id {
            out.entry(referrer).or_default().referred.push((a.started_on, a.signed_up_on));
        }
    }
    let dues = "SELECT s.id, s.account_id, s.mrr, s.end_date, r.mrr AS renewal_mrr FROM subscriptions s \
                LEFT JOIN subscriptions r ON r.renews_id = s.id WHERE s.end_date IS NOT NULL AND s.account_id IN (";
    let mut previous = None;
    for row in super::rows_of(txn, dues, &ids, " ORDER BY s.id").await? {
        let (id, account): (i64, i64) = (row.try_get("", "id")?, row.try_get("", "account_id")?);
        let records = out.entry(account).or_default();
        if previous != Some(id) {
            let (mrr, end) = (row.try_get::<entity::Money>("", "mrr")?.0, row.try_get("", "end_date")?);
            records.dues.push(Due { mrr, end, renewals: Vec::new() });
            previous = Some(id);
        }
        if let (Some(renewal), Some(due)) =
            (row.try_get::<Option<entity::Money>>("", "renewal_mrr")?, records.dues.last_mut())
        {
            due.renewals.push(renewal.0);
        }
    }
    Ok(out)
}
