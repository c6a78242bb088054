//! The caller's visible accounts: the one place where PRODUCT.md's visibility rules live.
//!
//! | role | accounts visible |
//! |---|---|
//! | CSM | those whose CSM they are |
//! | MANAGER | those of every CSM in a team they manage |
//! | FINANCE, ADMIN | all |
//! | INTEGRATION | none for reads (`FORBIDDEN`); all for writes |
//!
//! Users and teams (PRODUCT.md, "Roles and what each may see"): ADMIN and FINANCE list
//! everyone; a MANAGER or CSM themselves, their own team and the teams they manage, with their
//! members.
//!
//! A request reaches the database only through a [`Scope`]: the server attaches the connection
//! to the schema as a [`Database`], which nothing outside this module can open, and a resolver
//! gets a scope from its caller with [`Scope::for_reads`] or [`Scope::for_writes`]. Its queries
//! of accounts, users, teams and CSMs come filtered ([`Scope::accounts`], ...), and the KPI reads
//! build their set of accounts from it.
use async_graphql::Context;
use sea_orm::sea_query::{IntoCondition, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction, EntityTrait, IntoSimpleExpr, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};

use super::{Caller, Role, caller};
use crate::base::db::{WriteAccess, begin_write};
use crate::base::error::{AppError, AppResult};
use entity::{account, team, user};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Every account.
    All,
    /// The book of this CSM.
    Csm(i64),
    /// The books of the CSMs in the teams this user manages.
    Manager(i64),
}

impl Visibility {
    /// What the caller may read; INTEGRATION reads nothing.
    pub fn for_reads(caller: &Caller) -> AppResult<Visibility> {
        match caller.role {
            Role::Integration => Err(AppError::forbidden("INTEGRATION may not read data")),
            _ => Ok(Self::of(caller)),
        }
    }

    /// Which accounts the caller may write records for (the mutation decides whether the role
    /// may write at all).
    pub fn for_writes(caller: &Caller) -> Visibility {
        Self::of(caller)
    }

    fn of(caller: &Caller) -> Visibility {
        match caller.role {
            Role::Csm => Visibility::Csm(caller.id),
            Role::Manager => Visibility::Manager(caller.id),
            Role::Admin | Role::Finance | Role::Integration => Visibility::All,
        }
    }

    pub fn sees_everything(self) -> bool {
        self == Visibility::All
    }

    /// The manager rule, written once: the teams `manager_id` manages, as a sub-select.
    fn managed_teams(manager_id: i64) -> SelectStatement {
        Query::select()
            .column(team::Column::Id)
            .from(team::Entity)
            .and_where(team::Column::ManagerId.eq(manager_id))
            .to_owned()
    }

    /// The users in the teams `manager_id` manages, as a sub-select.
    fn managed_users(manager_id: i64) -> SelectStatement {
        Query::select()
            .column(user::Column::Id)
            .from(user::Entity)
            .and_where(user::Column::TeamId.in_subquery(Self::managed_teams(manager_id)))
            .to_owned()
    }

    /// The condition on `users` that keeps the CSMs whose books the caller sees.
    pub fn csms(self) -> Condition {
        match self {
            Visibility::All => Condition::all(),
            Visibility::Csm(id) => Condition::all().add(user::Column::Id.eq(id)),
            Visibility::Manager(id) => Condition::all().add(user::Column::Id.in_subquery(Self::managed_users(id))),
        }
    }

    /// The condition on `accounts` that keeps visible accounts only.
    pub fn accounts(self) -> Condition {
        match self {
            Visibility::All => Condition::all(),
            Visibility::Csm(id) => Condition::all().add(account::Column::CsmId.eq(id)),
            Visibility::Manager(id) => {
                Condition::all().add(account::Column::CsmId.in_subquery(Self::managed_users(id)))
            }
        }
    }

    /// The condition on `teams` that keeps the teams whose every account the caller sees.
    fn whole_teams(self) -> Condition {
        match self {
            Visibility::All => Condition::all(),
            Visibility::Csm(_) => Condition::any(),
            Visibility::Manager(id) => Condition::all().add(team::Column::Id.in_subquery(Self::managed_teams(id))),
        }
    }
}

