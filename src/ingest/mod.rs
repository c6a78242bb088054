//! The ingest engine every write mutation goes through (PRODUCT.md, "Writing data").
//!
//! - upsert by natural key (externalId; usage: account + date; teams: name; users: email;
//!   traffic: month), counting `created`, `updated` and `unchanged` rows;
//! - one transaction per batch: any invalid row and nothing is written, with one
//!   `BAD_USER_INPUT` error per invalid row carrying `row` and `field`;
//! - rows applied in order, so a row may reference what an earlier row of the batch wrote;
//! - one audit-log row (who, when, what, before, after) per accepted change;
//! - each kind's own mutation, or `ingest` for several kinds in one batch ([`Batch::part`]);
//! - on PostgreSQL, batches of accounts and their records write beside each other, and end as
//!   if they came one after the other (see [`WriteAccess::Shared`] and [`retrying`]); SQLite
//!   writes one batch at a time.
mod audit;
mod check;
mod lookup;
mod pending;
mod records;
mod removal;

pub use check::RowCheck;
pub use lookup::{AccountRef, Lookups, fetch_to_change, hidden_accounts};
use pending::{INSERT_CHUNK, Pending, PendingTable};
pub use records::{AccountRecord, AccountRecordInput, RecordKeys};
pub(crate) use records::{account_record_part, record_keys};
pub use removal::{Moved, Resolved, aliases_of, resolve_account, usage_key};

use std::collections::{HashMap, HashSet};

use async_graphql::{Context, SimpleObject};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, IntoActiveModel,
};
use serde::Serialize;

use crate::auth::scope::{Scope, Visibility};
use crate::auth::{Caller, Role};
use crate::base::db::WriteAccess;
use crate::base::error::{AppError, AppResult};
use crate::base::telemetry;
use crate::ledger::LedgerChanges;
use audit::AuditTrail;

/// The most rows one batch may carry.
pub const MAX_ROWS: usize = 5000;

/// Counts of rows by outcome; a replayed identical row is unchanged.
#[derive(SimpleObject, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpsertResult {
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
}

/// A stored record the engine can upsert: a sea-orm model with an `id` primary key.
pub trait Record: Clone + PartialEq + Serialize + Send + Sync + IntoActiveModel<Self::Active> + 'static {
    type Active: ActiveModelTrait<Entity = Self::Entity> + ActiveModelBehavior + Send + 'static;
    type Entity: sea_orm::EntityTrait<Model = Self>;
    /// The table, as named in the audit log.
    fn table() -> &'static str;
    fn id(&self) -> i64;
    fn with_id(self, id: i64) -> Self;
    /// Every column set, the id included (see `pending`: ids are reserved before the insert).
    fn for_insert(self) -> Self::Active;
    /// Tells the MRR ledger what writing `after` over `before` changes (nothing, but for
    /// subscriptions and accounts).
    fn follow(_before: Option<&Self>, _after: &Self, _ledger: &mut LedgerChanges) {}
}

macro_rules! record {
    ($($module:ident $(=> $follow:path)?),+) => {$(
        impl Record for entity::$module::Model {
            type Active = entity::$module::ActiveModel;
            type Entity = entity::$module::Entity;
            fn table() -> &'static str {
                sea_orm::EntityName::table_name(&entity::$module::Entity)
            }
            fn id(&self) -> i64 {
                self.id
            }
            fn with_id(mut self, id: i64) -> Self {
                self.id = id;
                self
            }
            fn for_insert(self) -> Self::Active {
                entity::$module::ActiveModel::from(self).reset_all()
            }
            $(fn follow(before: Option<&Self>, after: &Self, ledger: &mut LedgerChanges) {
                $follow(before, after, ledger)
            })?
        }
    )+};
}

record!(
    team,
    user,
    account => crate::ledger::follow_account,
    subscription => crate::ledger::follow_subscription,
    feedback => crate::ledger::follow_records,
    ticket => crate::ledger::follow_records,
    usage_record => crate::ledger::follow_records,
    touchpoint => crate::ledger::follow_records,
    cost,
    advocacy => crate::ledger::follow_records,
    feature_request => crate::ledger::follow_records,
    traffic
);

/// One kind of input row: the mutation that writes a batch of it alone, who may call that, and
/// how its rows are written into a batch (alone, or along with other kinds by `ingest`).
pub trait Part: Sync + Sized + 'static {
    const MUTATION: &'static str;
    const WRITERS: &'static [Role];
    /// Whether a batch of this kind may run beside other writers.
    const ACCESS: WriteAccess = WriteAccess::Shared;
    /// Checks and writes `rows`, in order.
    fn write<'b>(batch: &'b mut Batch<'_>, rows: &'b [Self]) -> Writing<'b>;
}

