//! The set of accounts S a KPI query covers (KPIS.md, "Conventions"): the caller's visible
//! accounts, narrowed by `ScopeInput`, and split into groups by `groupBy`.
use async_graphql::Context;
use sea_orm::sea_query::{Query, SelectStatement, Value};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::OnceCell;

use super::movements::GroupKey;
use super::sql::Sql;
use super::{Dimension, ScopeInput};
use crate::accounts::AccountFilter;
use crate::auth::{caller, scope::Visibility};
use crate::error::AppResult;
use crate::ledger::BOOK_KEY_SQL;
use entity::account;

/// The join of a rollup table `r` with the books of S (see [`KpiScope::over_books`]).
const JOIN_BOOKS: &str = "JOIN scope_books b ON b.csm_key = r.csm_key AND b.segment_key = r.segment_key";

/// A statement over a rollup table `r` of the ledger, restricted to the books of S: `sql` starts
/// it, `join` follows `r` in its `FROM`, and `group_key` is the SQL of a row's group.
pub struct OverBooks {
    pub sql: Sql,
    pub join: &'static str,
    pub group_key: &'static str,
}

pub struct KpiScope {
    /// `SELECT id FROM accounts WHERE ...`: the accounts of S.
    pub accounts: SelectStatement,
    pub group_by: Option<Dimension>,
    /// A caller who sees every account, no `groupBy`, no `ScopeInput` field (the cost KPIs).
    pub whole_portfolio: bool,
    /// A caller who sees every account, no `ScopeInput` field: S holds every book.
    all_books: bool,
    /// The books of S, read once per request by whichever statement needs them first.
    books: OnceCell<Vec<ScopeBook>>,
}

/// A book of the ledger (`crate::ledger::Book`) holding accounts of S, and its group.
struct ScopeBook {
    csm_key: i64,
    segment_key: String,
    group_key: GroupKey,
}

impl KpiScope {
    /// Resolves the scope for the caller; `FORBIDDEN` when it names a CSM or team outside the
    /// caller's visibility (the same checks as the `accounts` filter).
    pub async fn resolve(
        ctx: &Context<'_>,
        scope: Option<ScopeInput>,
        group_by: Option<Dimension>,
    ) -> AppResult<KpiScope> {
        let visibility = Visibility::for_reads(caller(ctx)?)?;
        let scope = scope.unwrap_or_default();
        let narrowed = scope.csm_id.is_some() || scope.team_id.is_some() || scope.segment.is_some();
        let filter = AccountFilter {
            segment: scope.segment,
            csm_id: scope.csm_id,
            team_id: scope.team_id,
            ..AccountFilter::default()
        };
        let condition = filter.condition(ctx, visibility).await?;
        let accounts =
            Query::select().column(account::Column::Id).from(account::Entity).cond_where(condition).to_owned();
        let all_books = visibility.sees_everything() && !narrowed;
        Ok(KpiScope {
            accounts,
            group_by,
            whole_portfolio: all_books && group_by.is_none(),
            all_books,
            books: OnceCell::new(),
        })
    }

    /// The books of `csms`, one group per CSM (the scope of CSM scorecards); `every_csm` when
    /// they are all the CSMs and the caller sees every account.
    pub fn books(csms: &[i64], every_csm: bool) -> KpiScope {
        let accounts = Query::select()
            .column(account::Column::Id)
            .from(account::Entity)
            .and_where(sea_orm::ColumnTrait::is_in(&account::Column::CsmId, csms.iter().copied()))
            .to_owned();
        KpiScope {
            accounts,
            group_by: Some(Dimension::Csm),
            whole_portfolio: false,
            all_books: every_csm,
            books: OnceCell::new(),
        }
    }

    /// Appends `FROM (the accounts of S) a LEFT JOIN users u` (their CSM): filtering the
    /// accounts in the sub-select itself lets the database use the condition's indexes.
    fn push_from_accounts(&self, sql: &mut Sql) {
        let mut accounts = self.accounts.clone();
        accounts.columns([account::Column::CsmId, account::Column::Segment]);
        Self::push_joined(sql, &accounts);
    }

    /// Appends `FROM (the distinct CSM and segment of the accounts of S) a LEFT JOIN users u`:
    /// one row per book, read from the index on `accounts (csm_id, segment)` alone.
    fn push_from_books(&self, sql: &mut Sql) {
        let mut books = self.accounts.clone();
        books.clear_selects().columns([account::Column::CsmId, account::Column::Segment]).distinct();
        Self::push_joined(sql, &books);
    }