/// The database as the server attaches it to the schema: only this module opens it, for a
/// [`Scope`]. Code outside it cannot take the connection back out:
///
/// ```compile_fail,E0616
/// fn steal(database: &cs_kpi::auth::scope::Database) -> &sea_orm::DatabaseConnection {
///     &database.0
/// }
/// ```
#[derive(Clone)]
pub struct Database(DatabaseConnection);

impl Database {
    pub fn new(db: DatabaseConnection) -> Database {
        Database(db)
    }
}

/// One caller's way to the database: what they may read, filtered by PRODUCT.md's visibility,
/// and the accounts they may write records for. Only this module builds one, from the request's
/// caller ([`Scope::for_reads`], [`Scope::for_writes`]); nobody else can make one up:
///
/// ```compile_fail,E0451
/// use cs_kpi::auth::{Caller, scope::{Scope, Visibility}};
/// fn forge<'a>(db: &'a sea_orm::DatabaseConnection, caller: &'a Caller) -> Scope<'a> {
///     Scope { db, caller, visibility: Visibility::All }
/// }
/// ```
///
/// nor build one without its caller's visibility, nor take its connection outside the crate:
///
/// ```compile_fail,E0624
/// fn widen<'a>(ctx: &async_graphql::Context<'a>) -> cs_kpi::auth::scope::Scope<'a> {
///     cs_kpi::auth::scope::Scope::new(ctx, |_| Ok(cs_kpi::auth::scope::Visibility::All)).unwrap()
/// }
/// ```
///
/// ```compile_fail,E0624
/// fn bare<'a>(scope: cs_kpi::auth::scope::Scope<'a>) -> &'a sea_orm::DatabaseConnection {
///     scope.connection()
/// }
/// ```
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    db: &'a DatabaseConnection,
    caller: &'a Caller,
    visibility: Visibility,
}

impl<'a> Scope<'a> {
    fn new(ctx: &Context<'a>, visibility: impl FnOnce(&Caller) -> AppResult<Visibility>) -> AppResult<Scope<'a>> {
        let caller = caller(ctx)?;
        let Database(db) = ctx.data::<Database>().map_err(|_| AppError::internal("no database in context"))?;
        Ok(Scope { db, caller, visibility: visibility(caller)? })
    }

    /// The caller's reads (`FORBIDDEN` for INTEGRATION, which reads nothing).
    pub fn for_reads(ctx: &Context<'a>) -> AppResult<Scope<'a>> {
        Self::new(ctx, Visibility::for_reads)
    }

    /// The caller's writes: the accounts they may write records for (the mutation decides
    /// whether the role may write at all).
    pub fn for_writes(ctx: &Context<'a>) -> AppResult<Scope<'a>> {
        Self::new(ctx, |caller| Ok(Visibility::for_writes(caller)))
    }

    pub fn caller(&self) -> &'a Caller {
        self.caller
    }

    pub fn visibility(&self) -> Visibility {
        self.visibility
    }

    /// The visible accounts.
    pub fn accounts(&self) -> Scoped<'a, account::Entity> {
        self.scoped(account::Entity::find().filter(self.visibility.accounts()))
    }

    /// The visible users: everyone for ADMIN and FINANCE; for a MANAGER or CSM themselves and
    /// the members of the visible teams.
    pub fn users(&self) -> Scoped<'a, user::Entity> {
        let users = match self.caller.role {
            Role::Admin | Role::Finance | Role::Integration => Condition::all(),
            Role::Manager | Role::Csm => {
                let teams = Query::select()
                    .column(team::Column::Id)
                    .from(team::Entity)
                    .cond_where(self.teams_condition())
                    .to_owned();
                Condition::any().add(user::Column::Id.eq(self.caller.id)).add(user::Column::TeamId.in_subquery(teams))
            }
        };
        self.scoped(user::Entity::find().filter(users))
    }

