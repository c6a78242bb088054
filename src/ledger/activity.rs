//! One account's activity by month (a pure function of its records, [`months`]) and its sums per
//! book and month, which [`apply`] keeps in the batch's transaction: the counts and sums behind
//! the KPIs of periods that count records dated in P (KPIS.md, sections 3, 4, 5, 7 and 8). Every period is a
//! run of whole calendar months, so a period's figures are the sums of its months', and a book's
//! month is the sum of its accounts'.
//!
//! | counter | records of the month |
//! |---|---|
//! | `tickets_opened` | tickets with `openedAt` in it |
//! | `tickets_resolved`, `first_contact_resolutions` | tickets with `resolvedAt` in it; of those, with `contactsToResolve = 1` |
//! | `nps_responses`, `nps_promoters`, `nps_detractors` | NPS responses; scoring 9-10; scoring 0-6 |
//! | `csat_responses`, `csat_satisfied`, `csat_score_sum` | CSAT responses; scoring 4-5; their scores |
//! | `ces_responses`, `ces_score_sum` | CES responses; their scores |
//! | `logins`, `login_active_users` | `sum(logins)`, `sum(activeUsers)` of usage records having `logins` |
//! | `session_minutes`, `session_logins` | `sum(sessionMinutes)`, `sum(logins)` of records having both |
//! | `touchpoints` | touchpoints |
//! | `advocacy_activities` | advocacy records with `occurredOn` in it |
//! | `feature_requests_opened`, `feature_requests_shipped` | feature requests with `requestedAt` in it; with `shippedAt` in it |
//! | `signups`, `signups_activated`, `signups_converted` | the account itself when its `signedUpOn` is in it; when also `activatedOn - signedUpOn <= 30` days; when also a subscription with `mrr > 0` starts 0 to 90 days after `signedUpOn` |
//! | `referrals`, `referred_signups` | the accounts this one referred (`referredByExternalId`) with `startedOn` in it; with `signedUpOn` in it |
//! | `executive_accounts_1`, `_3`, `_12` | the account itself, when the month, quarter or year that starts with this month holds a touchpoint `withExecutive` |
//! | `advocates_1`, `_3`, `_12` | the same for advocacy records |
//! | `renewals_due`, `renewals_renewed` | its subscriptions due: whose last active day `endDate - 1 day` is in it; of those, renewed (named in another's `renewsExternalId`) |
//! | `renewals_due_mrr_whole` + `renewals_due_mrr` / 10000 | the `mrr` of those due: its whole units, and the rest in 1/10000 units |
//! | `renewals_renewal_mrr_whole` + `renewals_renewal_mrr` / 10000 | the same of every subscription renewing one of them |
//!
//! The renewal MRR is split in two so that any amount the API accepts (15 integer digits) sums
//! exactly in 64-bit columns: in 1/10000 units alone, one amount above 9.2e14 would not fit. The
//! counters of `executive_accounts_*` and `advocates_*` count accounts, not records: a period's distinct accounts are not the sum of its
//! months'. Every period is a calendar month, quarter or year, so the ledger counts an account
//! once per month, quarter and year holding such a record, at the period's first month (the
//! others hold 0): the sum over the months of a period of its length's counter is exact.
//!
//! Medians (of support, section 4, and `medianTimeToFirstValueDays`, section 5) cannot be
//! summed, so the ledger keeps the values they take instead: per book, month and [`Wait`], every
//! value, sorted (`wait_book_months`, in the compact form of `super::wait_list`); a period's
//! median is taken over the lists of its months.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr};
use serde::{Deserialize, Serialize};

use super::health::{PERIOD_MONTHS, Records};
use super::rows::{push_rows, rows_per_statement, store_json, stored_json, upsert};
use super::wait_list::{decode_waits_into, encode_waits};
use super::{Book, Move, Sum, add_to, changed_parts, stored_accounts};
use crate::base::calendar::{MonthIndex, month_index};
use crate::base::sql::Sql;
use crate::metrics::activity::{ACTIVITY_COLUMNS, ActivityCounts, Counter};
use crate::metrics::{renewals, voice};

