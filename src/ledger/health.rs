//! One account's health at every month end, as change points (pure functions), for the health
//! KPIs of periods (KPIS.md, sections 6 and 8): the six components on `end(M)` of an account
//! active then (`MRR(a, end(M)) > 0`), exactly as `crate::health::score` computes them on the fly.
//!
//! Every component looks at a window of whole days ending on `d`, so its value at month ends
//! changes only in the months where a record's day, or that day plus the window, falls: the
//! month of a usage record's date and 30 days later; of a survey response and 180 days later;
//! of a ticket's opening and of its resolution; of a touchpoint and 90 days later; of a
//! subscription's start or end, and 90 days later (the revenue trend compares `d` with
//! `d - 90`). Between those months, and after the last of them, an account's health is constant.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use sea_orm::sea_query::Value;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::series::Term;
use super::{Book, Move, Sum, add_to, rows_of, rows_per_statement};
use crate::health::score::Components;
use crate::kpis::period::{MonthIndex, month_end, month_index};
use crate::kpis::sql::Sql;
use entity::{feedback, ticket, touchpoint, usage_record};

/// Everything an account's health is computed from.
#[derive(Debug, Default)]
pub struct Records {
    pub terms: Vec<Term>,
    pub feedback: Vec<feedback::Model>,
    pub tickets: Vec<ticket::Model>,
    pub usage: Vec<usage_record::Model>,
    pub touchpoints: Vec<touchpoint::Model>,
}

/// From month `month` on (until the next point), the account's components at month ends, or
/// `None` while it is not active.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthPoint {
    pub month: MonthIndex,
    pub state: Option<Components>,
}

fn plus(day: NaiveDate, days: u64) -> NaiveDate {
    day.checked_add_days(Days::new(days)).unwrap_or(NaiveDate::MAX)
}

fn minus(day: NaiveDate, days: u64) -> NaiveDate {
    day.checked_sub_days(Days::new(days)).unwrap_or(NaiveDate::MIN)
}

/// `MRR(a, d)`.
fn mrr_on(terms: &[Term], day: NaiveDate) -> Decimal {
    terms.iter().filter(|t| t.start <= day && t.end.is_none_or(|end| day < end)).map(|t| t.mrr).sum()
}

/// The components on day `d` of an account active then; `None` when it is not.
fn health_on(records: &Records, d: NaiveDate) -> Option<Components> {
    let now = mrr_on(&records.terms, d);
    if now.is_zero() {
        return None;
    }
    let in_window = |day: NaiveDate, days: u64| minus(d, days) < day && day <= d;
    // USAGE: the latest record dated in (d-30, d].
    let usage = records.usage.iter().filter(|u| in_window(u.date, 30)).max_by_key(|u| u.date).map(|u| {
        let (used, seats) = (f64::from(u.active_users), f64::from(u.licensed_seats));
        100.0 * (used / seats).min(1.0)
    });
    let responses = |kind: &'static str| {
        records.feedback.iter().filter(move |f| f.kind == kind && in_window(f.responded_at.date_naive(), 180))
    };
    // NPS: the latest response in (d-180, d]; ties: the greatest externalId.
    let nps = responses("NPS")
        .max_by(|a, b| (a.responded_at, &a.external_id).cmp(&(b.responded_at, &b.external_id)))
        .map(|f| 10.0 * f64::from(f.score));
    // CSAT: the mean of the responses in (d-180, d].
    let (total, count) = responses("CSAT").fold((0_i64, 0_i64), |(t, n), f| (t + i64::from(f.score), n + 1));
    let csat = (count > 0).then(|| 25.0 * (total as f64 / count as f64 - 1.0));
    // SUPPORT: tickets opened by d and not resolved by d.
    let open = records
        .tickets
        .iter()
        .filter(|k| k.opened_at.date_naive() <= d && k.resolved_at.is_none_or(|r| r.date_naive() > d))
        .count();
    let support = (100.0 - 25.0 * open as f64).max(0.0);
    // ENGAGEMENT: touchpoints in (d-90, d].
    let touchpoints = records.touchpoints.iter().filter(|p| in_window(p.occurred_at.date_naive(), 90)).count();
    let engagement = 100.0 * (touchpoints.min(3) as f64) / 3.0;
    // REVENUE_TREND: MRR on d against MRR on d-90, when that was > 0.
    let then = mrr_on(&records.terms, minus(d, 90));
    let trend = (then > Decimal::ZERO).then(|| {
        if now > then {
            100.0
        } else if now == then {
            70.0
        } else {
            30.0
        }
    });
    Some([usage, nps, csat, Some(support), Some(engagement), trend])
}

