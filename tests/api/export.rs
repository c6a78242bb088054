//! `GET /export/DATASET.csv|.jsonl` (PRODUCT.md, "Exports for BI tools"): every dataset, in both
//! formats and for every role, holds exactly the rows of the GraphQL answer (read here with
//! queries of the test's own, page by page where GraphQL pages); a field the role may not read
//! is left out by default and FORBIDDEN by name; the entity tag gets a 304 until the data
//! changes; bad requests are 400 and name what is wrong.
use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::helpers::{ADMIN, INTEGRATION, TestApp};

const FINANCE: &str = "finance@acme.example";
const CSM: &str = "csm10@acme.example";
const MANAGER: &str = "manager1@acme.example";
const ROLES: [&str; 4] = [ADMIN, MANAGER, CSM, FINANCE];

/// The KPI fields only FINANCE and ADMIN may read.
const COST_FIELDS: [&str; 6] =
    ["cac", "ltvToCac", "cacPaybackMonths", "costToServe", "costToServePerAccount", "customerRetentionCost"];

/// A dataset as a BI tool asks for it, and the same rows as GraphQL gives them: the root field
/// with its arguments (and `first`/`after` for a connection), and the row type whose default
/// columns the export has.
struct Case {
    dataset: &'static str,
    params: &'static str,
    field: &'static str,
    arguments: &'static str,
    row_type: &'static str,
    paged: bool,
}

const CASES: [Case; 7] = [
    Case {
        dataset: "kpis",
        params: "from=2025-01-01&to=2026-10-31&granularity=QUARTER&groupBy=SEGMENT",
        field: "kpis",
        arguments: "period: {from: \"2025-01-01\", to: \"2026-10-31\", granularity: QUARTER}, groupBy: SEGMENT",
        row_type: "KpiSnapshot",
        paged: false,
    },
    Case {
        dataset: "mrr-movements",
        params: "from=2025-11-01&to=2026-10-31",
        field: "mrrMovements",
        arguments: "period: {from: \"2025-11-01\", to: \"2026-10-31\"}",
        row_type: "MrrMovement",
        paged: false,
    },
    Case {
        dataset: "accounts",
        params: "on=2026-06-30",
        field: "accounts",
        arguments: "",
        row_type: "Account",
        paged: true,
    },
    Case {
        dataset: "scorecards",
        params: "from=2026-01-01&to=2026-06-30&granularity=QUARTER",
        field: "csmScorecards",
        arguments: "period: {from: \"2026-01-01\", to: \"2026-06-30\", granularity: QUARTER}",
        row_type: "CsmScorecard",
        paged: false,
    },
    Case {
        dataset: "feature-requests",
        params: "from=2025-11-01&to=2026-10-31",
        field: "featureRequests",
        arguments: "period: {from: \"2025-11-01\", to: \"2026-10-31\"}, first: 100",
        row_type: "FeatureRequestSummary",
        paged: false,
    },
    Case {
        dataset: "renewals",
        params: "from=2025-05-01&to=2026-10-31",
        field: "renewals",
        arguments: "from: \"2025-05-01\", to: \"2026-10-31\"",
        row_type: "Renewal",
        paged: true,
    },
    Case {
        dataset: "cohorts",
        params: "from=2024-01-01&to=2025-10-31&metric=NET_MRR&months=6",
        field: "cohorts",
        arguments: "from: \"2024-01-01\", to: \"2025-10-31\", metric: NET_MRR, months: 6",
        row_type: "CohortRow",
        paged: false,
    },
];

/// An export's status, headers and body.
struct Download {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Download {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// JSONL: one value per line.
    fn lines(&self) -> Vec<Value> {
        self.body.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect()
    }

    /// CSV: the header and each row as column -> cell.
    fn table(&self) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
        let mut reader = csv::Reader::from_reader(self.body.as_bytes());
        let header: Vec<String> = reader.headers().expect("a header row").iter().map(str::to_owned).collect();
        let rows = reader
            .records()
            .map(|r| header.iter().cloned().zip(r.expect("a CSV record").iter().map(str::to_owned)).collect())
            .collect();
        (header, rows)
    }
}

