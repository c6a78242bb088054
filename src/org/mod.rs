//! The organisation: users, their roles, and teams.
mod ingest;

pub use ingest::{OrgMutation, TeamInput, UserInput, upsert_user_directly};

use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};

use crate::auth::{Caller, caller};
use crate::db_enum::db_enum;
use crate::error::{AppError, AppResult};
use crate::loaders::{database, loaders};
use entity::{team, user};

db_enum!(
    /// What a user may see and do (PRODUCT.md, "Roles and what each may see").
    Role {
        Admin => "ADMIN",
        Manager => "MANAGER",
        Csm => "CSM",
        Finance => "FINANCE",
        Integration => "INTEGRATION",
    }
);

/// A user as the API shows it.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct User {
    pub id: ID,
    pub email: String,
    pub name: String,
    pub role: Role,
    #[graphql(skip)]
    pub team_id: Option<i64>,
}

impl User {
    pub fn from_model(m: user::Model) -> AppResult<User> {
        Ok(User {
            id: ID(m.id.to_string()),
            email: m.email,
            name: m.name,
            role: crate::db_enum::decode(&m.role, Role::from_db)?,
            team_id: m.team_id,
        })
    }

    pub fn from_models(models: Vec<user::Model>) -> AppResult<Vec<User>> {
        models.into_iter().map(User::from_model).collect()
    }

    /// Loads one user by id through the request's loader.
    pub async fn load(ctx: &Context<'_>, id: Option<i64>) -> AppResult<Option<User>> {
        let Some(id) = id else { return Ok(None) };
        loaders(ctx)?.users.load_one(id).await?.map(User::from_model).transpose()
    }
}

#[ComplexObject]
impl User {
    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        let Some(id) = self.team_id else { return Ok(None) };
        Ok(loaders(ctx)?.teams.load_one(id).await?.map(Team))
    }
}

pub struct Team(pub team::Model);

#[Object]
impl Team {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn manager(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(User::load(ctx, self.0.manager_id).await?)
    }

    #[graphql(complexity = "crate::schema::cost::nested_list(child_complexity)")]
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<User>> {
        let members = loaders(ctx)?.team_members.load_one(self.0.id).await?.unwrap_or_default();
        Ok(User::from_models(members)?)
    }
}

/// Parses a GraphQL `ID` of a stored record; anything else names nothing.
pub fn parse_id(id: &ID) -> Option<i64> {
    id.parse::<i64>().ok()
}

/// Users and teams a caller may list: everyone for ADMIN and FINANCE; for a MANAGER or CSM
/// their own team and the teams they manage.
fn visible_teams(caller: &Caller) -> AppResult<Condition> {
    match caller.role {
        Role::Admin | Role::Finance => Ok(Condition::all()),
        Role::Integration => Err(AppError::forbidden("INTEGRATION may not read data")),
        Role::Manager | Role::Csm => {
            let mut own = Condition::any().add(team::Column::ManagerId.eq(caller.id));
            if let Some(team) = caller.team_id {
                own = own.add(team::Column::Id.eq(team));
            }
            Ok(own)
        }
    }
}

#[derive(Default)]
pub struct OrgQuery;

#[Object]
impl OrgQuery {
    /// The authenticated caller.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let me = caller(ctx)?;
        let model = loaders(ctx)?
            .users
            .load_one(me.id)
            .await?
            .ok_or_else(|| AppError::Unauthenticated("unknown user".into()))?;
        Ok(User::from_model(model)?)
    }

    #[graphql(complexity = "crate::schema::cost::listing(child_complexity)")]
    async fn users(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<User>> {
        let me = caller(ctx)?;
        let teams = visible_teams(me)?;
        let mut query = user::Entity::find().order_by_asc(user::Column::Email);
        if !matches!(me.role, Role::Admin | Role::Finance) {
            let team_ids = sea_orm::sea_query::Query::select()
                .column(team::Column::Id)
                .from(team::Entity)
                .cond_where(teams)
                .to_owned();
            query = query.filter(
                Condition::any().add(user::Column::Id.eq(me.id)).add(user::Column::TeamId.in_subquery(team_ids)),
            );
        }
        Ok(User::from_models(query.all(database(ctx)?).await.map_err(AppError::from)?)?)
    }

    #[graphql(complexity = "crate::schema::cost::listing(child_complexity)")]
    async fn teams(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Team>> {
        let condition = visible_teams(caller(ctx)?)?;
        let teams = team::Entity::find()
            .filter(condition)
            .order_by_asc(team::Column::Name)
            .all(database(ctx)?)
            .await
            .map_err(AppError::from)?;
        Ok(teams.into_iter().map(Team).collect())
    }
}
