//! The audit log of a batch: one row (who, when, what, before, after) per accepted change,
//! written with the batch's commit.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{ArrayType, Value};
use sea_orm::{ActiveValue::NotSet, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, Set};

use serde::Serialize;

use super::{Actor, Record};
use crate::base::error::{AppError, AppResult};
use crate::base::sql::Sql;
use entity::audit_log;

/// Audit rows inserted per statement: a `VALUES` list of 9 columns each, within both backends'
/// parameter limits.
const VALUES_CHUNK: usize = 500;

/// One accepted change, as JSON before (`None` for a new record) and after (`None` for a
/// deleted one).
struct Change {
    entity: &'static str,
    record_key: String,
    before: Option<String>,
    after: Option<String>,
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
        self.change(R::table(), key, before, Some(after))
    }

    /// Records that `before`, keyed `key`, was deleted.
    pub fn deleted<R: Record>(&mut self, key: &str, before: &R) -> AppResult<()> {
        self.change(R::table(), key, Some(before), None)
    }

    /// Records a change of a row of `entity` (any serializable row, such as an alias).
    pub fn change<T: Serialize>(
        &mut self,
        entity: &'static str,
        key: &str,
        before: Option<&T>,
        after: Option<&T>,
    ) -> AppResult<()> {
        let json = |r: &T| serde_json::to_string(r).map_err(AppError::internal);
        self.changes.push(Change {
            entity,
            record_key: key.to_owned(),
            before: before.map(json).transpose()?,
            after: after.map(json).transpose()?,
        });
        Ok(())
    }

    /// Writes the rows, in the order of the changes. PostgreSQL gets one statement of arrays
    /// (`UNNEST`, as the ledger's upserts; a `VALUES` list of 500 rows has 4,500 values to parse
    /// and plan): the writer, action and time are the batch's, and a new record's `before` (a
    /// deleted one's `after`) travels as `''` (never JSON), since the driver's arrays cannot
    /// carry `NULL`.
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
        .push(", u.entity, u.record_key, NULLIF(u.before, ''), NULLIF(u.after, ''), ")
        .bind(self.at)
        .push(" FROM UNNEST(")
        .bind(column(|c| c.entity.to_owned()))
        .push(", ")
        .bind(column(|c| c.record_key.clone()))
        .push(", ")
        .bind(column(|c| c.before.clone().unwrap_or_default()))
        .push(", ")
        .bind(column(|c| c.after.clone().unwrap_or_default()))
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
            after: Set(c.after),
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

/// The erasure of survey comments (PRODUCT.md, "Deleting and merging"): in every audit row of
/// the feedback records `keys`, before and after, a comment becomes `[erased]`, so that no copy
/// of the text is left once the record is deleted.
pub async fn erase_comments(txn: &impl ConnectionTrait, keys: &[String]) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    for chunk in keys.chunks(VALUES_CHUNK) {
        let mut select = Sql::new(backend);
        select.push("SELECT id, before, after FROM audit_log WHERE entity = 'feedback' AND record_key IN (");
        for (i, key) in chunk.iter().enumerate() {
            select.push(if i == 0 { "" } else { ", " }).bind(key.clone());
        }
        select.push(")");
        for row in txn.query_all_raw(select.statement()).await? {
            let id: i64 = row.try_get("", "id")?;
            let before: Option<String> = row.try_get("", "before")?;
            let after: Option<String> = row.try_get("", "after")?;
            let erase = |json: &Option<String>| json.as_deref().and_then(erased);
            let (new_before, new_after) = (erase(&before), erase(&after));
            if new_before.is_none() && new_after.is_none() {
                continue;
            }
            let mut update = Sql::new(backend);
            update
                .push("UPDATE audit_log SET before = ")
                .bind(new_before.or(before))
                .push(", after = ")
                .bind(new_after.or(after))
                .push(" WHERE id = ")
                .bind(id);
            txn.execute_raw(update.statement()).await?;
        }
    }
    Ok(())
}

/// A feedback record's JSON with its comment replaced by `[erased]`; `None` when it has none
/// to erase (or is not JSON).
fn erased(json: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(json).ok()?;
    let comment = value.get_mut("comment").filter(|c| c.is_string() && c.as_str() != Some(ERASED))?;
    *comment = serde_json::Value::String(ERASED.to_owned());
    Some(value.to_string())
}

const ERASED: &str = "[erased]";
