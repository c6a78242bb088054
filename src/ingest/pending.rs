//! The records a batch creates, written together: their ids are reserved up front, so a later
//! row of the batch can refer to a record created by an earlier one, and the rows go to the
//! database in multi-row `INSERT`s, in the order they were created (so references between them
//! are satisfied row by row).
use std::any::Any;
use std::collections::HashMap;
use std::pin::Pin;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, EntityTrait, Statement};

use super::Record;

/// Rows per `INSERT` (at most 14 columns each: well within both backends' parameter limits).
pub const INSERT_CHUNK: usize = 500;
/// Ids a PostgreSQL batch takes from a table's sequence at a time.
const RESERVE: i64 = 500;

type Flush<'t> = Pin<Box<dyn Future<Output = Result<(), DbErr>> + Send + 't>>;

/// The pending records of one table, whatever its record type.
pub trait PendingTable: Send {
    fn table(&self) -> &'static str;
    fn as_any(&mut self) -> &mut dyn Any;
    /// How many rows wait to be written.
    fn len(&self) -> usize;
    /// Writes the waiting rows; the reserved ids stay for the rows still to come.
    fn flush<'t>(&'t mut self, txn: &'t DatabaseTransaction) -> Flush<'t>;
}

/// Pending records of type `R`, and the ids reserved for the next ones.
pub struct Pending<R: Record> {
    rows: Vec<R>,
    /// Where each pending record (by id) sits in `rows`.
    position: HashMap<i64, usize>,
    /// Reserved ids not handed out yet (the next one last).
    reserved: Vec<i64>,
}

impl<R: Record> Pending<R> {
    pub fn new() -> Self {
        Pending { rows: Vec::new(), position: HashMap::new(), reserved: Vec::new() }
    }

    /// The id for the next record, reserving more when none is left.
    pub async fn next_id(&mut self, txn: &DatabaseTransaction) -> Result<i64, DbErr> {
        if self.reserved.is_empty() {
            self.reserved = reserve_ids(txn, R::table(), self.rows.last().map(R::id)).await?;
        }
        self.reserved.pop().ok_or_else(|| DbErr::Custom(format!("no id reserved for {}", R::table())))
    }

    pub fn push(&mut self, record: R) {
        self.position.insert(record.id(), self.rows.len());
        self.rows.push(record);
    }

    /// Replaces a record created earlier in the batch and not written yet; false if there is none.
    pub fn replace(&mut self, record: &R) -> bool {
        match self.position.get(&record.id()) {
            Some(&at) => {
                self.rows[at] = record.clone();
                true
            }
            None => false,
        }
    }
}

impl<R: Record> PendingTable for Pending<R> {
    fn table(&self) -> &'static str {
        R::table()
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn flush<'t>(&'t mut self, txn: &'t DatabaseTransaction) -> Flush<'t> {
        Box::pin(async move {
            self.position.clear();
            let rows = std::mem::take(&mut self.rows);
            for chunk in rows.chunks(INSERT_CHUNK) {
                R::Entity::insert_many(chunk.iter().cloned().map(Record::for_insert))
                    .exec_without_returning(txn)
                    .await?;
            }
            Ok(())
        })
    }
}

/// Ids for new rows of `table`, the next one last. PostgreSQL advances the table's sequence
/// past them; SQLite (whose writer holds the database's write lock for the whole batch, see
/// `db::begin_write`) continues after the largest id in use, or after `after`, the last id
/// this batch handed out.
async fn reserve_ids(txn: &DatabaseTransaction, table: &str, after: Option<i64>) -> Result<Vec<i64>, DbErr> {
    let backend = txn.get_database_backend();
    let mut ids: Vec<i64> = match backend {
        DatabaseBackend::Postgres => {
            // One step of RESERVE values instead of RESERVE calls of nextval (5 s of the 10,000
            // accounts' load): safe because no other transaction takes ids of these tables
            // meanwhile, every writer holding the writer slot.
            let sequence = format!("pg_get_serial_sequence('{table}', 'id')");
            let sql = format!("SELECT setval({sequence}, nextval({sequence}) + {RESERVE} - 1) AS id");
            let row = txn.query_one_raw(Statement::from_string(backend, sql)).await?;
            let last = row.map(|r| r.try_get::<i64>("", "id")).transpose()?.unwrap_or(0);
            (last + 1 - RESERVE..=last).collect()
        }
        _ => {
            let last = match after {
                Some(id) => id,
                None => {
                    let sql = format!(
                        "SELECT MAX(COALESCE((SELECT MAX(id) FROM {table}), 0), \
                         COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0)) AS id"
                    );
                    let row = txn.query_one_raw(Statement::from_string(backend, sql)).await?;
                    row.map(|r| r.try_get::<i64>("", "id")).transpose()?.unwrap_or(0)
                }
            };
            (last + 1..=last + RESERVE).collect()
        }
    };
    ids.reverse();
    Ok(ids)
}