/// The work of [`Part::write`] (boxed: a generic `impl Future + Send` there trips a known
/// limitation of the compiler's higher-ranked lifetimes, rust-lang/rust#100013).
pub type Writing<'b> = std::pin::Pin<Box<dyn Future<Output = AppResult<()>> + Send + 'b>>;

/// The resolver of `P`'s own mutation: `rows` as one batch.
pub async fn write_alone<P: Part>(ctx: &Context<'_>, rows: &[P]) -> async_graphql::Result<UpsertResult> {
    retrying(ctx, move || async move {
        let mut batch = Batch::begin(ctx, P::MUTATION, &[(P::WRITERS, P::MUTATION)], rows.len(), P::ACCESS).await?;
        P::write(&mut batch, rows).await?;
        batch.commit().await
    })
    .await
}

/// How many times a batch runs before its lost race is the client's to retry.
const ATTEMPTS: usize = 10;

/// Runs `attempt` (a whole batch, from its start to its commit) again while it loses a race to
/// a batch written beside it (PostgreSQL, see [`WriteAccess::Shared`]): a new natural key that
/// the other one created first (the unique index waits for it to commit, then refuses the
/// second), or a deadlock PostgreSQL broke. The next run sees what the other committed, so the
/// client gets the outcome it would have got had the two come one after the other.
/// Every error of the last run goes into the response.
pub async fn retrying<T, F>(ctx: &Context<'_>, mut attempt: impl FnMut() -> F) -> async_graphql::Result<T>
where
    F: Future<Output = Result<T, Failure>>,
{
    let retries = match Scope::for_writes(ctx) {
        Ok(scope) if scope.connection().get_database_backend() == DatabaseBackend::Postgres => ATTEMPTS - 1,
        _ => 0,
    };
    let mut outcome = attempt().await;
    for retry in 1..=retries {
        match &outcome {
            Err(Failure(errors)) if matches!(errors.as_slice(), [AppError::Conflict(_)]) => {
                tracing::debug!(retry, "a batch lost a race to another one; running it again");
                outcome = attempt().await;
            }
            _ => break,
        }
    }
    outcome.map_err(|Failure(errors)| report(ctx, errors))
}

/// Why a batch wrote nothing: its row errors, or the one error that stopped it.
#[derive(Debug)]
pub struct Failure(pub Vec<AppError>);

impl From<AppError> for Failure {
    fn from(error: AppError) -> Self {
        Failure(vec![error])
    }
}

/// Who writes a batch: an authenticated user, or an operator at the command line.
#[derive(Clone, Copy)]
pub enum Actor<'a> {
    User(&'a Caller),
    CommandLine,
}

/// Request data that makes every batch of the request check its rows and roll back instead of
/// committing (`cs-kpi import --dry-run`); no GraphQL request carries it.
pub struct DryRun;

/// One batch of one mutation: its transaction, its writer, its counts and its row errors.
pub struct Batch<'a> {
    txn: DatabaseTransaction,
    /// Checks everything, writes nothing ([`DryRun`]).
    dry_run: bool,
    /// Rows by table and outcome, counted in the metrics once the batch commits.
    outcomes: std::collections::BTreeMap<(&'static str, &'static str), u64>,
    pub actor: Actor<'a>,
    /// Which accounts the caller may write records for.
    pub visibility: Visibility,
    result: UpsertResult,
    errors: Vec<AppError>,
    forbidden: Option<AppError>,
    /// The `ingest` input field being written, which row errors name.
    list: Option<&'static str>,
    /// The accepted changes, audited with the batch's commit.
    audit: AuditTrail,
    /// Records created and not written yet (of one table at a time).
    pending: Option<Box<dyn PendingTable>>,
    /// What the MRR ledger must follow before the batch commits.
    ledger: LedgerChanges,
    /// The accounts the batch has looked up or written, by externalId, as the caller may write
    /// them: a batch of several kinds looks each account up once.
    accounts: HashMap<String, AccountRef>,
    /// The feedback records the batch deleted, whose comments are erased from the audit log.
    erased: Vec<String>,
}

