//! `GET /export/DATASET.csv` and `GET /export/DATASET.jsonl` (PRODUCT.md, "Exports for BI
//! tools"): the answer of a GraphQL query as a file, for tools that cannot send GraphQL.
//!
//! An export *is* a GraphQL query: its dataset names the root field, its query parameters become
//! the field's arguments (as variables), its columns the selection. It runs through the same
//! schema, resolvers, role guards and read turns as `/graphql`, as the caller the bearer token
//! names, so its values are the GraphQL values by construction.
//!
//! Columns are GraphQL field names: a field of an object field is `account.externalId`, and a
//! list of scalars is one column per index (`retention.0`, `retention.1`, ...; as many as the
//! first page's longest list). By default a dataset has every scalar field of its row, and of
//! each object field of its row (lists of records are left out), except the fields the
//! caller's role may not read; `fields=a,b.c` picks columns (an object field names all its
//! scalar fields). JSONL keeps the GraphQL shape, one row per line.
//!
//! Memory stays flat: `accounts` and `renewals` are read a GraphQL page at a time and
//! `mrr-movements` a period at a time, each written out before the next is read. The `ETag`
//! names the build, the day, the caller, the request and the data version (which every write
//! bumps, see `base::db::commit_write`), so `If-None-Match` is answered `304` without running
//! anything.
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
use async_graphql::{PathSegment, Request, ServerError, Variables};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use futures_util::StreamExt;
use sea_orm::DatabaseConnection;
use serde_json::{Map, Value, json};

use crate::api::accounts::MAX_PAGE;
use crate::api::fair_use::Unmetered;
use crate::api::product::MAX_REQUEST_GROUPS;
use crate::api::schema::CsKpiSchema;
use crate::auth::Caller;
use crate::auth::budget::Budgets;
use crate::base::error::{AppError, AppResult, code, correlation_id, internal_message};
use crate::base::scalars::Date;
use crate::execution::{Availability, RETRY_AFTER_OUTAGE_SECONDS, ReadTurns, ensure_code, error_code};
use crate::kpis::loaders::Loaders;
use crate::kpis::period::periods;
use crate::kpis::{Granularity, PeriodInput};

/// What an export runs with: the server's schema, database and read turns.
#[derive(Clone)]
pub struct Exporter {
    pub schema: CsKpiSchema,
    pub db: DatabaseConnection,
    pub turns: Arc<ReadTurns>,
    /// How long each page (its wait for a turn included) may take.
    pub page_timeout: Duration,
    /// Fair use: the export's first page is charged as a request; the others ride on it.
    pub budgets: Option<Arc<Budgets>>,
    /// Told when a page finds the database unreachable.
    pub availability: Arc<Availability>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Format {
    Csv,
    Jsonl,
}

/// An argument of a dataset's root field, made of query parameters of the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Argument {
    /// `period: {from, to, granularity}`
    Period,
    /// `scope: {csmId, teamId, segment}`
    Scope,
    GroupBy,
    CsmId,
    /// `filter: {segment, csmId, teamId, healthStatus, search}` of `accounts`.
    Filter,
    /// `from` and `to`, as dates.
    Dates,
    Metric,
    Months,
    /// `first: 100`: every group `featureRequests` answers.
    AllGroups,
}

