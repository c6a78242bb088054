//! `cs-kpi import KIND FILE.csv --as EMAIL [--dry-run]` (PRODUCT.md, "Importing files"): a CSV
//! file (RFC 4180, through the `csv` crate: quoted fields, embedded commas and newlines, a UTF-8
//! BOM) loaded through the same `ingest` mutation integrations call, as the user EMAIL, in
//! atomic batches of up to [`BATCH_ROWS`] rows, read as it goes (memory stays flat however long
//! the file).
//!
//! The header names the fields of the kind's input type, read from the schema itself: an
//! unknown or repeated column, or a missing required one, is refused before anything is written.
//! An empty cell is null; a cell of an `Int`, `Float` or `Boolean` field must be one. Each refused
//! row is reported as `FILE:LINE: field: message` (LINE: the 1-based line where the record
//! starts; the header is line 1), and its batch writes nothing while the others do.
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
use async_graphql::{Request, Variables};
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::DatabaseConnection;
use serde_json::{Map, Value, json};

use crate::api::schema::{CsKpiSchema, schema_builder};
use crate::auth::Caller;
use crate::auth::scope::Database;
use crate::base::error::{AppError, AppResult};
use crate::ingest::DryRun;
use crate::kpis::loaders::Loaders;

/// Rows per batch.
pub const BATCH_ROWS: usize = 1_000;

/// What a file holds: its `ingest` list and input type.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportKind {
    Teams,
    Users,
    Accounts,
    Subscriptions,
    Feedback,
    Tickets,
    Usage,
    Touchpoints,
    Costs,
    Advocacy,
    FeatureRequests,
    Traffic,
}

impl ImportKind {
    /// The `IngestInput` field and the input type of its rows.
    fn ingest(self) -> (&'static str, &'static str) {
        match self {
            ImportKind::Teams => ("teams", "TeamInput"),
            ImportKind::Users => ("users", "UserInput"),
            ImportKind::Accounts => ("accounts", "AccountInput"),
            ImportKind::Subscriptions => ("subscriptions", "SubscriptionInput"),
            ImportKind::Feedback => ("feedback", "FeedbackInput"),
            ImportKind::Tickets => ("tickets", "TicketInput"),
            ImportKind::Usage => ("usage", "UsageInput"),
            ImportKind::Touchpoints => ("touchpoints", "TouchpointInput"),
            ImportKind::Costs => ("costs", "CostInput"),
            ImportKind::Advocacy => ("advocacy", "AdvocacyInput"),
            ImportKind::FeatureRequests => ("featureRequests", "FeatureRequestInput"),
            ImportKind::Traffic => ("traffic", "TrafficInput"),
        }
    }
}

/// How a file went.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: usize,
    /// Rows of the batches written (or, with `--dry-run`, that would be): created, updated,
    /// unchanged.
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    /// One `FILE:LINE: field: message` per refused row (or a batch's error, at its first line).
    pub refused: Vec<String>,
}

/// How a cell becomes a GraphQL value.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cell {
    Int,
    Float,
    Boolean,
    /// Strings, IDs, dates, instants, decimals and enum values.
    Text,
}

/// A column of the file: its field and how its cells are read.
struct Column {
    field: String,
    cell: Cell,
}

/// The fields of `input_type` in the schema: name, cell kind, and whether the field is required
/// (non-null without a default). A list field cannot come from one cell: `None` for it.
fn input_fields(input_type: &str) -> AppResult<Vec<(String, Option<Cell>, bool)>> {
    let document = parse_schema(crate::api::schema::sdl()).map_err(AppError::internal)?;
    for definition in document.definitions {
        let TypeSystemDefinition::Type(t) = definition else { continue };
        let (true, TypeKind::InputObject(input)) = (t.node.name.node == input_type, &t.node.kind) else { continue };
        return Ok(input
            .fields
            .iter()
            .map(|f| {
                let ty = &f.node.ty.node;
                let cell = match &ty.base {
                    BaseType::Named(name) => Some(match name.as_str() {
                        "Int" => Cell::Int,
                        "Float" => Cell::Float,
                        "Boolean" => Cell::Boolean,
                        _ => Cell::Text,
                    }),
                    BaseType::List(_) => None,
                };
                (f.node.name.node.to_string(), cell, !ty.nullable && f.node.default_value.is_none())
            })
            .collect());
    }
    Err(AppError::internal(format!("no input type {input_type} in the schema")))
}