/// The accounts with a touchpoint `withExecutive` in a period of [`PERIOD_MONTHS`] months.
pub const EXECUTIVE_ACCOUNTS: [Counter; 3] =
    [Counter::ExecutiveAccounts1, Counter::ExecutiveAccounts3, Counter::ExecutiveAccounts12];

/// The accounts with an advocacy record in a period of [`PERIOD_MONTHS`] months.
pub const ADVOCATES: [Counter; 3] = [Counter::Advocates1, Counter::Advocates3, Counter::Advocates12];

/// The counter of `counters` ([`EXECUTIVE_ACCOUNTS`], [`ADVOCATES`]) for a period of `months` months.
pub fn for_period(counters: [Counter; 3], months: i32) -> Option<Counter> {
    PERIOD_MONTHS.iter().position(|m| *m == months).map(|i| counters[i])
}

/// A wait that a median takes, its unit, and the month it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Wait {
    /// A ticket's `firstResponseAt - openedAt` in microseconds, in the month of `openedAt`
    /// (`medianFirstResponseHours`).
    FirstResponse,
    /// A ticket's `resolvedAt - openedAt` in microseconds, in the month of `resolvedAt`
    /// (`medianResolutionHours`).
    Resolution,
    /// The account's `firstValueOn - startedOn` in days, in the month of `firstValueOn`
    /// (`medianTimeToFirstValueDays`).
    FirstValue,
}

impl Wait {
    pub const ALL: [Wait; 3] = [Wait::FirstResponse, Wait::Resolution, Wait::FirstValue];
}

/// An account's activity in one month: its counters, and its waits by [`Wait`], sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityMonth {
    pub counts: ActivityCounts,
    pub waits: [Vec<i64>; 3],
}

/// An account's activity by month (months without any record left out).
pub type ActivityMonths = BTreeMap<MonthIndex, ActivityMonth>;

/// `later - earlier` in microseconds (saturating: beyond 292,000 years).
fn micros(later: DateTime<Utc>, earlier: DateTime<Utc>) -> i64 {
    (later - earlier).num_microseconds().unwrap_or(if later > earlier { i64::MAX } else { i64::MIN })
}

/// The month of `out` that instant `at` is in.
fn month(out: &mut ActivityMonths, at: DateTime<Utc>) -> &mut ActivityMonth {
    out.entry(month_index(at.date_naive())).or_default()
}

/// Counts the account once in each month, quarter and year that holds one of `days`, at the
/// period's first month, in `counters` (by [`PERIOD_MONTHS`]).
fn count_distinct(out: &mut ActivityMonths, days: impl Iterator<Item = NaiveDate>, counters: [Counter; 3]) {
    let months: BTreeSet<MonthIndex> = days.map(month_index).collect();
    for (length, counter) in PERIOD_MONTHS.into_iter().zip(counters) {
        let starts: BTreeSet<MonthIndex> = months.iter().map(|m| m - m.rem_euclid(length)).collect();
        for start in starts {
            out.entry(start).or_default().counts.bump(counter, 1);
        }
    }
}

/// The account's signup counters, in its signup month.
fn count_signup(out: &mut ActivityMonths, records: &Records) {
    let Some(signed) = records.signed_up_on else { return };
    let days_after = |day: NaiveDate| (day - signed).num_days();
    let activated = records.activated_on.is_some_and(|day| days_after(day) <= 30);
    let converted = records.terms.iter().any(|t| t.mrr > Decimal::ZERO && (0..=90).contains(&days_after(t.start)));
    let counts = &mut out.entry(month_index(signed)).or_default().counts;
    counts.bump(Counter::Signups, 1);
    counts.bump(Counter::SignupsActivated, i64::from(activated));
    counts.bump(Counter::SignupsConverted, i64::from(converted));
}

/// The account's renewal counters, in the month of each due subscription's last active day.
fn count_renewals(out: &mut ActivityMonths, records: &Records) {
    for due in &records.dues {
        let Some(last_day) = renewals::last_active_day(due.end) else { continue };
        renewals::count_due(&mut out.entry(month_index(last_day)).or_default().counts, due.mrr, &due.renewals);
    }
}

