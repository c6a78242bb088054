//! `upsertTeams` and `upsertUsers`, and the command line's `user`.
//!
//! Teams and users reference each other: push teams (without `managerEmail`), then users (with
//! `teamName`), then the teams again with their manager. A team row without `managerEmail`
//! keeps the team's current manager; an explicit `null` removes it.
use async_graphql::{Context, InputObject, MaybeUndefined, Object};

use crate::auth::Role;
use crate::base::db::WriteAccess;
use crate::base::error::{AppError, AppResult};
use crate::ingest::{Batch, Failure, Lookups, Part, Record, UpsertResult, Writing, fetch_to_change, write_alone};
use entity::{team, user};

/// The roles that maintain the organisation.
const ORG_WRITERS: &[Role] = &[Role::Admin, Role::Integration];

#[derive(InputObject)]
pub struct TeamInput {
    pub name: String,
    pub manager_email: MaybeUndefined<String>,
}

#[derive(InputObject, Clone)]
pub struct UserInput {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub team_name: Option<String>,
}

#[derive(Default)]
pub struct OrgMutation;

#[Object]
impl OrgMutation {
    async fn upsert_teams(&self, ctx: &Context<'_>, input: Vec<TeamInput>) -> async_graphql::Result<UpsertResult> {
        write_alone(ctx, &input).await
    }

    async fn upsert_users(&self, ctx: &Context<'_>, input: Vec<UserInput>) -> async_graphql::Result<UpsertResult> {
        write_alone(ctx, &input).await
    }
}

impl Part for TeamInput {
    const MUTATION: &'static str = "upsertTeams";
    const WRITERS: &'static [Role] = ORG_WRITERS;
    /// Every account's book and visibility depend on the teams and users.
    const ACCESS: WriteAccess = WriteAccess::Exclusive;
    fn write<'b>(batch: &'b mut Batch<'_>, input: &'b [Self]) -> Writing<'b> {
        Box::pin(async move {
            let lookups = Lookups::default()
                .users(batch.txn(), input.iter().filter_map(|t| t.manager_email.value().cloned()))
                .await?;
            let mut existing = fetch_to_change::<team::Entity, String>(
                batch.txn(),
                team::Column::Name,
                input.iter().map(|t| t.name.clone()),
                |t| t.name.clone(),
            )
            .await?;
            for (row, t) in input.iter().enumerate() {
                let mut check = batch.row(row);
                check.key("name", &t.name);
                let manager = check.opt_reference(
                    "managerEmail",
                    t.manager_email.value().map(String::as_str),
                    &lookups.users,
                    "user",
                );
                if manager.is_some_and(|m| m.role != Role::Manager.as_db()) {
                    check.fail("managerEmail", "must name a user with role MANAGER");
                }
                if !check.ok() {
                    continue;
                }
                let current = existing.get(&t.name);
                let manager_id = match &t.manager_email {
                    MaybeUndefined::Undefined => current.and_then(|c| c.manager_id),
                    MaybeUndefined::Null => None,
                    MaybeUndefined::Value(_) => manager.map(|m| m.id),
                };
                let model = team::Model { id: 0, name: t.name.clone(), manager_id };
                let saved = batch.upsert(&t.name, current, model).await?;
                existing.insert(saved.name.clone(), saved);
            }
            Ok(())
        })
    }
}

impl Part for UserInput {
    const MUTATION: &'static str = "upsertUsers";
    const WRITERS: &'static [Role] = ORG_WRITERS;
    /// Every account's book and visibility depend on the teams and users.
    const ACCESS: WriteAccess = WriteAccess::Exclusive;
    fn write<'b>(batch: &'b mut Batch<'_>, input: &'b [Self]) -> Writing<'b> {
        Box::pin(apply_users(batch, input))
    }
}

/// Validates and writes user rows. An INTEGRATION never creates, changes or demotes an ADMIN:
/// such a batch is refused as a whole.
async fn apply_users(batch: &mut Batch<'_>, input: &[UserInput]) -> AppResult<()> {
    let lookups = Lookups::default().teams(batch.txn(), input.iter().filter_map(|u| u.team_name.clone())).await?;
    let mut existing = fetch_to_change::<user::Entity, String>(
        batch.txn(),
        user::Column::Email,
        input.iter().map(|u| u.email.clone()),
        |u| u.email.clone(),
    )
    .await?;
    for (row, u) in input.iter().enumerate() {
        let mut check = batch.row(row);
        check.key("email", &u.email);
        if !u.email.contains('@') {
            check.fail("email", "must be an email address");
        }
        check.key("name", &u.name);
        let team = check.opt_reference("teamName", u.team_name.as_deref(), &lookups.teams, "team");
        if !check.ok() {
            continue;
        }
        let current = existing.get(&u.email);
        let model = user::Model {
            id: 0,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.as_db().to_owned(),
            team_id: team.map(|t| t.id),
        };
        let touches_admin = u.role == Role::Admin || current.is_some_and(|c| c.role == Role::Admin.as_db());
        let unchanged = current.is_some_and(|c| model.clone().with_id(c.id) == *c);
        if batch.role() == Some(Role::Integration) && touches_admin && !unchanged {
            batch.forbid(format!("row {row}: INTEGRATION may not create, change or demote an ADMIN"));
            continue;
        }
        let saved = batch.upsert(&u.email, current, model).await?;
        existing.insert(saved.email.clone(), saved);
    }
    Ok(())
}

/// The command line's `user`: creates or updates one user (how the first ADMIN comes to exist)
/// in `batch` (see [`Batch::command_line`]), with the same checks and audit as `upsertUsers`.
pub async fn upsert_user_directly(mut batch: Batch<'_>, input: UserInput) -> AppResult<UpsertResult> {
    apply_users(&mut batch, std::slice::from_ref(&input)).await?;
    batch.commit().await.map_err(|Failure(errors)| {
        let text: Vec<String> = errors.iter().map(AppError::message).collect();
        AppError::bad_input(text.join("; "))
    })
}