async fn download(app: &TestApp, email: &str, path: &str, if_none_match: Option<&str>) -> Download {
    let mut request = app.request(reqwest::Method::GET, path).bearer_auth(app.token(email));
    if let Some(tag) = if_none_match {
        request = request.header("If-None-Match", tag);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body");
    Download { status, headers, body }
}

/// The fields of `type_name` (introspection): name, kind and name of its unwrapped type,
/// whether it is a list, whether it needs an argument.
async fn fields_of(app: &TestApp, type_name: &str) -> Vec<(String, String, String, bool, bool)> {
    let query = "query($t: String!) { __type(name: $t) { fields { name \
        args { type { kind } defaultValue } \
        type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }";
    let reply = app.gql(ADMIN, query, json!({ "t": type_name })).await;
    let fields = reply.data()["__type"]["fields"].as_array().cloned().unwrap_or_default();
    fields
        .iter()
        .map(|f| {
            let mut ty = &f["type"];
            let mut list = false;
            while ty["kind"] == "NON_NULL" || ty["kind"] == "LIST" {
                list |= ty["kind"] == "LIST";
                ty = &ty["ofType"];
            }
            let needs = f["args"].as_array().into_iter().flatten().any(|a| a["type"]["kind"] == "NON_NULL");
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (text(&f["name"]), text(&ty["kind"]), text(&ty["name"]), list, needs)
        })
        .collect()
}

/// The GraphQL selection of a dataset's default columns as PRODUCT.md words them: every scalar
/// of the row and of each object field (no lists of records), without the fields the role may
/// not read; `on` passed to the fields that take it.
async fn default_selection(app: &TestApp, type_name: &str, hidden: &[&str], on: Option<&str>) -> String {
    let mut out = Vec::new();
    for (name, kind, inner, list, needs) in fields_of(app, type_name).await {
        if needs || hidden.contains(&name.as_str()) {
            continue;
        }
        let argument = match (on, name.as_str()) {
            (Some(on), "mrr" | "health") => format!("(on: \"{on}\")"),
            _ => String::new(),
        };
        match (kind.as_str(), list) {
            ("OBJECT", true) => {}
            ("OBJECT", false) => {
                let scalars: Vec<String> = fields_of(app, &inner)
                    .await
                    .into_iter()
                    .filter(|(_, kind, _, _, needs)| kind != "OBJECT" && !needs)
                    .map(|(n, ..)| n)
                    .collect();
                out.push(format!("{name}{argument} {{ {} }}", scalars.join(" ")));
            }
            _ => out.push(format!("{name}{argument}")),
        }
    }
    out.join(" ")
}

/// Every row of a case as GraphQL answers it (a connection read 40 at a time), or the error
/// code of a refusal.
async fn graphql_rows(app: &TestApp, email: &str, case: &Case, selection: &str) -> Result<Vec<Value>, String> {
    let mut rows = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let query = if case.paged {
            let mut arguments = vec!["first: 40".to_owned()];
            if !case.arguments.is_empty() {
                arguments.insert(0, case.arguments.to_owned());
            }
            if let Some(cursor) = &after {
                arguments.push(format!("after: {}", json!(cursor)));
            }
            format!(
                "{{ rows: {}({}) {{ edges {{ node {{ {selection} }} }} pageInfo {{ hasNextPage endCursor }} }} }}",
                case.field,
                arguments.join(", ")
            )
        } else {
            format!("{{ rows: {}({}) {{ {selection} }} }}", case.field, case.arguments)
        };
        let reply = app.gql(email, &query, json!({})).await;
        if let Some(code) = reply.codes().first() {
            return Err(code.clone());
        }
        let data = &reply.data()["rows"];
        if !case.paged {
            return Ok(data.as_array().cloned().unwrap_or_default());
        }
        rows.extend(data["edges"].as_array().into_iter().flatten().map(|e| e["node"].clone()));
        if data["pageInfo"]["hasNextPage"] != true {
            return Ok(rows);
        }
        after = data["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

/// A GraphQL row as CSV columns: `a.b` for an object's field, `a.0` for a list's item; values
/// as text (null: empty).
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    let name = |key: &str| if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") };
    match value {
        Value::Object(fields) => fields.iter().for_each(|(k, v)| flatten(&name(k), v, out)),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| flatten(&name(&i.to_string()), v, out)),
        Value::Null => drop(out.insert(prefix.to_owned(), String::new())),
        Value::String(text) => drop(out.insert(prefix.to_owned(), text.clone())),
        other => drop(out.insert(prefix.to_owned(), other.to_string())),
    }
}

/// The CSV cell of `column` (`a.b`, `a.0`) in a GraphQL row: the value's text, empty for null
/// (or below a null object).
fn cell_at(row: &Value, column: &str) -> String {
    let value = column.split('.').fold(row, |value, step| match step.parse::<usize>() {
        Ok(index) if value.is_array() => &value[index],
        _ => &value[step],
    });
    let mut out = BTreeMap::new();
    flatten("", value, &mut out);
    out.remove("").unwrap_or_default()
}

fn flat_rows(rows: &[Value]) -> Vec<BTreeMap<String, String>> {
    rows.iter()
        .map(|row| {
            let mut out = BTreeMap::new();
            flatten("", row, &mut out);
            out
        })
        .collect()
}

fn status_of(code: &str) -> u16 {
    match code {
        "FORBIDDEN" => 403,
        "NOT_FOUND" => 404,
        "UNAUTHENTICATED" => 401,
        _ => 400,
    }
}

#[tokio::test]
async fn every_dataset_equals_its_graphql_answer_for_every_role_in_both_formats() {
    let app = TestApp::with_sample().await;
    for case in &CASES {
        let on = case.params.strip_prefix("on=");
        for email in ROLES {
            let hidden: &[&str] = if [ADMIN, FINANCE].contains(&email) { &[] } else { &COST_FIELDS };
            let selection = default_selection(&app, case.row_type, hidden, on).await;
            let want = graphql_rows(&app, email, case, &selection).await;
            let what = format!("{} as {email}", case.dataset);
            for format in ["jsonl", "csv"] {
                let got =
                    download(&app, email, &format!("/export/{}.{format}?{}", case.dataset, case.params), None).await;
                let want = match &want {
                    Err(code) => {
                        assert_eq!(got.status, status_of(code), "{what}.{format}: {}", got.body);
                        assert_eq!(got.json()["errors"][0]["extensions"]["code"], code.as_str(), "{what}.{format}");
                        continue;
                    }
                    Ok(rows) => rows,
                };
                assert_eq!(got.status, 200, "{what}.{format}: {}", got.body);
                assert!(got.header("etag").starts_with('"'), "{what}.{format}: an entity tag");
                assert!(
                    got.header("content-disposition").starts_with(&format!("attachment; filename=\"{}_", case.dataset)),
                    "{what}.{format}: {}",
                    got.header("content-disposition")
                );
                if format == "jsonl" {
                    assert!(got.header("content-type").starts_with("application/jsonl"), "{what}");
                    assert_eq!(&got.lines(), want, "{what}.jsonl");
                    continue;
                }
                assert!(got.header("content-type").starts_with("text/csv"), "{what}");
                let (header, table) = got.table();
                assert_eq!(table.len(), want.len(), "{what}.csv: rows");
                for (i, (got_row, want_row)) in table.iter().zip(want).enumerate() {
                    let expected: BTreeMap<String, String> =
                        header.iter().map(|column| (column.clone(), cell_at(want_row, column))).collect();
                    assert_eq!(got_row, &expected, "{what}.csv row {i}");
                }
                let mut columns = header.clone();
                columns.sort();
                columns.dedup();
                assert_eq!(columns.len(), header.len(), "{what}.csv: a column twice in {header:?}");
                for key in flat_rows(want).iter().flat_map(|row| row.keys().cloned().collect::<Vec<_>>()) {
                    let null_object = header.iter().any(|c| c.starts_with(&format!("{key}.")));
                    assert!(header.contains(&key) || null_object, "{what}.csv: no column {key} in {header:?}");
                }
                assert!(!want.is_empty() || email != ADMIN, "{what}: the sample gives ADMIN rows");
            }
        }
    }
}

#[tokio::test]
async fn fields_pick_columns_and_a_field_the_role_may_not_read_is_forbidden_by_name() {
    let app = TestApp::with_sample().await;
    let path = "/export/kpis.csv?from=2026-01-01&to=2026-03-31&fields=periodStart,mrr,cac";
    let refused = download(&app, CSM, path, None).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let errors = refused.json()["errors"].as_array().cloned().unwrap_or_default();
    assert!(!errors.is_empty() && errors.iter().all(|e| e["extensions"]["code"] == "FORBIDDEN"), "{errors:?}");
    assert!(errors.iter().all(|e| e.get("locations").is_none()), "no locations in a query the client never wrote");

    let allowed = download(&app, FINANCE, path, None).await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let (header, rows) = allowed.table();
    assert_eq!(header, ["periodStart", "mrr", "cac"]);
    assert_eq!(rows.len(), 3);
    let want = app
        .gql(FINANCE, "{ kpis(period: {from: \"2026-01-01\", to: \"2026-03-31\"}) { periodStart mrr cac } }", json!({}))
        .await;
    assert_eq!(rows, flat_rows(want.data()["kpis"].as_array().unwrap()));

    let csm_default = download(&app, CSM, "/export/kpis.csv?from=2026-01-01&to=2026-03-31", None).await;
    let (header, _) = csm_default.table();
    assert!(header.iter().all(|h| !COST_FIELDS.contains(&h.as_str())), "{header:?}");
    assert!(header.contains(&"nps".to_owned()));

    let nested = download(
        &app,
        ADMIN,
        "/export/renewals.jsonl?from=2025-05-01&to=2026-10-31&fields=account.externalId,endDate,account",
        None,
    )
    .await;
    assert_eq!(nested.status, 400, "account.externalId and account repeat a column: {}", nested.body);
    let nested = download(
        &app,
        ADMIN,
        "/export/renewals.jsonl?from=2025-05-01&to=2026-10-31&fields=endDate,account.csm.email",
        None,
    )
    .await;
    assert_eq!(nested.status, 200, "{}", nested.body);
    let first = &nested.lines()[0];
    assert!(first["account"]["csm"]["email"].is_string() && first["endDate"].is_string(), "{first}");
    assert_eq!(first.as_object().map(|o| o.len()), Some(2), "{first}");
}

#[tokio::test]
async fn a_repeated_request_with_the_entity_tag_is_not_modified_until_the_data_changes() {
    let app = TestApp::with_sample().await;
    let path = "/export/accounts.csv?fields=externalId,mrr";
    let first = download(&app, MANAGER, path, None).await;
    assert_eq!(first.status, 200);
    let tag = first.header("etag").to_owned();
    assert_eq!(first.header("cache-control"), "private, no-cache");

    let again = download(&app, MANAGER, path, Some(&tag)).await;
    assert_eq!((again.status, again.body.as_str(), again.header("etag")), (304, "", tag.as_str()));
    let listed = download(&app, MANAGER, path, Some(&format!("\"other\", W/{tag}"))).await;
    assert_eq!(listed.status, 304, "a tag in a list, weak or not");

    let other_caller = download(&app, CSM, path, Some(&tag)).await;
    assert_eq!(other_caller.status, 200, "another caller sees other rows: another tag");
    let other_request = download(&app, MANAGER, "/export/accounts.csv?fields=externalId", Some(&tag)).await;
    assert_eq!(other_request.status, 200);

    let account = json!({ "externalId": "ACC-EXPORT-1", "name": "Tagged Ltd", "csmEmail": "csm10@acme.example" });
    assert_eq!(app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &[account]).await, (1, 0, 0));
    let changed = download(&app, MANAGER, path, Some(&tag)).await;
    assert_eq!(changed.status, 200, "a write changes the tag");
    assert_ne!(changed.header("etag"), tag);
    assert!(changed.body.contains("ACC-EXPORT-1"));

    let refused = download(&app, INTEGRATION, "/export/kpis.csv?from=2026-01-01&to=2026-03-31", None).await;
    assert_eq!(refused.status, 403, "INTEGRATION reads no KPIs: {}", refused.body);
    let unsigned = app.request(reqwest::Method::GET, path).send().await.expect("request");
    assert_eq!(unsigned.status().as_u16(), 401);
}