/// The account's activity by month, from its records.
pub fn months(records: &Records) -> ActivityMonths {
    let mut out = ActivityMonths::new();
    for t in &records.tickets {
        let opened = month(&mut out, t.opened_at);
        opened.counts.bump(Counter::TicketsOpened, 1);
        if let Some(responded) = t.first_response_at {
            opened.waits[Wait::FirstResponse as usize].push(micros(responded, t.opened_at));
        }
        if let Some(resolved) = t.resolved_at {
            let month = month(&mut out, resolved);
            month.counts.bump(Counter::TicketsResolved, 1);
            month.counts.bump(Counter::FirstContactResolutions, i64::from(t.contacts_to_resolve == Some(1)));
            month.waits[Wait::Resolution as usize].push(micros(resolved, t.opened_at));
        }
    }
    for f in &records.feedback {
        voice::count_response(&mut month(&mut out, f.responded_at).counts, &f.kind, i64::from(f.score));
    }
    let mut count = |at: DateTime<Utc>, counter: Counter, by: i64| month(&mut out, at).counts.bump(counter, by);
    for p in &records.touchpoints {
        count(p.occurred_at, Counter::Touchpoints, 1);
    }
    for a in &records.advocacy {
        out.entry(month_index(a.occurred_on)).or_default().counts.bump(Counter::AdvocacyActivities, 1);
    }
    for r in &records.feature_requests {
        month(&mut out, r.requested_at).counts.bump(Counter::FeatureRequestsOpened, 1);
        if let Some(shipped) = r.shipped_at {
            month(&mut out, shipped).counts.bump(Counter::FeatureRequestsShipped, 1);
        }
    }
    let executive = records.touchpoints.iter().filter(|p| p.with_executive).map(|p| p.occurred_at.date_naive());
    count_distinct(&mut out, executive, EXECUTIVE_ACCOUNTS);
    count_distinct(&mut out, records.advocacy.iter().map(|a| a.occurred_on), ADVOCATES);
    count_signup(&mut out, records);
    count_renewals(&mut out, records);
    if let (Some(value), Some(started)) = (records.first_value_on, records.started_on) {
        let waits = &mut out.entry(month_index(value)).or_default().waits;
        waits[Wait::FirstValue as usize].push((value - started).num_days());
    }
    for (started, signed_up) in &records.referred {
        for (day, counter) in [(started, Counter::Referrals), (signed_up, Counter::ReferredSignups)] {
            if let Some(day) = day {
                out.entry(month_index(*day)).or_default().counts.bump(counter, 1);
            }
        }
    }
    for u in &records.usage {
        let Some(logins) = u.logins.map(i64::from) else { continue };
        let counts = &mut out.entry(month_index(u.date)).or_default().counts;
        counts.bump(Counter::Logins, logins);
        counts.bump(Counter::LoginActiveUsers, i64::from(u.active_users));
        if let Some(minutes) = u.session_minutes {
            counts.bump(Counter::SessionMinutes, i64::from(minutes));
            counts.bump(Counter::SessionLogins, logins);
        }
    }
    out.retain(|_, month| !month.counts.is_zero() || month.waits.iter().any(|t| !t.is_empty()));
    for month in out.values_mut() {
        month.waits.iter_mut().for_each(|times| times.sort_unstable());
    }
    out
}

