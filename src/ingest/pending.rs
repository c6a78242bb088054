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
/// Ids a batch reserves for a table at a time.
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

/// Ids for new rows of `table`, the next one last. PostgreSQL takes them from the table's
/// sequence in one statement (batches writing beside each other may take turns within it, so
/// the ids need not be consecutive); SQLite (whose writer holds the database's write lock for
/// the whole batch, see `db::begin_write`) continues after the largest id in use, or after
/// `after`, the last id this batch handed out.
async fn reserve_ids(txn: &DatabaseTransaction, table: &str, after: Option<i64>) -> Result<Vec<i64>, DbErr> {
    let backend = txn.get_database_backend();
    let mut ids: Vec<i64> = match backend {
        DatabaseBackend::Postgres => {
            // The sequence is looked up once (`OFFSET 0` keeps the sub-query apart), not per id:
            // looked up per id, the look-up took nine tenths of the statement's time.
            let sql = format!(
                "SELECT nextval(s.sequence) AS id FROM \
                 (SELECT CAST(pg_get_serial_sequence('{table}', 'id') AS regclass) AS sequence OFFSET 0) s, \
                 generate_series(1, {RESERVE})"
            );
            let rows = txn.query_all_raw(Statement::from_string(backend, sql)).await?;
            rows.iter().map(|r| r.try_get::<i64>("", "id")).collect::<Result<_, _>>()?
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