    /// The visible teams: every team for ADMIN and FINANCE; for a MANAGER or CSM their own team
    /// and the teams they manage.
    pub fn teams(&self) -> Scoped<'a, team::Entity> {
        self.scoped(team::Entity::find().filter(self.teams_condition()))
    }

    fn teams_condition(&self) -> Condition {
        match self.caller.role {
            Role::Admin | Role::Finance | Role::Integration => Condition::all(),
            Role::Manager | Role::Csm => {
                let mut own = Condition::any().add(Visibility::Manager(self.caller.id).whole_teams());
                if let Some(team) = self.caller.team_id {
                    own = own.add(team::Column::Id.eq(team));
                }
                own
            }
        }
    }

    /// The CSMs whose books the caller sees.
    pub fn csms(&self) -> Scoped<'a, user::Entity> {
        self.scoped(
            user::Entity::find().filter(user::Column::Role.eq(Role::Csm.as_db())).filter(self.visibility.csms()),
        )
    }

    /// `FORBIDDEN` unless the user `csm_id` is one whose book the caller sees.
    pub async fn check_csm(&self, csm_id: i64) -> AppResult<()> {
        let allowed = match self.visibility {
            Visibility::All => true,
            Visibility::Csm(me) => me == csm_id,
            Visibility::Manager(_) => {
                self.scoped(user::Entity::find().filter(self.visibility.csms()).filter(user::Column::Id.eq(csm_id)))
                    .count()
                    .await?
                    > 0
            }
        };
        if allowed { Ok(()) } else { Err(AppError::forbidden("that CSM is outside your visibility")) }
    }

    /// `FORBIDDEN` unless the caller sees every account of team `team_id`.
    pub async fn check_team(&self, team_id: i64) -> AppResult<()> {
        let allowed = match self.visibility {
            Visibility::All => true,
            Visibility::Csm(_) => false,
            Visibility::Manager(_) => {
                self.scoped(
                    team::Entity::find().filter(self.visibility.whole_teams()).filter(team::Column::Id.eq(team_id)),
                )
                .count()
                .await?
                    > 0
            }
        };
        if allowed { Ok(()) } else { Err(AppError::forbidden("that team is outside your visibility")) }
    }

    /// A write transaction (see [`begin_write`]).
    pub async fn begin_write(&self, access: WriteAccess) -> AppResult<DatabaseTransaction> {
        Ok(begin_write(self.db, access).await?)
    }

    /// The connection, for the layers below the API whose statements this scope limits: the
    /// KPI reads (over the books of [`Visibility::accounts`]) and the ingest engine (over the
    /// accounts of [`Visibility::for_writes`]). The API's resolvers never call it.
    pub(crate) fn connection(&self) -> &'a DatabaseConnection {
        self.db
    }

    fn scoped<E: EntityTrait>(&self, select: Select<E>) -> Scoped<'a, E> {
        Scoped { select, db: self.db }
    }
}

/// A query of a [`Scope`], filtered to what its caller sees; it may be narrowed, not widened.
pub struct Scoped<'a, E: EntityTrait> {
    select: Select<E>,
    db: &'a DatabaseConnection,
}

impl<E: EntityTrait> Scoped<'_, E>
where
    E::Model: Send + Sync,
{
    pub fn filter(mut self, condition: impl IntoCondition) -> Self {
        self.select = self.select.filter(condition);
        self
    }

    pub fn order_by_asc(mut self, column: impl IntoSimpleExpr) -> Self {
        self.select = self.select.order_by_asc(column);
        self
    }

    pub fn limit(mut self, rows: u64) -> Self {
        self.select = self.select.limit(rows);
        self
    }

    pub async fn all(self) -> AppResult<Vec<E::Model>> {
        Ok(self.select.all(self.db).await?)
    }

    pub async fn one(self) -> AppResult<Option<E::Model>> {
        Ok(self.select.one(self.db).await?)
    }

    pub async fn count(self) -> AppResult<u64> {
        Ok(self.select.count(self.db).await?)
    }
}
