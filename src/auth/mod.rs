//! Authentication (JWT bearer tokens) and the caller's identity and role.
//!
//! The token's `sub` is a user's email; role and team always come from the database, so a change
//! there takes effect on the next request.
pub mod budget;
pub mod jwks;
pub mod jwt;
pub mod scope;

use async_graphql::{Context, Guard};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::base::db_enum::db_enum;
use crate::base::error::{AppError, AppResult};

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

/// The authenticated user behind a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub team_id: Option<i64>,
}

impl Caller {
    /// Loads the user a verified token names; an unknown user is `UNAUTHENTICATED`.
    pub async fn load(db: &DatabaseConnection, email: &str) -> AppResult<Caller> {
        let user = entity::user::Entity::find()
            .filter(entity::user::Column::Email.eq(email))
            .one(db)
            .await?
            .ok_or_else(|| AppError::Unauthenticated("unknown user".into()))?;
        let role = Role::from_db(&user.role)
            .ok_or_else(|| AppError::internal(format!("user {} has role {:?}", user.id, user.role)))?;
        Ok(Caller { id: user.id, email: user.email, role, team_id: user.team_id })
    }

    pub fn is(&self, roles: &[Role]) -> bool {
        roles.contains(&self.role)
    }

    /// The audit row of a setting the caller changed (`action`, of the single row `key` of
    /// table `entity`, described before and after), stamped now.
    pub fn audit_row(
        &self,
        action: &str,
        entity: &str,
        key: i64,
        before: String,
        after: String,
    ) -> entity::audit_log::ActiveModel {
        use sea_orm::Set;
        entity::audit_log::ActiveModel {
            id: sea_orm::NotSet,
            actor_id: Set(Some(self.id)),
            actor_email: Set(self.email.clone()),
            action: Set(action.to_owned()),
            entity: Set(entity.to_owned()),
            record_key: Set(key.to_string()),
            before: Set(Some(before)),
            after: Set(Some(after)),
            at: Set(chrono::Utc::now()),
        }
    }

    /// `FORBIDDEN` unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], what: &str) -> AppResult<()> {
        if self.is(roles) { Ok(()) } else { Err(AppError::forbidden(format!("{} may not {what}", self.role.as_db()))) }
    }
}

/// The caller of the current request (the HTTP layer only executes authenticated requests).
pub fn caller<'a>(ctx: &Context<'a>) -> AppResult<&'a Caller> {
    ctx.data::<Caller>().map_err(|_| AppError::Unauthenticated("no caller".into()))
}

/// Field guard: the field resolves only for the listed roles; others get `null` and `FORBIDDEN`.
pub struct RoleGuard(pub &'static [Role]);

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let who = caller(ctx)?;
        Ok(who.require(self.0, "read this field")?)
    }
}