#[tokio::test]
async fn bad_requests_are_refused_naming_what_is_wrong() {
    let app = TestApp::with_sample().await;
    let cases = [
        ("/export/nope.csv?from=2026-01-01&to=2026-02-01", "unknown dataset \"nope\""),
        ("/export/kpis.xlsx?from=2026-01-01&to=2026-02-01", "unknown format \"xlsx\""),
        ("/export/kpis?from=2026-01-01&to=2026-02-01", "name a dataset and a format"),
        ("/export/kpis.csv?from=2026-01-01", "to is required"),
        ("/export/kpis.csv?from=2026-03-01&to=2026-02-01", "from must not be after to"),
        ("/export/kpis.csv?from=2010-01-01&to=2026-02-01", "at most 120 periods"),
        ("/export/mrr-movements.csv?from=2010-01-01&to=2026-02-01", "at most 120 periods"),
        ("/export/mrr-movements.csv?from=2026-03-01&to=2026-02-01", "from must not be after to"),
        ("/export/kpis.csv?from=2026-01-01&to=2026-02-01&segmnt=SMB", "unknown parameter \"segmnt\""),
        ("/export/kpis.csv?from=2026-01-01&to=2026-02-01&to=2026-03-01", "to is given twice"),
        ("/export/kpis.csv?from=2026-01-01&to=2026-02-01&fields=mrr,nope", "unknown field \"nope\""),
        ("/export/kpis.csv?from=2026-01-01&to=2026-02-01&fields=mrr,mrr", "\"mrr\" is named twice"),
        ("/export/kpis.csv?from=2026-01-01&to=2026-02-01&on=2026-01-01", "no column of kpis takes a date"),
        ("/export/accounts.csv?fields=subscriptions", "a list of records"),
        ("/export/cohorts.csv?from=2026-01-01&to=2026-02-01", "metric is required"),
        ("/export/cohorts.csv?from=2026-01-01&to=2026-02-01&metric=LOGOS&months=x", "not a whole number"),
        ("/export/cohorts.csv?from=2026-01-01&to=2026-02-01&metric=LOGOS&months=61", "months"),
        ("/export/kpis.csv?from=2026-01-01&to=2026-02-01&granularity=WEEK", "WEEK"),
    ];
    for (path, words) in cases {
        let got = download(&app, ADMIN, path, None).await;
        assert_eq!(got.status, 400, "{path}: {}", got.body);
        let error = &got.json()["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{path}");
        assert!(error["message"].as_str().unwrap_or_default().contains(words), "{path}: {error}");
    }
}