impl Argument {
    fn params(self) -> &'static [&'static str] {
        match self {
            Argument::Period => &["from", "to", "granularity"],
            Argument::Scope => &["csmId", "teamId", "segment"],
            Argument::GroupBy => &["groupBy"],
            Argument::CsmId => &["csmId"],
            Argument::Filter => &["segment", "csmId", "teamId", "healthStatus", "search"],
            Argument::Dates => &["from", "to"],
            Argument::Metric => &["metric"],
            Argument::Months => &["months"],
            Argument::AllGroups => &[],
        }
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            Argument::Period | Argument::Dates => &["from", "to"],
            Argument::Metric => &["metric"],
            _ => &[],
        }
    }

    /// Its variables from the parameters, each with its declaration, and the argument's text;
    /// nothing when no parameter of it is given (the field's default applies).
    fn spelled(self, params: &Params) -> AppResult<Option<Spelled>> {
        let object = |names: &[&str]| {
            let fields: Map<String, Value> =
                names.iter().filter_map(|&n| Some((n.to_owned(), Value::String(params.get(n)?.to_owned())))).collect();
            (!fields.is_empty()).then_some(Value::Object(fields))
        };
        let text = |name: &str| params.get(name).map(|v| Value::String(v.to_owned()));
        let one = |name: &'static str, declared: &'static str, value: Option<Value>| {
            value.map(|value| (vec![(name, declared, value)], format!("{name}: ${name}")))
        };
        Ok(match self {
            Argument::Period => one("period", "PeriodInput!", object(self.params())),
            Argument::Scope => one("scope", "ScopeInput", object(self.params())),
            Argument::Filter => one("filter", "AccountFilter", object(self.params())),
            Argument::GroupBy => one("groupBy", "Dimension", text("groupBy")),
            Argument::CsmId => one("csmId", "ID", text("csmId")),
            Argument::Metric => one("metric", "CohortMetric!", text("metric")),
            Argument::Months => {
                let months = params
                    .get("months")
                    .map(|m| m.parse::<i32>().map_err(|_| AppError::invalid(None, "months", "not a whole number")))
                    .transpose()?;
                one("months", "Int", months.map(Value::from))
            }
            Argument::Dates => Some((
                vec![
                    ("from", "Date!", text("from").unwrap_or_default()),
                    ("to", "Date!", text("to").unwrap_or_default()),
                ],
                "from: $from, to: $to".to_owned(),
            )),
            Argument::AllGroups => Some((Vec::new(), format!("first: {MAX_REQUEST_GROUPS}"))),
        })
    }
}

/// The variables of an argument (name, declared type, value) and the argument's text.
type Spelled = (Vec<(&'static str, &'static str, Value)>, String);

/// How a dataset is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Paging {
    /// In one query.
    Whole,
    /// A period of `period` at a time (rows ordered by period first).
    ByPeriod,
    /// A connection, page by page (`edges.node`, `pageInfo`).
    ByCursor,
}

struct Dataset {
    name: &'static str,
    /// The root field and the type of its rows.
    field: &'static str,
    row_type: &'static str,
    arguments: &'static [Argument],
    paging: Paging,
}

const DATASETS: [Dataset; 7] = [
    Dataset {
        name: "kpis",
        field: "kpis",
        row_type: "KpiSnapshot",
        arguments: &[Argument::Period, Argument::Scope, Argument::GroupBy],
        paging: Paging::Whole,
    },
    Dataset {
        name: "mrr-movements",
        field: "mrrMovements",
        row_type: "MrrMovement",
        arguments: &[Argument::Period, Argument::Scope],
        paging: Paging::ByPeriod,
    },
    Dataset {
        name: "accounts",
        field: "accounts",
        row_type: "Account",
        arguments: &[Argument::Filter],
        paging: Paging::ByCursor,
    },
    Dataset {
        name: "scorecards",
        field: "csmScorecards",
        row_type: "CsmScorecard",
        arguments: &[Argument::Period, Argument::CsmId],
        paging: Paging::Whole,
    },
    Dataset {
        name: "feature-requests",
        field: "featureRequests",
        row_type: "FeatureRequestSummary",
        arguments: &[Argument::Period, Argument::Scope, Argument::AllGroups],
        paging: Paging::Whole,
    },
    Dataset {
        name: "renewals",
        field: "renewals",
        row_type: "Renewal",
        arguments: &[Argument::Dates, Argument::Scope],
        paging: Paging::ByCursor,
    },
    Dataset {
        name: "cohorts",
        field: "cohorts",
        row_type: "CohortRow",
        arguments: &[Argument::Dates, Argument::Metric, Argument::Scope, Argument::Months],
        paging: Paging::Whole,
    },
];

