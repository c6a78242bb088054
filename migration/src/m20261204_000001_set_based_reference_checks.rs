//! On PostgreSQL, the references of the high-volume records (survey responses, tickets, usage,
//! touchpoints, advocacy, feature requests) to their account, and of touchpoints to their CSM,
//! are checked once per statement instead of once per row; the audit log's actor is no longer a
//! foreign key.
//!
//! A foreign key checks each inserted row with its own query, which also locks the referenced
//! row: a fifth of the database's time in a bulk load, where one statement inserts hundreds of
//! rows for a few dozen accounts. Here each insert or update statement runs one query over all
//! its rows (an `AFTER ... FOR EACH STATEMENT` trigger over the statement's new rows), and a
//! delete from `accounts` or `users` that would leave a record without its account or CSM is
//! refused the same way, as `ON DELETE RESTRICT` did. Both raise `foreign_key_violation`. The
//! referenced rows are not locked: nothing deletes accounts or users, so a row that a statement
//! finds (committed, or written by its own batch) stays, whichever batches write beside it.
//!
//! The audit log records every accepted change with its actor's email; it must outlive the
//! actor's user row rather than stop that row from ever being deleted, so its `actor_id` is
//! kept as a plain column.
//!
//! SQLite keeps its foreign keys: it cannot drop one without rebuilding the table, and its
//! checks cost far less than PostgreSQL's.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::m20261123_000001_initial::fk;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000001_set_based_reference_checks"
    }
}

/// The references checked per statement: `(table, column, referenced table)`.
const REFERENCES: [(&str, &str, &str); 7] = [
    ("feedback", "account_id", "accounts"),
    ("tickets", "account_id", "accounts"),
    ("touchpoints", "account_id", "accounts"),
    ("touchpoints", "csm_id", "users"),
    ("advocacy", "account_id", "accounts"),
    ("feature_requests", "account_id", "accounts"),
    ("usage_records", "account_id", "accounts"),
];

/// After each statement of [`EVENTS`]: `TG_ARGV` = (column, referenced table).
const CHECK_NEW_ROWS: &str = r#"
CREATE FUNCTION check_new_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    EXECUTE format(
        'SELECT n.%1$I::text FROM new_rows n WHERE n.%1$I IS NOT NULL '
        'AND NOT EXISTS (SELECT 1 FROM %2$I p WHERE p.id = n.%1$I) LIMIT 1',
        TG_ARGV[0], TG_ARGV[1]) INTO missing;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "%" violates its reference to "%"', TG_TABLE_NAME, TG_ARGV[1]
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (%s)=(%s) is not present in table "%s".', TG_ARGV[0], missing, TG_ARGV[1]);
    END IF;
    RETURN NULL;
END
$$"#;

/// `AFTER DELETE` on a referenced table: `TG_ARGV` = (table, column) pairs of its references.
const CHECK_OLD_ROWS: &str = r#"
CREATE FUNCTION check_no_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    still text;
BEGIN
    FOR i IN 0 .. TG_NARGS - 1 BY 2 LOOP
        EXECUTE format(
            'SELECT o.id::text FROM old_rows o WHERE EXISTS (SELECT 1 FROM %I c WHERE c.%I = o.id) LIMIT 1',
            TG_ARGV[i], TG_ARGV[i + 1]) INTO still;
        IF still IS NOT NULL THEN
            RAISE EXCEPTION 'delete on table "%" violates the reference from "%"', TG_TABLE_NAME, TG_ARGV[i]
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = format('Key (id)=(%s) is still referenced from table "%s".', still, TG_ARGV[i]);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$"#;

/// The statements whose new rows are checked (a trigger with a transition table has one event).
const EVENTS: [&str; 2] = ["insert", "update"];

/// The trigger that checks `table.column` after each `event` statement.
fn trigger(table: &str, column: &str, event: &str) -> String {
    format!("{table}_{column}_{event}")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(CHECK_NEW_ROWS).await?;
        db.execute_unprepared(CHECK_OLD_ROWS).await?;
        for (table, column, referenced) in REFERENCES {
            db.execute_unprepared(&format!("ALTER TABLE {table} DROP CONSTRAINT fk_{table}_{column}")).await?;
            for event in EVENTS {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER {} AFTER {event} ON {table} \
                     REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT \
                     EXECUTE FUNCTION check_new_references('{column}', '{referenced}')",
                    trigger(table, column, event)
                ))
                .await?;
            }
        }
        for referenced in ["accounts", "users"] {
            let pairs: Vec<String> = REFERENCES
                .iter()
                .filter(|r| r.2 == referenced)
                .map(|(table, column, _)| format!("'{table}', '{column}'"))
                .collect();
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {referenced}_referenced AFTER DELETE ON {referenced} \
                 REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT \
                 EXECUTE FUNCTION check_no_references({})",
                pairs.join(", ")
            ))
            .await?;
        }
        db.execute_unprepared("ALTER TABLE audit_log DROP CONSTRAINT fk_audit_log_actor_id").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        manager.create_foreign_key(fk("audit_log", "actor_id", "users")).await?;
        for referenced in ["accounts", "users"] {
            db.execute_unprepared(&format!("DROP TRIGGER {referenced}_referenced ON {referenced}")).await?;
        }
        for (table, column, referenced) in REFERENCES {
            for event in EVENTS {
                db.execute_unprepared(&format!("DROP TRIGGER {} ON {table}", trigger(table, column, event))).await?;
            }
            manager.create_foreign_key(fk(table, column, referenced)).await?;
        }
        db.execute_unprepared("DROP FUNCTION check_no_references()").await?;
        db.execute_unprepared("DROP FUNCTION check_new_references()").await?;
        Ok(())
    }
}
