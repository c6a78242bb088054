//! The audit log of a batch: one row (who, when, what, before, after) per accepted change,
//! written with the batch's commit.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{ArrayType, Value};
use sea_orm::{ActiveValue::NotSet, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, Set};

use super::{Actor, Record};
use crate::base::error::{AppError, AppResult};
use crate::base::sql::Sql;
use entity::audit_log;

/// Audit rows inserted per statement: a `VALUES` list of 9 columns each, within both backends'
/// parameter limits.
const VALUES_CHUNK: usize = 500;

/// One accepted change, as JSON before (`None` for a new record) and after.
struct Change {
    entity: &'static str,
    record_key: String,
    before: Option<String>,
    after: String,
}

/// The changes of one batch: one writer, one action, one time.
pub struct AuditTrail {
    actor_id: Option<i64>,
    actor_email: String,
    action: &'static str,
    at: DateTime<Utc>,
    changes: Vec<Change>,
}

impl AuditTrail {
    pub fn new(actor: Actor<'_>, action: &'static str) -> Self {
        let (actor_id, actor_email) = match actor {
            Actor::User(caller) => (Some(caller.id), caller.email.clone()),
            Actor::CommandLine => (None, "command line".to_owned()),
        };
        AuditTrail { actor_id, actor_email, action, at: Utc::now(), changes: Vec::new() }
    }

    /// Records that `after`, keyed `key`, was written over `before`.
    pub fn record<R: Record>(&mut self, key: &str, before: Option<&R>, after: &R) -> AppResult<()> {
        let json = |r: &R| serde_json::to_string(r).map_err(AppError::internal);
        self.changes.push(Change {
            entity: R::table(),
            record_key: key.to_owned(),
            before: before.map(json).transpose()?,
            after: json(after)?,
        });
        Ok(())
    }

    /// Writes the rows, in the order of the changes. PostgreSQL gets one statement of arrays
    /// (`UNNEST`, as the ledger's upserts; a `VALUES` list of 500 rows has 4,500 values to parse
    /// and plan): the writer, action and time are the batch's, and a new record's `before`
    /// travels as `''` (never JSON), since the driver's arrays cannot carry `NULL`.
    pub async fn write(self, txn: &impl ConnectionTrait) -> Result<(), DbErr> {
        if self.changes.is_empty() {
            return Ok(());
        }
        if txn.get_database_backend() != DatabaseBackend::Postgres {
            return self.write_values(txn).await;
        }
        let column = |text: fn(&Change) -> String| {
            let values = self.changes.iter().map(|c| Value::from(text(c))).collect();
            Value::Array(ArrayType::String, Some(Box::new(values)))
        };
        let mut sql = Sql::new(DatabaseBackend::Postgres);
        sql.push(
            "INSERT INTO audit_log (actor_id, actor_email, action, entity, record_key, before, after, at) SELECT ",
        )
        .bind(self.actor_id)
        .push(", ")
        .bind(self.actor_email.clone())
        .push(", ")
        .bind(self.action)
        .push(", u.entity, u.record_key, NULLIF(u.before, ''), u.after, ")
        .bind(self.at)
        .push(" FROM UNNEST(")
        .bind(column(|c| c.entity.to_owned()))
        .push(", ")
        .bind(column(|c| c.record_key.clone()))
        .push(", ")
        .bind(column(|c| c.before.clone().unwrap_or_default()))
        .push(", ")
        .bind(column(|c| c.after.clone()))
        .push(") AS u(entity, record_key, before, after)");
        txn.execute_raw(sql.statement()).await?;
        Ok(())
    }

    async fn write_values(self, txn: &impl ConnectionTrait) -> Result<(), DbErr> {
        let AuditTrail { actor_id, actor_email, action, at, changes } = self;
        let mut rows = changes.into_iter().map(|c| audit_log::ActiveModel {
            id: NotSet,
            actor_id: Set(actor_id),
            actor_email: Set(actor_email.clone()),
            action: Set(action.to_owned()),
            entity: Set(c.entity.to_owned()),
            record_key: Set(c.record_key),
            before: Set(c.before),
            after: Set(Some(c.after)),
            at: Set(at),
        });
        loop {
            let chunk: Vec<_> = rows.by_ref().take(VALUES_CHUNK).collect();
            if chunk.is_empty() {
                return Ok(());
            }
            audit_log::Entity::insert_many(chunk).exec(txn).await?;
        }
    }
}
