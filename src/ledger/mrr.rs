//! The MRR part of the ledger: each account's change points (`mrr_changes`) and what they add
//! to their book per month (`mrr_book_months`), per opening cohort (`mrr_book_cohorts`) and per
//! cohort of first paid month (`mrr_book_paid_cohorts`).
use std::collections::{BTreeMap, BTreeSet};

use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DbErr};

use super::rows::{in_list, rows_of, rows_per_statement};
use super::series::{self, Change, CohortDelta, MonthDelta, PaidCohortDelta, Term};
use super::{Book, Move, Sum, add_to, amount, column_names, read_amount, select_amount, stored_accounts};
use crate::base::calendar::MonthIndex;
use crate::base::sql::Sql;
use crate::metrics::MovementKind;

/// Follows `moves` (whose subscriptions changed when in `recompute`, now `terms`) in the MRR
/// tables.
pub async fn apply(
    txn: &impl ConnectionTrait,
    moves: &[Move],
    recompute: &BTreeSet<i64>,
    terms: &BTreeMap<i64, Vec<Term>>,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let mut stored = stored_changes(txn, &stored_accounts(moves)).await?;

    let mut months: BTreeMap<(Book, MonthIndex), MonthDelta> = BTreeMap::new();
    let mut cohorts: BTreeMap<(Book, i32, MonthIndex), CohortDelta> = BTreeMap::new();
    let mut paid_cohorts = PaidCohorts::new();
    let mut rewritten: Vec<(i64, Vec<Change>)> = Vec::new();
    // The rewritten accounts that had change points, deleted first.
    let mut replaced: Vec<i64> = Vec::new();
    for Move { account, from, to, gone, .. } in moves {
        let account = *account;
        let old = stored.remove(&account).unwrap_or_default();
        let new = match (gone, recompute.contains(&account)) {
            (true, _) => Vec::new(),
            (false, true) => series::changes(terms.get(&account).map_or(&[], Vec::as_slice)),
            (false, false) => old.clone(),
        };
        if old == new && from == to {
            continue;
        }
        for (sign, book, changes) in [(-1, from, &old), (1, to, &new)] {
            let contributions = series::contributions(changes);
            for (month, delta) in contributions.months {
                months.entry((book.clone(), month)).or_default().add(&delta, sign);
            }
            for (window, opening, delta) in contributions.cohorts {
                cohorts.entry((book.clone(), window, opening)).or_default().add(&delta, sign);
            }
            paid_cohorts.add(book, contributions.paid_cohort, sign);
        }
        if old != new {
            if !old.is_empty() {
                replaced.push(account);
            }
            rewritten.push((account, new));
        }
    }

    if !replaced.is_empty() {
        let mut delete = Sql::new(backend);
        delete.push("DELETE FROM mrr_changes WHERE account_id IN (");
        in_list(&mut delete, replaced.into_iter());
        delete.push(")");
        txn.execute_raw(delete.statement()).await?;
    }
    if !rewritten.is_empty() {
        let rows: Vec<(i64, &Change)> = rewritten.iter().flat_map(|(a, cs)| cs.iter().map(move |c| (*a, c))).collect();
        for chunk in rows.chunks(rows_per_statement(5 + 2 * 2)) {
            let mut insert = Sql::new(backend);
            let columns = column_names(backend, &[Sum::Amount("mrr_before"), Sum::Amount("mrr_after")]).join(", ");
            insert.push(&format!("INSERT INTO mrr_changes (account_id, month, {columns}, kind) VALUES "));
            let cells = chunk
                .iter()
                .map(|(account, c)| {
                    let (before, after) = (amount(backend, c.before)?, amount(backend, c.after)?);
                    Ok([
                        vec![Value::from(*account), Value::from(c.month)],
                        before,
                        after,
                        vec![Value::from(c.kind.as_db())],
                    ]
                    .concat())
                })
                .collect::<Result<Vec<_>, DbErr>>()?;
            insert.values_rows(cells, |row| row);
            txn.execute_raw(insert.statement()).await?;
        }
    }

    let months: Vec<_> = months.into_iter().filter(|(_, d)| !d.is_zero()).collect();
    for chunk in months.chunks(rows_per_statement(3 + 10 + 6)) {
        let cells = chunk
            .iter()
            .map(|((book, month), d)| {
                Ok([
                    book.key_values(),
                    vec![Value::from(*month)],
                    amount(backend, d.mrr)?,
                    vec![Value::from(d.active)],
                    amount(backend, d.new_mrr)?,
                    vec![Value::from(d.new_customers)],
                    amount(backend, d.expansion_mrr)?,
                    amount(backend, d.contraction_mrr)?,
                    amount(backend, d.churned_mrr)?,
                    vec![Value::from(d.churned_customers)],
                    amount(backend, d.reactivation_mrr)?,
                    vec![Value::from(d.reactivated_customers)],
                ]
                .concat())
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        add_to(txn, "mrr_book_months", &["month"], MONTH_SUMS, cells).await?;
    }
    let cohorts: Vec<_> = cohorts.into_iter().filter(|(_, d)| !d.is_zero()).collect();
    for chunk in cohorts.chunks(rows_per_statement(4 + 4 + 2)) {
        let cells = chunk
            .iter()
            .map(|((book, window, opening), d)| {
                Ok([
                    book.key_values(),
                    vec![Value::from(*window), Value::from(*opening)],
                    amount(backend, d.end_mrr)?,
                    amount(backend, d.kept_mrr)?,
                    vec![Value::from(d.retained), Value::from(d.upsold)],
                ]
                .concat())
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        add_to(txn, "mrr_book_cohorts", &["window_months", "month"], COHORT_SUMS, cells).await?;
    }
    paid_cohorts.write(txn).await
}

/// Changes of `mrr_book_paid_cohorts` by book, cohort month and month.
struct PaidCohorts(BTreeMap<(Book, MonthIndex, MonthIndex), PaidCohortDelta>);

impl PaidCohorts {
    fn new() -> Self {
        PaidCohorts(BTreeMap::new())
    }

    fn add(&mut self, book: &Book, deltas: Vec<(MonthIndex, MonthIndex, PaidCohortDelta)>, sign: i64) {
        for (cohort, month, delta) in deltas {
            self.0.entry((book.clone(), cohort, month)).or_default().add(&delta, sign);
        }
    }

    async fn write(self, txn: &impl ConnectionTrait) -> Result<(), DbErr> {
        let backend = txn.get_database_backend();
        let rows: Vec<_> = self.0.into_iter().filter(|(_, d)| !d.is_zero()).collect();
        for chunk in rows.chunks(rows_per_statement(4 + 1 + 4)) {
            let cells = chunk
                .iter()
                .map(|((book, cohort, month), d)| {
                    Ok([
                        book.key_values(),
                        vec![Value::from(*cohort), Value::from(*month), Value::from(d.paying)],
                        amount(backend, d.mrr)?,
                        amount(backend, d.kept_mrr)?,
                    ]
                    .concat())
                })
                .collect::<Result<Vec<_>, DbErr>>()?;
            add_to(txn, "mrr_book_paid_cohorts", &["cohort_month", "month"], PAID_COHORT_SUMS, cells).await?;
        }
        Ok(())
    }
}

/// Builds `mrr_book_paid_cohorts` from the change points of `accounts` (an upgrade from a
/// ledger without it: the change points already say when each account first paid).
pub(super) async fn add_paid_cohorts(txn: &impl ConnectionTrait, accounts: &[i64]) -> Result<(), DbErr> {
    let books = super::current_books(txn, accounts).await?;
    let mut paid_cohorts = PaidCohorts::new();
    for (account, changes) in stored_changes(txn, accounts).await? {
        if let Some(book) = books.get(&account) {
            paid_cohorts.add(book, series::contributions(&changes).paid_cohort, 1);
        }
    }
    paid_cohorts.write(txn).await
}

/// The summed columns of `mrr_book_months`, in insert order.
const MONTH_SUMS: &[Sum] = &[
    Sum::Amount("mrr_delta"),
    Sum::Count("active_delta"),
    Sum::Amount("new_mrr"),
    Sum::Count("new_customers"),
    Sum::Amount("expansion_mrr"),
    Sum::Amount("contraction_mrr"),
    Sum::Amount("churned_mrr"),
    Sum::Count("churned_customers"),
    Sum::Amount("reactivation_mrr"),
    Sum::Count("reactivated_customers"),
];

/// The summed columns of `mrr_book_cohorts`, in insert order.
const COHORT_SUMS: &[Sum] =
    &[Sum::Amount("end_mrr"), Sum::Amount("kept_mrr"), Sum::Count("retained"), Sum::Count("upsold")];

/// The summed columns of `mrr_book_paid_cohorts`, in insert order.
const PAID_COHORT_SUMS: &[Sum] = &[Sum::Count("paying"), Sum::Amount("mrr"), Sum::Amount("kept_mrr")];

/// The change points the ledger holds for each account.
async fn stored_changes(txn: &impl ConnectionTrait, accounts: &[i64]) -> Result<BTreeMap<i64, Vec<Change>>, DbErr> {
    let backend = txn.get_database_backend();
    let select = format!(
        "SELECT c.account_id, c.month, {}, {}, c.kind FROM mrr_changes c WHERE c.account_id IN (",
        select_amount(backend, false, "c", "mrr_before", "mrr_before"),
        select_amount(backend, false, "c", "mrr_after", "mrr_after")
    );
    let rows = rows_of(txn, &select, accounts, " ORDER BY c.account_id, c.month").await?;
    let mut out: BTreeMap<i64, Vec<Change>> = BTreeMap::new();
    for row in &rows {
        let kind: String = row.try_get("", "kind")?;
        let change = Change {
            month: row.try_get("", "month")?,
            before: read_amount(backend, row, "mrr_before")?,
            after: read_amount(backend, row, "mrr_after")?,
            kind: MovementKind::from_db(&kind).ok_or_else(|| DbErr::Custom(format!("unknown movement {kind}")))?,
        };
        out.entry(row.try_get("", "account_id")?).or_default().push(change);
    }
    Ok(out)
}

/// The subscriptions of each account, as MRR sees them.
pub(super) async fn terms(txn: &impl ConnectionTrait, accounts: &[i64]) -> Result<BTreeMap<i64, Vec<Term>>, DbErr> {
    let rows = rows_of(
        txn,
        "SELECT account_id, mrr, start_date, end_date FROM subscriptions WHERE account_id IN (",
        accounts,
        "",
    )
    .await?;
    let mut out: BTreeMap<i64, Vec<Term>> = BTreeMap::new();
    for row in &rows {
        let term = Term {
            mrr: row.try_get::<entity::Money>("", "mrr")?.0,
            start: row.try_get("", "start_date")?,
            end: row.try_get("", "end_date")?,
        };
        out.entry(row.try_get("", "account_id")?).or_default().push(term);
    }
    Ok(out)
}
