//! The organisation: users, their roles, and teams.
mod ingest;

pub use ingest::{OrgMutation, TeamInput, UserInput, upsert_user_directly};

use crate::auth::scope::Scope;
use crate::auth::{Role, caller};
use crate::base::error::{AppError, AppResult};
use crate::kpis::loaders::loaders;
use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};
use entity::{team, user};

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
            role: crate::base::db_enum::decode(&m.role, Role::from_db)?,
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

    #[graphql(complexity = "crate::api::cost::nested_list(child_complexity)")]
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<User>> {
        let members = loaders(ctx)?.team_members.load_one(self.0.id).await?.unwrap_or_default();
        Ok(User::from_models(members)?)
    }
}

/// Parses a GraphQL `ID` of a stored record; anything else names nothing.
pub fn parse_id(id: &ID) -> Option<i64> {
    id.parse::<i64>().ok()
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

    #[graphql(complexity = "crate::api::cost::listing(child_complexity)")]
    async fn users(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<User>> {
        let users = Scope::for_reads(ctx)?.users().order_by_asc(user::Column::Email).all().await?;
        Ok(User::from_models(users)?)
    }

    #[graphql(complexity = "crate::api::cost::listing(child_complexity)")]
    async fn teams(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Team>> {
        let teams = Scope::for_reads(ctx)?.teams().order_by_asc(team::Column::Name).all().await?;
        Ok(teams.into_iter().map(Team).collect())
    }
}