/// The file's columns from its header, or the error naming what is wrong with it.
fn columns(header: &csv::StringRecord, input_type: &str, file: &str) -> AppResult<Vec<Column>> {
    let fields = input_fields(input_type)?;
    let refuse = |message: String| AppError::bad_input(format!("{file}:1: {message}"));
    let mut out: Vec<Column> = Vec::new();
    for name in header {
        let name = name.trim();
        let Some((_, cell, _)) = fields.iter().find(|(field, ..)| field == name) else {
            let known: Vec<&str> = fields.iter().map(|(f, ..)| f.as_str()).collect();
            return Err(refuse(format!("unknown column {name:?}: {input_type} has {}", known.join(", "))));
        };
        let cell = cell.ok_or_else(|| refuse(format!("column {name:?} is a list, which a CSV cell cannot hold")))?;
        if out.iter().any(|c| c.field == name) {
            return Err(refuse(format!("column {name:?} appears twice")));
        }
        out.push(Column { field: name.to_owned(), cell });
    }
    if let Some((missing, ..)) =
        fields.iter().find(|(field, _, required)| *required && !out.iter().any(|c| &c.field == field))
    {
        return Err(refuse(format!("the required column {missing:?} is missing")));
    }
    Ok(out)
}

/// One record as an input object; `Err((field, message))` for a cell of the wrong type.
fn row(record: &csv::StringRecord, columns: &[Column]) -> Result<Value, (String, String)> {
    let mut object = Map::new();
    for (column, text) in columns.iter().zip(record) {
        if text.is_empty() {
            continue;
        }
        let trimmed = text.trim();
        let refuse = |what: &str| (column.field.clone(), format!("{text:?} is {what}"));
        let value = match column.cell {
            Cell::Text => json!(text),
            Cell::Int => json!(trimmed.parse::<i64>().map_err(|_| refuse("not a whole number"))?),
            Cell::Float => json!(trimmed.parse::<f64>().map_err(|_| refuse("not a number"))?),
            Cell::Boolean => match trimmed.to_ascii_lowercase().as_str() {
                "true" => json!(true),
                "false" => json!(false),
                _ => return Err(refuse("not true or false")),
            },
        };
        object.insert(column.field.clone(), value);
    }
    if record.len() != columns.len() {
        return Err((String::new(), format!("{} cells for {} columns", record.len(), columns.len())));
    }
    Ok(Value::Object(object))
}

/// Progress on a terminal (a bar with rows, rate and time left, by bytes read), or a plain line
/// per batch when standard error is not one.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    fn new(bytes: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(bytes);
            let style = ProgressStyle::with_template("{bar:40} {percent:>3}% {msg} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Progress { bar, started: Instant::now() }
    }

    fn update(&self, file: &str, byte: u64, rows: usize) {
        let rate = rows as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        match &self.bar {
            Some(bar) => {
                bar.set_position(byte);
                bar.set_message(format!("{rows} rows, {rate:.0} rows/s"));
            }
            None => eprintln!("{file}: {rows} rows, {rate:.0} rows/s"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A batch of rows on their way, with the line each starts on; `refused` when one of its
/// records could not be read, so that it writes nothing (its other rows are still checked).
#[derive(Default)]
struct Pending {
    rows: Vec<Value>,
    lines: Vec<u64>,
    refused: bool,
}

/// Imports `path` as `kind` for the user `email`; `dry_run` checks every batch and writes none.
pub async fn import(
    db: &DatabaseConnection,
    kind: ImportKind,
    path: &Path,
    email: &str,
    dry_run: bool,
) -> AppResult<ImportReport> {
    let caller = Caller::load(db, email).await.map_err(|_| AppError::bad_input(format!("no user {email}")))?;
    let file = path.display().to_string();
    let (list, input_type) = kind.ingest();
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| AppError::bad_input(format!("{file}: {e}")))?;
    let header = reader.headers().map_err(|e| csv_error(&file, &e))?.clone();
    let columns = columns(&header, input_type, &file)?;
    let importer = Importer {
        schema: schema_builder().data(Database::new(db.clone())).finish(),
        db,
        caller,
        list,
        file: file.clone(),
        dry_run,
    };
    let progress = Progress::new(bytes);
    let mut report = ImportReport::default();
    let (mut pending, mut read) = (Pending::default(), 0);
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A record that cannot be read ends the file: its batch writes nothing.
                report.refused.push(csv_error(&file, &e).message());
                pending.refused = true;
                break;
            }
        }
        report.rows += 1;
        read += 1;
        match row(&record, &columns) {
            Ok(value) => {
                pending.rows.push(value);
                pending.lines.push(line);
            }
            Err((field, message)) => {
                report.refused.push(format!("{file}:{line}: {field}: {message}"));
                pending.refused = true;
            }
        }
        if read == BATCH_ROWS {
            importer.send(std::mem::take(&mut pending), &mut report).await?;
            read = 0;
            progress.update(&file, reader.position().byte(), report.rows);
        }
    }
    if !pending.rows.is_empty() {
        importer.send(pending, &mut report).await?;
    }
    progress.update(&file, bytes, report.rows);
    progress.finish();
    Ok(report)
}