impl<'a> Batch<'a> {
    /// Starts a batch of `rows` rows for `action` (the mutation's name), whose caller must hold
    /// one of the roles of each `(roles, what)` of `writes`.
    pub async fn begin(
        ctx: &Context<'a>,
        action: &'static str,
        writes: &[(&[Role], &str)],
        rows: usize,
        access: WriteAccess,
    ) -> AppResult<Batch<'a>> {
        let scope = Scope::for_writes(ctx)?;
        let caller = scope.caller();
        for (roles, what) in writes {
            caller.require(roles, what)?;
        }
        if rows > MAX_ROWS {
            return Err(AppError::invalid(None, "input", format!("at most {MAX_ROWS} rows per batch, got {rows}")));
        }
        // Fair use: the rows come out of the writer's bucket (again when a lost race reruns the
        // batch, which the bucket's size absorbs).
        if let Some(budgets) = ctx.data_opt::<std::sync::Arc<crate::auth::budget::Budgets>>() {
            budgets.charge_rows(caller, rows)?;
        }
        let mut batch = Self::start(scope.connection(), Actor::User(caller), action, access).await?;
        batch.dry_run = ctx.data_opt::<DryRun>().is_some();
        Ok(batch)
    }

    /// Starts a batch of the operator at the command line (`cs-kpi user`, the demo company),
    /// who writes alone.
    pub async fn command_line(db: &DatabaseConnection, action: &'static str) -> AppResult<Batch<'a>> {
        Self::start(db, Actor::CommandLine, action, WriteAccess::Exclusive).await
    }

    async fn start(
        db: &DatabaseConnection,
        actor: Actor<'a>,
        action: &'static str,
        access: WriteAccess,
    ) -> AppResult<Batch<'a>> {
        let visibility = match actor {
            Actor::User(caller) => Visibility::for_writes(caller),
            Actor::CommandLine => Visibility::All,
        };
        Ok(Batch {
            txn: crate::base::db::begin_write(db, access).await?,
            dry_run: false,
            outcomes: std::collections::BTreeMap::new(),
            actor,
            visibility,
            result: UpsertResult::default(),
            errors: Vec::new(),
            forbidden: None,
            list: None,
            audit: AuditTrail::new(actor, action),
            pending: None,
            ledger: LedgerChanges::default(),
            accounts: HashMap::new(),
            erased: Vec::new(),
        })
    }

    /// The writing user's role; `None` at the command line.
    pub fn role(&self) -> Option<Role> {
        match self.actor {
            Actor::User(caller) => Some(caller.role),
            Actor::CommandLine => None,
        }
    }

    /// The batch's transaction, for look-ups that must see the rows written so far.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// The accounts with these externalIds that the caller may write, by externalId: those the
    /// batch has met before from memory, the others from the database.
    pub async fn accounts(&mut self, keys: impl IntoIterator<Item = String>) -> AppResult<HashMap<String, AccountRef>> {
        let keys: HashSet<String> = keys.into_iter().collect();
        let unknown: Vec<String> = keys.iter().filter(|k| !self.accounts.contains_key(*k)).cloned().collect();
        if !unknown.is_empty() {
            self.accounts.extend(lookup::fetch_accounts(&self.txn, self.visibility, &unknown).await?);
        }
        Ok(keys.into_iter().filter_map(|k| self.accounts.get(&k).map(|a| (k, *a))).collect())
    }

    /// Remembers an account the batch wrote, which later rows (and kinds) may refer to; an
    /// account the caller may not see (never written by a caller who does not see every account
    /// today) is forgotten instead, and looked up again if referred to.
    pub fn wrote_account(&mut self, account: &entity::account::Model) -> AccountRef {
        let written = AccountRef { id: account.id, csm_id: account.csm_id };
        match self.visibility.sees_everything() {
            true => self.accounts.insert(account.external_id.clone(), written),
            false => self.accounts.remove(&account.external_id),
        };
        written
    }

    /// Checks for row `row` of the input.
    pub fn row(&mut self, row: usize) -> RowCheck<'_> {
        RowCheck::new(row, self.list, &mut self.errors)
    }

    /// Writes the rows of `ingest`'s input field `list` into the batch; their counts.
    pub async fn part<P: Part>(&mut self, list: &'static str, rows: &[P]) -> AppResult<UpsertResult> {
        // The rows of earlier kinds are written first, so that this kind's look-ups see them.
        if let Some(mut pending) = self.pending.take() {
            pending.flush(&self.txn).await?;
        }
        let before = self.result;
        self.list = Some(list);
        P::write(self, rows).await?;
        self.list = None;
        Ok(UpsertResult {
            created: self.result.created - before.created,
            updated: self.result.updated - before.updated,
            unchanged: self.result.unchanged - before.unchanged,
        })
    }

    /// The counts of every row written so far.
    pub fn counts(&self) -> UpsertResult {
        self.result
    }

    /// Refuses the whole batch (for example an INTEGRATION touching an ADMIN user).
    pub fn forbid(&mut self, reason: impl Into<String>) {
        self.forbidden.get_or_insert_with(|| AppError::forbidden(reason));
    }

    /// Writes `new` (whose id is ignored) over `existing`, the stored record with the same
    /// natural key, if any; counts the outcome and audits a change. Returns the record as stored
    /// (a new one with its id, though its row is written later: see [`pending`]).
    pub async fn upsert<R: Record>(&mut self, key: &str, existing: Option<&R>, new: R) -> AppResult<R> {
        let Some(old) = existing else {
            let pending = pending_of::<R>(&mut self.pending, &self.txn).await?;
            let saved = new.with_id(pending.next_id(&self.txn).await?);
            R::follow(None, &saved, &mut self.ledger);
            pending.push(saved.clone());
            if pending.len() >= INSERT_CHUNK {
                pending.flush(&self.txn).await?;
            }
            self.audit.record(key, None, &saved)?;
            self.result.created += 1;
            *self.outcomes.entry((R::table(), "created")).or_default() += 1;
            return Ok(saved);
        };
        let new = new.with_id(old.id());
        if &new == old {
            self.result.unchanged += 1;
            *self.outcomes.entry((R::table(), "unchanged")).or_default() += 1;
            return Ok(new);
        }
        let created_by_this_batch = pending_of::<R>(&mut self.pending, &self.txn).await?.replace(&new);
        if !created_by_this_batch {
            new.clone().into_active_model().reset_all().update(&self.txn).await?;
        }
        R::follow(Some(old), &new, &mut self.ledger);
        self.audit.record(key, Some(old), &new)?;
        self.result.updated += 1;
        *self.outcomes.entry((R::table(), "updated")).or_default() += 1;
        Ok(new)
    }

    /// Commits and returns the counts, or rolls back and returns every error.
    pub async fn commit(self) -> Result<UpsertResult, Failure> {
        let failure = match self.forbidden {
            Some(forbidden) => vec![forbidden],
            None => self.errors,
        };
        if failure.is_empty() {
            let write = async {
                if let Some(mut pending) = self.pending {
                    pending.flush(&self.txn).await?;
                }
                if !self.ledger.is_empty() {
                    let started = std::time::Instant::now();
                    crate::ledger::apply(&self.txn, &self.ledger).await?;
                    metrics::histogram!(telemetry::LEDGER_APPLY).record(started.elapsed().as_secs_f64());
                }
                self.audit.write(&self.txn).await?;
                audit::erase_comments(&self.txn, &self.erased).await?;
                if self.dry_run { self.txn.rollback().await } else { crate::base::db::commit_write(self.txn).await }
            };
            write.await.map_err(AppError::from)?;
            if !self.dry_run {
                for ((kind, outcome), rows) in self.outcomes {
                    metrics::counter!(telemetry::INGESTED_ROWS, "kind" => kind, "outcome" => outcome).increment(rows);
                }
            }
            Ok(self.result)
        } else {
            self.txn.rollback().await.map_err(AppError::from)?;
            Err(Failure(failure))
        }
    }
}

/// The pending records of `R`'s table, writing another table's first.
async fn pending_of<'p, R: Record>(
    pending: &'p mut Option<Box<dyn PendingTable>>,
    txn: &DatabaseTransaction,
) -> AppResult<&'p mut Pending<R>> {
    if let Some(other) = pending.as_mut().filter(|p| p.table() != R::table()) {
        other.flush(txn).await?;
        *pending = None;
    }
    let pending = pending.get_or_insert_with(|| Box::new(Pending::<R>::new()));
    pending.as_any().downcast_mut::<Pending<R>>().ok_or_else(|| AppError::internal("pending records of another table"))
}

/// Puts every error of a refused call into the response: the first as the field's error, the
/// others next to it at the same path.
pub fn report(ctx: &Context<'_>, errors: Vec<AppError>) -> async_graphql::Error {
    let mut errors = errors.into_iter();
    let first = errors.next().unwrap_or_else(|| AppError::internal("refused without an error"));
    for other in errors {
        let mut error = async_graphql::Error::from(other).into_server_error(ctx.item.pos);
        error.path = vec![async_graphql::PathSegment::Field(ctx.item.node.response_key().node.to_string())];
        ctx.add_error(error);
    }
    first.into()
}