/// The parameters that are not arguments: `on` (the date of every column that takes one, such
/// as `mrr` and `health`) and `fields`.
const ON: &str = "on";
const FIELDS: &str = "fields";

/// The query parameters, each given once.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A field of an object type of the schema.
struct FieldShape {
    name: String,
    /// The named type, inside the list for a list.
    type_name: String,
    list: bool,
    takes_on: bool,
    /// It has an argument without a default that must be given.
    needs_arguments: bool,
}

/// The object types of the schema and their fields, in the schema's order.
fn object_types() -> &'static HashMap<String, Vec<FieldShape>> {
    static TYPES: OnceLock<HashMap<String, Vec<FieldShape>>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let mut types = HashMap::new();
        let document = match parse_schema(crate::api::schema::sdl()) {
            Ok(document) => document,
            Err(e) => {
                tracing::error!(error = %e, "the schema's SDL does not parse: no export has columns");
                return types;
            }
        };
        for definition in document.definitions {
            let TypeSystemDefinition::Type(t) = definition else { continue };
            let TypeKind::Object(object) = &t.node.kind else { continue };
            let fields = object
                .fields
                .iter()
                .map(|f| {
                    let ty = &f.node.ty.node;
                    let (type_name, list) = match &ty.base {
                        BaseType::Named(name) => (name.to_string(), false),
                        BaseType::List(inner) => (inner.base.to_string(), true),
                    };
                    let arguments = &f.node.arguments;
                    FieldShape {
                        name: f.node.name.node.to_string(),
                        type_name,
                        list,
                        takes_on: arguments.iter().any(|a| a.node.name.node == ON),
                        needs_arguments: arguments
                            .iter()
                            .any(|a| !a.node.ty.node.nullable && a.node.default_value.is_none()),
                    }
                })
                .collect();
            types.insert(t.node.name.node.to_string(), fields);
        }
        types
    })
}

fn fields_of(type_name: &str) -> &'static [FieldShape] {
    object_types().get(type_name).map_or(&[], Vec::as_slice)
}

fn is_record(type_name: &str) -> bool {
    object_types().contains_key(type_name)
}

/// A column: the field names from the row to a scalar (or a list of scalars, one column per
/// index).
#[derive(Clone, Debug, PartialEq)]
struct Column {
    path: Vec<&'static str>,
    list: bool,
}