fn csv_error(file: &str, error: &csv::Error) -> AppError {
    let line = error.position().map_or(String::new(), |p| format!("{}:", p.line()));
    let message = match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_owned(),
        _ => error.to_string(),
    };
    AppError::bad_input(format!("{file}:{line} {message}"))
}

/// Sends batches of one file through the `ingest` mutation as its user.
struct Importer<'a> {
    schema: CsKpiSchema,
    db: &'a DatabaseConnection,
    caller: Caller,
    list: &'static str,
    file: String,
    dry_run: bool,
}

impl Importer<'_> {
    /// Writes one batch; its refused rows go to the report as `FILE:LINE: field: message`.
    async fn send(&self, batch: Pending, report: &mut ImportReport) -> AppResult<()> {
        let mutation = format!(
            "mutation($input: IngestInput!) {{ ingest(input: $input) {{ {} {{ created updated unchanged }} }} }}",
            self.list
        );
        let variables = Variables::from_json(json!({ "input": { self.list: batch.rows } }));
        let mut request =
            Request::new(mutation).variables(variables).data(self.caller.clone()).data(Loaders::new(self.db));
        if self.dry_run || batch.refused {
            request = request.data(DryRun);
        }
        let response = self.schema.execute(request).await;
        if response.errors.is_empty() && !batch.refused {
            let counts = response.data.into_json().map_err(AppError::internal)?;
            let counts = &counts["ingest"][self.list];
            report.created += counts["created"].as_i64().unwrap_or(0);
            report.updated += counts["updated"].as_i64().unwrap_or(0);
            report.unchanged += counts["unchanged"].as_i64().unwrap_or(0);
            return Ok(());
        }
        for error in response.errors {
            let extensions = error.extensions.as_ref();
            let get = |key: &str| extensions.and_then(|e| e.get(key)).cloned().and_then(|v| v.into_json().ok());
            if get("code").and_then(|c| c.as_str().map(str::to_owned)).as_deref() == Some("INTERNAL") {
                return Err(AppError::internal(format!("{}: {}", self.file, error.message)));
            }
            let row = get("row").and_then(|r| r.as_u64()).map_or(0, |r| r as usize);
            let line = batch.lines.get(row).or(batch.lines.first()).copied().unwrap_or(1);
            let field = get("field").and_then(|f| f.as_str().map(str::to_owned)).unwrap_or_default();
            // The message says where in the batch ("row 3: users.teamName: ..."): the line does.
            let message = error.message.strip_prefix(&format!("row {row}: ")).unwrap_or(&error.message);
            let message = message.strip_prefix(&format!("{field}: ")).unwrap_or(message);
            let field = field.strip_prefix(&format!("{}.", self.list)).unwrap_or(&field);
            report.refused.push(format!("{}:{line}: {field}: {message}", self.file));
        }
        Ok(())
    }
}