/// The months where the account's health at month ends may change (see the module's doc).
fn turning_months(records: &Records) -> BTreeSet<MonthIndex> {
    let mut days: Vec<NaiveDate> = Vec::new();
    for t in &records.terms {
        days.extend([t.start, plus(t.start, 90)]);
        if let Some(end) = t.end {
            days.extend([end, plus(end, 90)]);
        }
    }
    for u in &records.usage {
        days.extend([u.date, plus(u.date, 30)]);
    }
    for f in &records.feedback {
        let day = f.responded_at.date_naive();
        days.extend([day, plus(day, 180)]);
    }
    for k in &records.tickets {
        days.push(k.opened_at.date_naive());
        days.extend(k.resolved_at.map(|r| r.date_naive()));
    }
    for p in &records.touchpoints {
        let day = p.occurred_at.date_naive();
        days.extend([day, plus(day, 90)]);
    }
    days.into_iter().map(month_index).collect()
}

/// The account's health points, oldest first (none while it never was active).
pub fn points(records: &Records) -> Vec<HealthPoint> {
    let mut out: Vec<HealthPoint> = Vec::new();
    let mut previous = None;
    for month in turning_months(records) {
        let state = health_on(records, month_end(month));
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

/// What an account adds to its book's health figures of a month, for one presence pattern:
/// accounts, and the sums of their component values (absent ones count 0).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthDelta {
    pub accounts: i64,
    pub sums: [f64; 6],
}

impl HealthDelta {
    pub fn add(&mut self, components: &Components, sign: i64) {
        self.accounts += sign;
        for (sum, value) in self.sums.iter_mut().zip(components) {
            *sum += sign as f64 * value.unwrap_or(0.0);
        }
    }
}

/// An account's contributions to its book: `(month, pattern, delta)`; its figures of a month
/// are the running sums of the deltas up to that month.
pub fn contributions(points: &[HealthPoint]) -> Vec<(MonthIndex, i32, HealthDelta)> {
    let mut out = Vec::new();
    let mut previous: Option<&Components> = None;
    for point in points {
        if let Some(old) = previous {
            let mut delta = HealthDelta::default();
            delta.add(old, -1);
            out.push((point.month, pattern(old), delta));
        }
        if let Some(new) = &point.state {
            let mut delta = HealthDelta::default();
            delta.add(new, 1);
            out.push((point.month, pattern(new), delta));
        }
        previous = point.state.as_ref();
    }
    out
}

impl HealthDelta {
    fn merge(&mut self, other: &HealthDelta, sign: i64) {
        self.accounts += sign * other.accounts;
        for (sum, value) in self.sums.iter_mut().zip(other.sums) {
            *sum += sign as f64 * value;
        }
    }

    fn is_zero(&self) -> bool {
        *self == HealthDelta::default()
    }
}

/// The component columns of `health_book_months`, in `Components` order.
pub const COMPONENT_COLUMNS: [&str; 6] = ["usage", "nps", "csat", "support", "engagement", "trend"];

const HEALTH_SUMS: &[Sum] = &[
    Sum::Count("accounts"),
    Sum::Number("usage"),
    Sum::Number("nps"),
    Sum::Number("csat"),
    Sum::Number("support"),
    Sum::Number("engagement"),
    Sum::Number("trend"),
];

/// Follows `moves` (whose health inputs changed when in `recompute`; `terms`: the subscriptions
/// of those) in the health tables.
pub async fn apply(
    txn: &impl ConnectionTrait,
    moves: &[Move],
    recompute: &BTreeSet<i64>,
    terms: BTreeMap<i64, Vec<Term>>,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let accounts: Vec<i64> = moves.iter().map(|m| m.account).collect();
    let mut stored = stored_points(txn, &accounts).await?;
    let mut fresh = records(txn, terms).await?;
    let mut deltas: BTreeMap<(Book, MonthIndex, i32), HealthDelta> = BTreeMap::new();
    let mut rewritten: Vec<(i64, String)> = Vec::new();
    for Move { account, from, to } in moves {
        let old = stored.remove(account).unwrap_or_default();
        let new = match recompute.contains(account) {
            true => points(&fresh.remove(account).unwrap_or_default()),
            false => old.clone(),
        };
        if old == new && from == to {
            continue;
        }
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
            let json = serde_json::to_string(&new).map_err(|e| DbErr::Custom(format!("health points: {e}")))?;
            rewritten.push((*account, json));
        }
    }

    for chunk in rewritten.chunks(rows_per_statement(2)) {
        let mut upsert = Sql::new(backend);
        upsert.push("INSERT INTO health_points (account_id, points) VALUES ");
        upsert.values_rows(chunk, |(account, points)| vec![Value::from(*account), Value::from(points.clone())]);
        upsert.push(" ON CONFLICT (account_id) DO UPDATE SET points = excluded.points");
        txn.execute_raw(upsert.statement()).await?;
    }

    let deltas: Vec<_> = deltas.into_iter().filter(|(_, d)| !d.is_zero()).collect();
    for chunk in deltas.chunks(rows_per_statement(4 + COMPONENT_COLUMNS.len() + 1)) {
        let rows = chunk
            .iter()
            .map(|((book, month, pattern), d)| {
                let mut cells = book.key_values();
                cells.extend([Value::from(*month), Value::from(*pattern), Value::from(d.accounts)]);
                cells.extend(d.sums.map(Value::from));
                cells
            })
            .collect();
        add_to(txn, "health_book_months", &["month", "pattern"], HEALTH_SUMS, rows).await?;
    }
    Ok(())
}