/// The scalar fields of an object field (its lists of records left out), as columns below
/// `path`.
fn scalar_columns(path: &[&'static str], type_name: &str) -> Vec<Column> {
    fields_of(type_name)
        .iter()
        .filter(|f| !is_record(&f.type_name) && !f.needs_arguments)
        .map(|f| Column { path: [path, &[f.name.as_str()]].concat(), list: f.list })
        .collect()
}

/// The columns a dataset has unless `fields` names them: its row's scalars and the scalars of
/// its object fields, but not the KPIs the caller's role may not read (`metricCatalog`).
fn default_columns(dataset: &Dataset, caller: &Caller) -> Vec<Column> {
    let unreadable: Vec<String> = if dataset.row_type == "KpiSnapshot" {
        crate::kpis::catalog::metrics()
            .into_iter()
            .filter(|m| !m.roles.contains(&caller.role))
            .map(|m| m.name)
            .collect()
    } else {
        Vec::new()
    };
    let mut columns = Vec::new();
    for field in fields_of(dataset.row_type) {
        if field.needs_arguments || unreadable.contains(&field.name) {
            continue;
        }
        match (is_record(&field.type_name), field.list) {
            (true, true) => {}
            (true, false) => columns.extend(scalar_columns(&[field.name.as_str()], &field.type_name)),
            (false, list) => columns.push(Column { path: vec![field.name.as_str()], list }),
        }
    }
    columns
}

/// The columns `fields` names (comma-separated paths), or the `BAD_USER_INPUT` that names the
/// first wrong one.
fn named_columns(dataset: &Dataset, fields: &str) -> AppResult<Vec<Column>> {
    let mut columns: Vec<Column> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for name in fields.split(',').map(str::trim) {
        let refuse = |message: String| AppError::invalid(None, FIELDS, message);
        if names.contains(&name) {
            return Err(refuse(format!("{name:?} is named twice")));
        }
        names.push(name);
        let mut path = Vec::new();
        let mut type_name = dataset.row_type;
        let mut steps = name.split('.').peekable();
        loop {
            let step = steps.next().unwrap_or_default();
            let Some(field) = fields_of(type_name).iter().find(|f| f.name == step && !f.needs_arguments) else {
                let known: Vec<&str> = fields_of(type_name).iter().map(|f| f.name.as_str()).collect();
                return Err(refuse(format!("unknown field {name:?}: {type_name} has {}", known.join(", "))));
            };
            path.push(field.name.as_str());
            let last = steps.peek().is_none();
            match (is_record(&field.type_name), field.list, last) {
                (true, true, _) => {
                    return Err(refuse(format!("{name:?} is a list of records, which columns cannot hold")));
                }
                (true, false, true) => {
                    columns.extend(scalar_columns(&path, &field.type_name));
                    break;
                }
                (true, false, false) => type_name = &field.type_name,
                (false, list, true) => {
                    columns.push(Column { path, list });
                    break;
                }
                (false, _, false) => return Err(refuse(format!("unknown field {name:?}: {step} has no fields"))),
            }
        }
    }
    if let Some((_, column)) = columns.iter().enumerate().find(|(i, c)| columns[..*i].contains(c)) {
        let name = column.path.join(".");
        return Err(AppError::invalid(None, FIELDS, format!("column {name:?} is named twice")));
    }
    Ok(columns)
}

/// The GraphQL selection of the columns, each field taking `on` given the date.
fn selection(columns: &[Column], row_type: &str, on: bool) -> String {
    fn select(out: &mut String, columns: &[&[&str]], type_name: &str, on: bool) {
        let mut done: Vec<&str> = Vec::new();
        for path in columns {
            let Some((&name, _)) = path.split_first() else { continue };
            if done.contains(&name) {
                continue;
            }
            done.push(name);
            let Some(field) = fields_of(type_name).iter().find(|f| f.name == name) else { continue };
            out.push_str(name);
            if on && field.takes_on {
                out.push_str("(on: $on)");
            }
            if is_record(&field.type_name) {
                let below: Vec<&[&str]> =
                    columns.iter().filter(|p| p.first() == Some(&name)).map(|p| &p[1..]).collect();
                out.push_str(" { ");
                select(out, &below, &field.type_name, on);
                out.push('}');
            }
            out.push(' ');
        }
    }
    let paths: Vec<&[&str]> = columns.iter().map(|c| c.path.as_slice()).collect();
    let mut out = String::new();
    select(&mut out, &paths, row_type, on);
    out
}

/// Whether some column's field takes `on`.
fn takes_on(columns: &[Column], row_type: &str) -> bool {
    columns.iter().any(|column| {
        let mut type_name = row_type;
        column.path.iter().any(|name| {
            let field = fields_of(type_name).iter().find(|f| f.name == *name);
            type_name = field.map_or("", |f| f.type_name.as_str());
            field.is_some_and(|f| f.takes_on)
        })
    })
}

/// One export: its GraphQL document, variables, and where it is in the dataset.
struct Plan {
    dataset: &'static Dataset,
    format: Format,
    columns: Vec<Column>,
    query: String,
    variables: Map<String, Value>,
    /// `ByPeriod`: the periods still to read, as `period` variables.
    periods: Vec<Value>,
}

fn plan(dataset: &'static Dataset, format: Format, params: &Params, caller: &Caller) -> AppResult<Plan> {
    if !is_record(dataset.row_type) {
        return Err(AppError::internal(format!("the schema has no type {}", dataset.row_type)));
    }
    let columns = match params.get(FIELDS) {
        Some(fields) => named_columns(dataset, fields)?,
        None => default_columns(dataset, caller),
    };
    let mut declarations = Vec::new();
    let mut arguments = Vec::new();
    let mut variables = Map::new();
    for argument in dataset.arguments {
        if let Some(missing) = argument.required().iter().find(|p| params.get(p).is_none()) {
            return Err(AppError::invalid(None, missing, format!("{missing} is required for {}", dataset.name)));
        }
        let Some((values, text)) = argument.spelled(params)? else { continue };
        for (name, declared, value) in values {
            declarations.push(format!("${name}: {declared}"));
            variables.insert(name.to_owned(), value);
        }
        arguments.push(text);
    }
    let on = params.get(ON);
    if let Some(on) = on {
        if !takes_on(&columns, dataset.row_type) {
            return Err(AppError::invalid(None, ON, format!("no column of {} takes a date", dataset.name)));
        }
        declarations.push("$on: Date".to_owned());
        variables.insert(ON.to_owned(), Value::String(on.to_owned()));
    }
    let select = selection(&columns, dataset.row_type, on.is_some());
    let body = match dataset.paging {
        Paging::ByCursor => {
            declarations.push("$after: String".to_owned());
            arguments.push(format!("first: {MAX_PAGE}, after: $after"));
            format!("edges {{ node {{ {select}}} }} pageInfo {{ hasNextPage endCursor }}")
        }
        Paging::Whole | Paging::ByPeriod => select,
    };
    let arguments = if arguments.is_empty() { String::new() } else { format!("({})", arguments.join(", ")) };
    let declarations = if declarations.is_empty() { String::new() } else { format!("({})", declarations.join(", ")) };
    let query = format!("query Export{declarations} {{ rows: {}{arguments} {{ {body}}} }}", dataset.field);
    let periods = match dataset.paging {
        Paging::ByPeriod => each_period(params)?,
        Paging::Whole | Paging::ByCursor => Vec::new(),
    };
    Ok(Plan { dataset, format, columns, query, variables, periods })
}

/// The `period` variable of each period of the parameters, oldest first.
fn each_period(params: &Params) -> AppResult<Vec<Value>> {
    let date = |name: &str| {
        let text = params.get(name).unwrap_or_default();
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| AppError::invalid(None, name, format!("invalid Date {text:?}: expected YYYY-MM-DD")))
    };
    let granularity = match params.get("granularity").unwrap_or("MONTH") {
        "MONTH" => Granularity::Month,
        "QUARTER" => Granularity::Quarter,
        "YEAR" => Granularity::Year,
        other => {
            return Err(AppError::invalid(None, "granularity", format!("{other:?} is not MONTH, QUARTER or YEAR")));
        }
    };
    let input = PeriodInput { from: Date(date("from")?), to: Date(date("to")?), granularity };
    let name = params.get("granularity").unwrap_or("MONTH");
    Ok(periods(&input)?
        .into_iter()
        .map(|p| json!({ "from": p.start().to_string(), "to": p.end().to_string(), "granularity": name }))
        .collect())
}