    fn push_joined(sql: &mut Sql, accounts: &SelectStatement) {
        sql.push(" FROM (").select(accounts).push(") a LEFT JOIN users u ON u.id = a.csm_id");
    }

    /// Appends the CTE `scope_accounts(account_id, group_key)`: the accounts of S and their group.
    pub fn with_accounts(&self, sql: &mut Sql) {
        sql.push("scope_accounts(account_id, group_key) AS (SELECT a.id, ").push(self.group_key());
        self.push_from_accounts(sql);
        sql.push(")");
    }

    /// The books of the ledger (`crate::ledger`) that hold the accounts of S, each with its group
    /// (a book never straddles groups: a group is a segment, a CSM or a CSM's team).
    async fn ledger_books(&self, db: &DatabaseConnection) -> AppResult<&[ScopeBook]> {
        let books = self
            .books
            .get_or_try_init(|| async {
                let mut sql = Sql::new(db.get_database_backend());
                sql.push(&format!("SELECT {BOOK_KEY_SQL}, ")).push(self.group_key()).push(" AS group_key");
                self.push_from_books(&mut sql);
                let rows = db.query_all_raw(sql.statement()).await?;
                let book = |row: &sea_orm::QueryResult| -> Result<ScopeBook, sea_orm::DbErr> {
                    Ok(ScopeBook {
                        csm_key: row.try_get("", "csm_key")?,
                        segment_key: row.try_get("", "segment_key")?,
                        group_key: row.try_get("", "group_key")?,
                    })
                };
                rows.iter().map(book).collect::<Result<Vec<_>, _>>()
            })
            .await?;
        Ok(books)
    }

    /// The distinct groups of S (one, `None`, without `groupBy`, even when S is empty).
    pub async fn group_keys(&self, db: &DatabaseConnection) -> AppResult<Vec<GroupKey>> {
        if self.group_by.is_none() {
            return Ok(vec![None]);
        }
        let mut groups: Vec<GroupKey> = self.ledger_books(db).await?.iter().map(|b| b.group_key.clone()).collect();
        groups.sort();
        groups.dedup();
        Ok(groups)
    }

    /// How a statement reads a rollup over the books of S. When S holds every book and the group
    /// is in the book key, the rollup alone (its group from its own book key); else joined with
    /// the CTE
    /// `scope_books(csm_key, segment_key, group_key)`: the [`ledger_books`](Self::ledger_books)
    /// of S as a list of values, so that the database sees how few there are and reads a CSM's
    /// rows of a rollup through its key.
    pub async fn over_books(&self, db: &DatabaseConnection) -> AppResult<OverBooks> {
        let mut sql = Sql::new(db.get_database_backend());
        // A team is not in the book key: joining the CSMs' teams instead of the books measured
        // slower in PostgreSQL (it expects far more groups and plans the grouping to spill).
        let own_group_key = match self.group_by {
            None => Some("CAST(NULL AS TEXT)"),
            Some(Dimension::Segment) => {
                Some("CASE WHEN r.segment_key = '' THEN NULL ELSE SUBSTR(r.segment_key, 2) END")
            }
            Some(Dimension::Csm) => Some("CASE WHEN r.csm_key = 0 THEN NULL ELSE CAST(r.csm_key AS TEXT) END"),
            Some(Dimension::Team) => None,
        };
        if let Some(group_key) = own_group_key.filter(|_| self.all_books) {
            return Ok(OverBooks { sql, join: "", group_key });
        }
        let books = self.ledger_books(db).await?;
        sql.push("WITH scope_books(csm_key, segment_key, group_key) AS (");
        if books.is_empty() {
            sql.push("SELECT CAST(0 AS BIGINT), '', CAST(NULL AS TEXT) WHERE 1 = 0");
        } else {
            sql.push("VALUES ").values_rows(books, |b| {
                vec![Value::from(b.csm_key), Value::from(b.segment_key.clone()), Value::from(b.group_key.clone())]
            });
        }
        sql.push(") ");
        Ok(OverBooks { sql, join: JOIN_BOOKS, group_key: "b.group_key" })
    }

    /// The SQL of an account's group key (over `accounts a` joined with its CSM as `u`).
    pub fn group_key(&self) -> &'static str {
        match self.group_by {
            None => "CAST(NULL AS TEXT)",
            Some(Dimension::Segment) => "a.segment",
            Some(Dimension::Csm) => "CAST(a.csm_id AS TEXT)",
            Some(Dimension::Team) => "CAST(u.team_id AS TEXT)",
        }
    }
}
