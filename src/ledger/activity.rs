//! One account's activity by month (pure functions): the counts and sums behind the KPIs of
//! periods that count records dated in P (KPIS.md, sections 3, 4, 7 and 8). Every period is a
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
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Index;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Serialize};

use super::health::Records;
use super::{Book, Move, Sum, add_to, rows_per_statement, store_json, stored_json};
use crate::kpis::period::{MonthIndex, month_index};

/// A counter of [`ActivityCounts`]; its column of `activity_book_months` is [`Counter::column`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    TicketsOpened,
    TicketsResolved,
    FirstContactResolutions,
    NpsResponses,
    NpsPromoters,
    NpsDetractors,
    CsatResponses,
    CsatSatisfied,
    CsatScoreSum,
    CesResponses,
    CesScoreSum,
    Logins,
    LoginActiveUsers,
    SessionMinutes,
    SessionLogins,
    Touchpoints,
}

/// The columns of `activity_book_months`, in [`Counter`] order.
pub const ACTIVITY_COLUMNS: [&str; 16] = [
    "tickets_opened",
    "tickets_resolved",
    "first_contact_resolutions",
    "nps_responses",
    "nps_promoters",
    "nps_detractors",
    "csat_responses",
    "csat_satisfied",
    "csat_score_sum",
    "ces_responses",
    "ces_score_sum",
    "logins",
    "login_active_users",
    "session_minutes",
    "session_logins",
    "touchpoints",
];

/// The counters of one month (of an account, or summed over accounts and months).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityCounts(pub [i64; ACTIVITY_COLUMNS.len()]);

impl Index<Counter> for ActivityCounts {
    type Output = i64;

    fn index(&self, counter: Counter) -> &i64 {
        &self.0[counter as usize]
    }
}

impl ActivityCounts {
    fn bump(&mut self, counter: Counter, by: i64) {
        self.0[counter as usize] += by;
    }

    /// Adds `other` (`sign` 1) or takes it away (-1).
    pub fn merge(&mut self, other: &ActivityCounts, sign: i64) {
        for (value, other) in self.0.iter_mut().zip(other.0) {
            *value += sign * other;
        }
    }

    fn is_zero(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }
}

/// An account's counters by month (months without any record left out).
pub type ActivityMonths = BTreeMap<MonthIndex, ActivityCounts>;

/// The account's counters by month, from its records.
pub fn months(records: &Records) -> ActivityMonths {
    let mut out = ActivityMonths::new();
    let mut count = |at: DateTime<Utc>, counter: Counter, by: i64| {
        out.entry(month_index(at.date_naive())).or_default().bump(counter, by);
    };
    for t in &records.tickets {
        count(t.opened_at, Counter::TicketsOpened, 1);
        if let Some(resolved) = t.resolved_at {
            count(resolved, Counter::TicketsResolved, 1);
            count(resolved, Counter::FirstContactResolutions, i64::from(t.contacts_to_resolve == Some(1)));
        }
    }
    for f in &records.feedback {
        let score = i64::from(f.score);
        let counters: &[(Counter, i64)] = match f.kind.as_str() {
            "NPS" => &[
                (Counter::NpsResponses, 1),
                (Counter::NpsPromoters, i64::from(score >= 9)),
                (Counter::NpsDetractors, i64::from(score <= 6)),
            ],
            "CSAT" => &[
                (Counter::CsatResponses, 1),
                (Counter::CsatSatisfied, i64::from(score >= 4)),
                (Counter::CsatScoreSum, score),
            ],
            "CES" => &[(Counter::CesResponses, 1), (Counter::CesScoreSum, score)],
            _ => &[],
        };
        for (counter, by) in counters {
            count(f.responded_at, *counter, *by);
        }
    }
    for p in &records.touchpoints {
        count(p.occurred_at, Counter::Touchpoints, 1);
    }
    for u in &records.usage {
        let Some(logins) = u.logins.map(i64::from) else { continue };
        let month = out.entry(month_index(u.date)).or_default();
        month.bump(Counter::Logins, logins);
        month.bump(Counter::LoginActiveUsers, i64::from(u.active_users));
        if let Some(minutes) = u.session_minutes {
            month.bump(Counter::SessionMinutes, i64::from(minutes));
            month.bump(Counter::SessionLogins, logins);
        }
    }
    out.retain(|_, counts| !counts.is_zero());
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
    let accounts: Vec<i64> = moves.iter().map(|m| m.account).collect();
    let mut stored: BTreeMap<i64, ActivityMonths> = stored_json(txn, "account_activity", "months", &accounts).await?;
    let mut deltas: BTreeMap<(Book, MonthIndex), ActivityCounts> = BTreeMap::new();
    let mut recomputed: Vec<(i64, ActivityMonths)> = Vec::new();
    for Move { account, from, to } in moves {
        let old = stored.remove(account).unwrap_or_default();
        let new = match recompute.contains(account) {
            true => fresh.get(account).map(months).unwrap_or_default(),
            false => old.clone(),
        };
        if old == new && from == to {
            continue;
        }
        for (sign, book, months) in [(-1, from, &old), (1, to, &new)] {
            for (month, counts) in months {
                deltas.entry((book.clone(), *month)).or_default().merge(counts, sign);
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
    Ok(())
}