/// The health points the ledger holds for each account.
async fn stored_points(txn: &impl ConnectionTrait, accounts: &[i64]) -> Result<BTreeMap<i64, Vec<HealthPoint>>, DbErr> {
    let rows = rows_of(txn, "SELECT account_id, points FROM health_points WHERE account_id IN (", accounts, "").await?;
    let mut out = BTreeMap::new();
    for row in &rows {
        let points: String = row.try_get("", "points")?;
        let points = serde_json::from_str(&points).map_err(|e| DbErr::Custom(format!("health points: {e}")))?;
        out.insert(row.try_get("", "account_id")?, points);
    }
    Ok(out)
}

/// The health inputs of each account with subscriptions `terms` (no other can be active).
async fn records(txn: &impl ConnectionTrait, terms: BTreeMap<i64, Vec<Term>>) -> Result<BTreeMap<i64, Records>, DbErr> {
    let mut out: BTreeMap<i64, Records> =
        terms.into_iter().map(|(account, terms)| (account, Records { terms, ..Records::default() })).collect();
    let ids: Vec<i64> = out.keys().copied().collect();
    if ids.is_empty() {
        return Ok(out);
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
    for p in touchpoint::Entity::find().filter(touchpoint::Column::AccountId.is_in(ids)).all(txn).await? {
        out.entry(p.account_id).or_default().touchpoints.push(p);
    }
    Ok(out)
}
