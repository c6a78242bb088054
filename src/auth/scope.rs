//! The caller's visible accounts: the one place where PRODUCT.md's visibility rules live.
//!
//! | role | accounts visible |
//! |---|---|
//! | CSM | those whose CSM they are |
//! | MANAGER | those of every CSM in a team they manage |
//! | FINANCE, ADMIN | all |
//! | INTEGRATION | none for reads (`FORBIDDEN`); all for writes |
//!
//! Every query for accounts and their records filters with [`Visibility::accounts`].
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::Caller;
use crate::error::{AppError, AppResult};
use crate::org::Role;
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

    /// `users.id IN (CSMs in teams managed by manager_id)`, as a sub-select.
    fn managed_users(manager_id: i64) -> sea_orm::sea_query::SelectStatement {
        Query::select()
            .column((user::Entity, user::Column::Id))
            .from(user::Entity)
            .inner_join(
                team::Entity,
                Expr::col((team::Entity, team::Column::Id)).equals((user::Entity, user::Column::TeamId)),
            )
            .and_where(Expr::col((team::Entity, team::Column::ManagerId)).eq(manager_id))
            .to_owned()
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

    /// `FORBIDDEN` unless the user `csm_id` is one whose book the caller sees.
    pub async fn check_csm(self, db: &impl ConnectionTrait, csm_id: i64) -> AppResult<()> {
        let allowed = match self {
            Visibility::All => true,
            Visibility::Csm(me) => me == csm_id,
            Visibility::Manager(me) => {
                user::Entity::find()
                    .filter(user::Column::Id.eq(csm_id))
                    .filter(user::Column::Id.in_subquery(Self::managed_users(me)))
                    .count(db)
                    .await?
                    > 0
            }
        };
        if allowed { Ok(()) } else { Err(AppError::forbidden("that CSM is outside your visibility")) }
    }

    /// `FORBIDDEN` unless the caller sees every account of team `team_id`.
    pub async fn check_team(self, db: &impl ConnectionTrait, team_id: i64) -> AppResult<()> {
        let allowed = match self {
            Visibility::All => true,
            Visibility::Csm(_) => false,
            Visibility::Manager(me) => {
                team::Entity::find()
                    .filter(team::Column::Id.eq(team_id))
                    .filter(team::Column::ManagerId.eq(me))
                    .count(db)
                    .await?
                    > 0
            }
        };
        if allowed { Ok(()) } else { Err(AppError::forbidden("that team is outside your visibility")) }
    }
}