/// Follows `moves` (whose records changed when in `recompute`; `fresh`: the records of those)
/// in `account_activity` and `activity_book_months`.
pub async fn apply(
    txn: &impl ConnectionTrait,
    moves: &[Move],
    recompute: &BTreeSet<i64>,
    fresh: &BTreeMap<i64, Records>,
) -> Result<(), DbErr> {
    let stored = stored_json(txn, "account_activity", "months", &stored_accounts(moves)).await?;
    let mut deltas: BTreeMap<(Book, MonthIndex), ActivityCounts> = BTreeMap::new();
    let mut times: BTreeMap<(Book, MonthIndex, Wait), WaitsChange> = BTreeMap::new();
    let mut recomputed: Vec<(i64, ActivityMonths)> = Vec::new();
    for (Move { account, from, to, .. }, old, new) in changed_parts(moves, recompute, stored, fresh, months) {
        for (sign, book, months) in [(-1, from, &old), (1, to, &new)] {
            for (month, activity) in months {
                deltas.entry((book.clone(), *month)).or_default().merge(&activity.counts, sign);
                for (time, values) in Wait::ALL.into_iter().zip(&activity.waits) {
                    let change = times.entry((book.clone(), *month, time)).or_default();
                    match sign {
                        -1 => change.removed.extend(values),
                        _ => change.added.extend(values),
                    }
                }
            }
        }
        if old != new {
            recomputed.push((*account, new));
        }
    }
    store_json(txn, "account_activity", "months", &recomputed).await?;

    let deltas: Vec<_> = deltas.into_iter().filter(|(_, d)| !d.is_zero()).collect();
    let sums = ACTIVITY_COLUMNS.map(Sum::Count);
    for chunk in deltas.chunks(rows_per_statement(3 + sums.len())) {
        let rows = chunk
            .iter()
            .map(|((book, month), counts)| {
                let mut cells = book.key_values();
                cells.push(Value::from(*month));
                cells.extend(counts.0.map(Value::from));
                cells
            })
            .collect();
        add_to(txn, "activity_book_months", &["month"], &sums, rows).await?;
    }
    let times: Vec<_> = times.into_iter().filter_map(|(key, change)| change.net().map(|c| (key, c))).collect();
    for chunk in times.chunks(rows_per_statement(4)) {
        change_waits(txn, chunk).await?;
    }
    Ok(())
}

/// The waits a batch takes out of one list of `wait_book_months` and puts in.
#[derive(Debug, Default)]
struct WaitsChange {
    removed: Vec<i64>,
    added: Vec<i64>,
}

impl WaitsChange {
    /// Without the values both taken out and put back (sorted), or `None` when nothing changes.
    fn net(mut self) -> Option<WaitsChange> {
        self.removed.sort_unstable();
        self.added.sort_unstable();
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        let (mut r, mut a) = (self.removed.into_iter().peekable(), self.added.into_iter().peekable());
        loop {
            match (r.peek(), a.peek()) {
                (Some(x), Some(y)) if x == y => {
                    r.next();
                    a.next();
                }
                (Some(x), Some(y)) if x < y => removed.extend(r.next()),
                (Some(_), None) => removed.extend(r.next()),
                (_, Some(_)) => added.extend(a.next()),
                (None, None) => break,
            }
        }
        (!removed.is_empty() || !added.is_empty()).then_some(WaitsChange { removed, added })
    }
}

/// Applies `changes` to their lists: reads them, takes the removed values out (each must be
/// there: the list holds every wait of the book and month) and merges the added ones in.
async fn change_waits(
    txn: &impl ConnectionTrait,
    changes: &[((Book, MonthIndex, Wait), WaitsChange)],
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let key = |(book, month, wait): &(Book, MonthIndex, Wait)| {
        let mut cells = book.key_values();
        cells.extend([Value::from(*month), Value::from(*wait as i32)]);
        cells
    };
    let mut select = Sql::new(backend);
    // Joined with the keys as a list of values, so that each is a look-up of the primary key.
    select.push("WITH k(csm_key, segment_key, month, measure) AS (");
    push_rows(&mut select, changes.iter().map(|(k, _)| key(k)).collect());
    select.push(
        ") SELECT r.csm_key, r.segment_key, r.month, r.measure, r.waits FROM k JOIN wait_book_months r \
         ON r.csm_key = k.csm_key AND r.segment_key = k.segment_key AND r.month = k.month AND r.measure = k.measure",
    );
    if backend == DatabaseBackend::Postgres {
        // Beside other batches, each list is read locked until the batch ends, in key order. A
        // list no batch has written yet is written empty first, so that there is a row to lock:
        // two batches adding the first values of a list then take turns instead of both
        // writing theirs alone.
        let mut empty = Sql::new(backend);
        empty.push("INSERT INTO wait_book_months (csm_key, segment_key, month, measure, waits) ");
        push_rows(
            &mut empty,
            changes.iter().map(|(k, _)| [key(k), vec![Value::from(Vec::<u8>::new())]].concat()).collect(),
        );
        empty.push(" ON CONFLICT (csm_key, segment_key, month, measure) DO NOTHING");
        txn.execute_raw(empty.statement()).await?;
        select.push(" ORDER BY r.csm_key, r.segment_key, r.month, r.measure FOR UPDATE OF r");
    }
    let mut lists: BTreeMap<(i64, String, MonthIndex, i32), Vec<u8>> = BTreeMap::new();
    for row in txn.query_all_raw(select.statement()).await? {
        let list_key = (
            row.try_get("", "csm_key")?,
            row.try_get("", "segment_key")?,
            row.try_get("", "month")?,
            row.try_get("", "measure")?,
        );
        lists.insert(list_key, row.try_get("", "waits")?);
    }
    let mut rows = Vec::with_capacity(changes.len());
    for (k @ (book, month, time), change) in changes {
        let stored = lists.remove(&(book.csm_key, book.segment_key.clone(), *month, *time as i32)).unwrap_or_default();
        let mut values: Vec<i64> = Vec::with_capacity(stored.len() + change.added.len());
        decode_waits_into(&stored, &mut values)?;
        let mut removed = change.removed.iter().peekable();
        values.retain(|value| removed.next_if_eq(&value).is_none());
        if removed.peek().is_some() {
            return Err(DbErr::Custom(format!(
                "ticket times of {k:?}: {} values to remove are missing",
                removed.count()
            )));
        }
        values.extend(&change.added);
        values.sort_unstable();
        let mut cells = key(k);
        cells.push(Value::from(encode_waits(&values)));
        rows.push(cells);
    }
    write_wait_lists(txn, rows).await
}