/// The HTTP status of an error code.
fn status_of(code: &str) -> StatusCode {
    match code {
        code::UNAUTHENTICATED => StatusCode::UNAUTHORIZED,
        code::FORBIDDEN => StatusCode::FORBIDDEN,
        code::NOT_FOUND => StatusCode::NOT_FOUND,
        code::BAD_USER_INPUT | code::QUERY_TOO_COMPLEX => StatusCode::BAD_REQUEST,
        code::CONFLICT => StatusCode::CONFLICT,
        code::RATE_LIMITED => StatusCode::TOO_MANY_REQUESTS,
        code::UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON error response of `error`, its details logged when it is internal.
fn refusal(error: &AppError) -> Response {
    let (code, message) = if error.code() == code::INTERNAL {
        let id = correlation_id();
        tracing::error!(correlation_id = %id, error = %error.detail(), "export failed");
        (code::INTERNAL, internal_message(&id))
    } else {
        (error.code(), error.message())
    };
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status_of(code), axum::Json(body)).into_response()
}

/// A page of rows, and the cursor of the next page of a connection that has more.
struct Page {
    rows: Vec<Value>,
    next: Option<String>,
}

/// Reads one page, or answers why not: the GraphQL errors, with the status of the first.
async fn read_page(
    exporter: &Exporter,
    caller: &Caller,
    plan: &Plan,
    variables: Map<String, Value>,
    first: bool,
) -> Result<Page, Response> {
    let mut request = Request::new(plan.query.as_str())
        .variables(Variables::from_json(Value::Object(variables)))
        .data(caller.clone())
        .data(Loaders::new(&exporter.db));
    match (&exporter.budgets, first) {
        (Some(budgets), true) => request = request.data(budgets.clone()),
        (Some(_), false) => request = request.data(Unmetered),
        (None, _) => {}
    }
    let mut response = exporter
        .turns
        .run(exporter.page_timeout, exporter.schema.execute(request))
        .await
        .map_err(|timed_out| refusal(&timed_out))?;
    if !response.errors.is_empty() {
        response.errors.iter_mut().for_each(ensure_code);
        let status = status_of(&error_code(&response.errors[0]));
        if response.errors.iter().any(|e| error_code(e) == code::UNAVAILABLE) {
            exporter.availability.lost(&exporter.db);
        }
        let mut errors: Vec<Value> = Vec::new();
        for error in &response.errors {
            let error = as_export_error(error);
            if !errors.contains(&error) {
                errors.push(error);
            }
        }
        let outage = (status == StatusCode::SERVICE_UNAVAILABLE).then_some(RETRY_AFTER_OUTAGE_SECONDS);
        let retry_after = errors.iter().filter_map(|e| e["extensions"]["retryAfter"].as_u64()).max().or(outage);
        let mut refused = (status, axum::Json(json!({ "errors": errors }))).into_response();
        if let Some(seconds) = retry_after {
            refused.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        return Err(refused);
    }
    let data = response.data.into_json().map_err(|e| refusal(&AppError::internal(e)))?;
    let rows = data.get("rows").cloned().unwrap_or(Value::Null);
    Ok(match plan.dataset.paging {
        Paging::ByCursor => {
            let more = rows["pageInfo"]["hasNextPage"].as_bool() == Some(true);
            let next = rows["pageInfo"]["endCursor"].as_str().filter(|_| more).map(str::to_owned);
            let nodes = rows["edges"].as_array().into_iter().flatten().map(|edge| edge["node"].clone()).collect();
            Page { rows: nodes, next }
        }
        Paging::Whole | Paging::ByPeriod => Page { rows: rows.as_array().cloned().unwrap_or_default(), next: None },
    })
}

/// A GraphQL error as the export's client sees it: without locations in a document it never
/// wrote, its path the field names below the row (`["cac"]`, not `["rows", 3, "cac"]`).
fn as_export_error(error: &ServerError) -> Value {
    let path: Vec<&str> = error
        .path
        .iter()
        .filter_map(|segment| match segment {
            PathSegment::Field(name) if !matches!(name.as_str(), "rows" | "edges" | "node") => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let mut value = json!({ "message": error.message, "extensions": error.extensions });
    if !path.is_empty() {
        value["path"] = json!(path);
    }
    value
}

/// Writes rows in the plan's format; the CSV header goes with the first page.
struct RowWriter {
    format: Format,
    /// CSV: the columns, each list column with its width.
    columns: Vec<(Column, usize)>,
}

impl RowWriter {
    fn new(plan: &Plan, first_rows: &[Value]) -> RowWriter {
        let columns = plan
            .columns
            .iter()
            .map(|column| {
                let width = if column.list {
                    first_rows.iter().map(|row| at(row, &column.path).as_array().map_or(0, Vec::len)).max().unwrap_or(0)
                } else {
                    1
                };
                (column.clone(), width)
            })
            .collect();
        RowWriter { format: plan.format, columns }
    }

    fn header(&self) -> Vec<String> {
        let mut names = Vec::new();
        for (column, width) in &self.columns {
            let name = column.path.join(".");
            if column.list {
                names.extend((0..*width).map(|i| format!("{name}.{i}")));
            } else {
                names.push(name);
            }
        }
        names
    }

    fn write(&self, rows: &[Value], with_header: bool) -> Result<Bytes, AppError> {
        match self.format {
            Format::Jsonl => {
                let mut out = Vec::new();
                for row in rows {
                    serde_json::to_writer(&mut out, row).map_err(AppError::internal)?;
                    out.push(b'\n');
                }
                Ok(out.into())
            }
            Format::Csv => {
                let mut csv = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
                if with_header {
                    csv.write_record(self.header()).map_err(AppError::internal)?;
                }
                for row in rows {
                    let mut record = Vec::new();
                    for (column, width) in &self.columns {
                        let value = at(row, &column.path);
                        if column.list {
                            let items = value.as_array().map_or(&[][..], Vec::as_slice);
                            record.extend((0..*width).map(|i| cell(items.get(i).unwrap_or(&Value::Null))));
                        } else {
                            record.push(cell(value));
                        }
                    }
                    csv.write_record(&record).map_err(AppError::internal)?;
                }
                csv.into_inner().map(Bytes::from).map_err(|e| AppError::internal(e.to_string()))
            }
        }
    }
}

/// The value at `path` below `row`; null past a null object.
fn at<'v>(row: &'v Value, path: &[&str]) -> &'v Value {
    path.iter().fold(row, |value, name| value.get(name).unwrap_or(&Value::Null))
}

/// A CSV cell: text as it is (money is exact decimal text), numbers and booleans as JSON
/// writes them, null as an empty cell.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The dataset and format a file name asks for.
fn dataset_of(file: &str) -> AppResult<(&'static Dataset, Format)> {
    let names = || DATASETS.iter().map(|d| d.name).collect::<Vec<_>>().join(", ");
    let (name, extension) = file
        .rsplit_once('.')
        .ok_or_else(|| AppError::bad_input(format!("{file:?}: name a dataset and a format, as in kpis.csv")))?;
    let format = match extension {
        "csv" => Format::Csv,
        "jsonl" => Format::Jsonl,
        other => return Err(AppError::bad_input(format!("unknown format {other:?}: csv or jsonl"))),
    };
    let dataset = DATASETS
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| AppError::bad_input(format!("unknown dataset {name:?}: {}", names())))?;
    Ok((dataset, format))
}

/// The parameters, each known to the dataset and given once.
fn params_of(dataset: &Dataset, pairs: Vec<(String, String)>) -> AppResult<Params> {
    let mut known: Vec<&str> = dataset.arguments.iter().flat_map(|a| a.params()).copied().collect();
    known.extend([ON, FIELDS]);
    known.dedup();
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            return Err(AppError::bad_input(format!(
                "unknown parameter {name:?}: {} takes {}",
                dataset.name,
                known.join(", ")
            )));
        }
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(AppError::invalid(None, name, format!("{name} is given twice")));
        }
    }
    Ok(Params(pairs))
}

