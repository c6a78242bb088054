//! The set of accounts S a KPI query covers (KPIS.md, "Conventions"): the caller's visible
//! accounts, narrowed by `ScopeInput`, and split into groups by `groupBy`.
use async_graphql::{ID, InputObject};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query, SelectStatement, Value};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DatabaseConnection};
use tokio::sync::OnceCell;

use super::movements::GroupKey;
use super::{Dimension, ScopeInput};
use crate::auth::scope::Scope;
use crate::base::error::{AppError, AppResult};
use crate::base::sql::Sql;
use crate::ledger::{BOOK_KEY_SQL, today};
use crate::metrics::health::HealthStatus;
use entity::{account, user};

#[derive(InputObject, Default)]
pub struct AccountFilter {
    pub segment: Option<String>,
    pub csm_id: Option<ID>,
    pub team_id: Option<ID>,
    pub health_status: Option<HealthStatus>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
}

/// Parses an id argument that must name a record.
fn id_argument(id: &ID, field: &str) -> AppResult<i64> {
    id.parse::<i64>().ok().ok_or_else(|| AppError::invalid(None, field, format!("{field}: not a valid id")))
}

impl AccountFilter {
    /// The filter as a condition on `accounts`, to narrow the caller's visible accounts, after
    /// checking that it names no CSM or team outside them (`FORBIDDEN`).
    pub async fn condition(&self, reader: &Scope<'_>) -> AppResult<Condition> {
        let mut condition = Condition::all();
        if let Some(segment) = &self.segment {
            condition = condition.add(account::Column::Segment.eq(segment.as_str()));
        }
        if let Some(csm) = &self.csm_id {
            let csm = id_argument(csm, "csmId")?;
            reader.check_csm(csm).await?;
            condition = condition.add(account::Column::CsmId.eq(csm));
        }
        if let Some(team) = &self.team_id {
            let team = id_argument(team, "teamId")?;
            reader.check_team(team).await?;
            let members = Query::select()
                .column(user::Column::Id)
                .from(user::Entity)
                .and_where(user::Column::TeamId.eq(team))
                .to_owned();
            condition = condition.add(account::Column::CsmId.in_subquery(members));
        }
        if let Some(search) = &self.search {
            let escaped = search.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let name = Expr::expr(Func::lower(Expr::col((account::Entity, account::Column::Name))));
            condition = condition.add(name.like(LikeExpr::new(format!("%{escaped}%")).escape('\\')));
        }
        if let Some(status) = self.health_status {
            // The health of the day, brought up to today first, under the model in force.
            today::ensure(reader.connection(), chrono::Utc::now().date_naive()).await?;
            condition = condition.add(account::Column::Id.in_subquery(today::with_status(status)));
        }
        Ok(condition)
    }
}

/// The join of a rollup table `r` with the books of S (see [`KpiScope::over_books`]).
const JOIN_BOOKS: &str = "JOIN scope_books b ON b.csm_key = r.csm_key AND b.segment_key = r.segment_key";

/// A statement over a rollup table `r` of the ledger, restricted to the books of S: `sql` starts
/// it, `join` follows `r` in its `FROM`, and `group_key` is the SQL of a row's group.
pub struct OverBooks {
    pub sql: Sql,
    pub join: &'static str,
    pub group_key: &'static str,
}

/// The accounts S of one KPI request, and the connection its statements run on. Built only
/// from the caller's [`Scope`], so S never holds an account the caller does not see.
pub struct KpiScope<'a> {
    db: &'a DatabaseConnection,
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

impl<'a> KpiScope<'a> {
    /// Resolves the scope for the caller; `FORBIDDEN` when it names a CSM or team outside the
    /// caller's visibility (the same checks as the `accounts` filter).
    pub async fn resolve(
        reader: &Scope<'a>,
        scope: Option<ScopeInput>,
        group_by: Option<Dimension>,
    ) -> AppResult<KpiScope<'a>> {
        let visibility = reader.visibility();
        let scope = scope.unwrap_or_default();
        let narrowed = scope.csm_id.is_some() || scope.team_id.is_some() || scope.segment.is_some();
        let filter = AccountFilter {
            segment: scope.segment,
            csm_id: scope.csm_id,
            team_id: scope.team_id,
            ..AccountFilter::default()
        };
        let condition = filter.condition(reader).await?;
        let accounts = Query::select()
            .column(account::Column::Id)
            .from(account::Entity)
            .cond_where(visibility.accounts().add(condition))
            .to_owned();
        let all_books = visibility.sees_everything() && !narrowed;
        Ok(KpiScope {
            db: reader.connection(),
            accounts,
            group_by,
            whole_portfolio: all_books && group_by.is_none(),
            all_books,
            books: OnceCell::new(),
        })
    }

    /// The visible accounts of `csms`, one group per CSM (the scope of CSM scorecards);
    /// `every_csm` when they are all the CSMs and the caller sees every account.
    pub fn of_csms(reader: &Scope<'a>, csms: &[i64], every_csm: bool) -> KpiScope<'a> {
        let accounts = Query::select()
            .column(account::Column::Id)
            .from(account::Entity)
            .cond_where(reader.visibility().accounts())
            .and_where(account::Column::CsmId.is_in(csms.iter().copied()))
            .to_owned();
        KpiScope {
            db: reader.connection(),
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

    /// The connection the statements over S run on.
    pub fn connection(&self) -> &'a DatabaseConnection {
        self.db
    }

    /// The distinct groups of S (one, `None`, without `groupBy`, even when S is empty).
    pub async fn group_keys(&self) -> AppResult<Vec<GroupKey>> {
        if self.group_by.is_none() {
            return Ok(vec![None]);
        }
        let mut groups: Vec<GroupKey> = self.ledger_books(self.db).await?.iter().map(|b| b.group_key.clone()).collect();
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