/// Writes lists of waits: rows of their key (book, month, measure) and their stored form.
async fn write_wait_lists(txn: &impl ConnectionTrait, rows: Vec<Vec<Value>>) -> Result<(), DbErr> {
    let insert = "INSERT INTO wait_book_months (csm_key, segment_key, month, measure, waits)";
    upsert(
        txn,
        insert,
        rows,
        " ON CONFLICT (csm_key, segment_key, month, measure) DO UPDATE SET waits = excluded.waits",
    )
    .await
}

/// Lists of waits re-encoded per statement.
const REENCODED_PER_STATEMENT: i64 = 1_000;

/// Rewrites every list of waits that ledger version 5 stored (little-endian 64-bit integers) in
/// the compact form of [`super::wait_list`], [`REENCODED_PER_STATEMENT`] lists at a time in key
/// order: the one difference between versions 5 and 6.
pub(super) async fn reencode_wait_lists(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    let mut after: Option<(i64, String, i32, i32)> = None;
    loop {
        let mut select = Sql::new(txn.get_database_backend());
        select.push("SELECT csm_key, segment_key, month, measure, waits FROM wait_book_months");
        if let Some((csm_key, segment_key, month, measure)) = after.take() {
            select.push(" WHERE (csm_key, segment_key, month, measure) > (").bind(csm_key).push(", ");
            select.bind(segment_key).push(", ").bind(month).push(", ").bind(measure).push(")");
        }
        select.push(" ORDER BY csm_key, segment_key, month, measure LIMIT ").bind(REENCODED_PER_STATEMENT);
        let stored = txn.query_all_raw(select.statement()).await?;
        let mut rows = Vec::with_capacity(stored.len());
        for row in &stored {
            let key: (i64, String, i32, i32) = (
                row.try_get("", "csm_key")?,
                row.try_get("", "segment_key")?,
                row.try_get("", "month")?,
                row.try_get("", "measure")?,
            );
            let bytes: Vec<u8> = row.try_get("", "waits")?;
            if !bytes.len().is_multiple_of(8) {
                return Err(DbErr::Custom(format!("the list of waits {key:?} is not a version 5 list")));
            }
            let values: Vec<i64> =
                bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or_default())).collect();
            let (csm_key, segment_key, month, measure) = key.clone();
            rows.push(vec![
                Value::from(csm_key),
                Value::from(segment_key),
                Value::from(month),
                Value::from(measure),
                Value::from(encode_waits(&values)),
            ]);
            after = Some(key);
        }
        let last_page = (stored.len() as i64) < REENCODED_PER_STATEMENT;
        if !rows.is_empty() {
            write_wait_lists(txn, rows).await?;
        }
        if last_page {
            return Ok(());
        }
    }
}