/// The file's name: the dataset, then what it covers (the parameters that choose rows, in the
/// dataset's order, or today for a list of the present), safe in any file system.
fn file_name(dataset: &Dataset, format: Format, params: &Params, today: NaiveDate) -> String {
    let mut parts = vec![dataset.name.to_owned()];
    for name in dataset.arguments.iter().flat_map(|a| a.params()).chain(&[ON]) {
        if let Some(value) = params.get(name) {
            let value = value.to_lowercase();
            parts.push(if matches!(*name, "from" | "to" | "on") { value } else { format!("{name}-{value}") });
        }
    }
    let dated = dataset.arguments.iter().any(|a| matches!(a, Argument::Period | Argument::Dates));
    if !dated && params.get(ON).is_none() {
        parts.push(today.to_string());
    }
    let name: String = parts
        .join("_")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .collect();
    let extension = match format {
        Format::Csv => "csv",
        Format::Jsonl => "jsonl",
    };
    format!("{name}.{extension}")
}

/// The entity tag of an export: what it is, for whom, on which day, of which data.
fn entity_tag(file: &str, params: &Params, caller: &Caller, today: NaiveDate, data_version: i64) -> String {
    let mut hasher = DefaultHasher::new();
    (env!("CARGO_PKG_VERSION"), file, &params.0, caller.id, caller.role.as_db(), caller.team_id, today, data_version)
        .hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

/// Whether `If-None-Match` holds `tag` (or `*`); weak tags compare by their opaque part.
fn matches_tag(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*")
}

/// `GET /export/{file}` for an authenticated caller.
pub async fn export(
    exporter: Exporter,
    caller: Caller,
    file: &str,
    pairs: Vec<(String, String)>,
    headers: &HeaderMap,
) -> Response {
    let today = chrono::Utc::now().date_naive();
    let prepared = (|| {
        let (dataset, format) = dataset_of(file)?;
        let params = params_of(dataset, pairs)?;
        let plan = plan(dataset, format, &params, &caller)?;
        Ok::<_, AppError>((params, plan))
    })();
    let (params, mut plan) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return refusal(&error),
    };
    let data_version = match crate::base::db::data_version(&exporter.db).await {
        Ok(version) => version,
        Err(e) => return refusal(&AppError::from(e)),
    };
    let tag = entity_tag(file, &params, &caller, today, data_version);
    let tag_header = match HeaderValue::from_str(&tag) {
        Ok(value) => value,
        Err(e) => return refusal(&AppError::internal(e)),
    };
    if matches_tag(headers, &tag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag_header)]).into_response();
    }
    let mut variables = plan.variables.clone();
    if plan.dataset.paging == Paging::ByPeriod {
        plan.periods.reverse();
        variables.insert("period".into(), plan.periods.pop().unwrap_or(Value::Null));
    }
    let first = match read_page(&exporter, &caller, &plan, variables, true).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let writer = RowWriter::new(&plan, &first.rows);
    let head = match writer.write(&first.rows, true) {
        Ok(bytes) => bytes,
        Err(error) => return refusal(&error),
    };
    let content_type = match plan.format {
        Format::Csv => "text/csv; charset=utf-8; header=present",
        Format::Jsonl => "application/jsonl; charset=utf-8",
    };
    let disposition = format!("attachment; filename=\"{}\"", file_name(plan.dataset, plan.format, &params, today));
    let rest = Rest { exporter, caller, plan, writer, next: first.next };
    let body = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(head) })
        .chain(futures_util::stream::unfold(rest, Rest::step));
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::ETAG, tag_header);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The pages after the first, read as the client takes the bytes.
struct Rest {
    exporter: Exporter,
    caller: Caller,
    plan: Plan,
    writer: RowWriter,
    /// The next cursor of a connection.
    next: Option<String>,
}

impl Rest {
    /// The next page's bytes, or the end; a page that fails ends the body with an error (the
    /// client sees a broken transfer, never a short file that looks whole), logged.
    async fn step(mut self) -> Option<(Result<Bytes, std::io::Error>, Rest)> {
        let mut variables = self.plan.variables.clone();
        match self.plan.dataset.paging {
            Paging::ByCursor => variables.insert("after".into(), Value::String(self.next.take()?)),
            Paging::ByPeriod => variables.insert("period".into(), self.plan.periods.pop()?),
            Paging::Whole => return None,
        };
        let bytes = match read_page(&self.exporter, &self.caller, &self.plan, variables, false).await {
            Ok(page) => {
                self.next = page.next;
                self.writer.write(&page.rows, false)
            }
            Err(response) => Err(AppError::internal(format!("a later page failed with {}", response.status()))),
        };
        let bytes = bytes.map_err(|error| {
            tracing::error!(error = %error.detail(), dataset = self.plan.dataset.name, "export cut short");
            std::io::Error::other("the export failed part way")
        });
        if bytes.is_err() {
            self.next = None;
            self.plan.periods.clear();
        }
        Some((bytes, self))
    }
}