#[tokio::test]
async fn a_dataset_of_many_pages_streams_every_row_in_order() {
    let app = TestApp::with_sample().await;
    let accounts: Vec<Value> = (0..1_100)
        .map(|i| json!({ "externalId": format!("BULK-{i:05}"), "name": format!("Bulk, \"{i}\"\nLtd"), "segment": "SMB" }))
        .collect();
    assert_eq!(app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &accounts).await, (1_100, 0, 0));
    let case = Case {
        dataset: "accounts",
        params: "segment=SMB",
        field: "accounts",
        arguments: "filter: {segment: \"SMB\"}",
        row_type: "Account",
        paged: true,
    };
    let want = graphql_rows(&app, ADMIN, &case, "externalId name mrr").await.expect("accounts");
    assert!(want.len() > 1_100, "more than two export pages of 500");
    let got = download(&app, ADMIN, "/export/accounts.csv?segment=SMB&fields=externalId,name,mrr", None).await;
    assert_eq!(got.header("transfer-encoding"), "chunked", "streamed, not buffered");
    let (_, table) = got.table();
    assert_eq!(table, flat_rows(&want), "quoted commas, quotes and newlines come back whole, in GraphQL's order");
    let lines = download(&app, ADMIN, "/export/accounts.jsonl?segment=SMB&fields=externalId,name,mrr", None).await;
    assert_eq!(lines.lines(), want);
}
