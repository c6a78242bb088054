//! Property-based ingest: random batches of accounts and subscriptions, valid ones round-trip
//! exactly through the API; a batch with one bad row anywhere writes nothing and names the row.
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, INTEGRATION, TestApp};

#[derive(Clone, Debug)]
struct Row {
    name: String,
    segment: Option<String>,
    region: Option<String>,
    started_on: Option<NaiveDate>,
    plan: Option<String>,
    mrr: Decimal,
    start: NaiveDate,
    /// Days from start to the (exclusive) end; none: open-ended.
    length: Option<i64>,
}

/// Ways to break one row; each must be refused.
#[derive(Clone, Copy, Debug)]
enum Breakage {
    BlankName,
    NulInName,
    LongSegment,
    NegativeMrr,
    FiveDecimals,
    EndNotAfterStart,
    UnknownAccount,
}

fn text() -> impl Strategy<Value = String> {
    // Any characters but NUL (refused, see `Breakage::NulInName`), at least one of them visible.
    proptest::collection::vec(any::<char>().prop_filter("no NUL", |c| *c != '\0'), 1..24)
        .prop_map(String::from_iter)
        .prop_filter("not blank", |s| !s.trim().is_empty())
}

fn date() -> impl Strategy<Value = NaiveDate> {
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    (0i64..15_000).prop_map(move |days| epoch + chrono::Duration::days(days))
}

fn row() -> impl Strategy<Value = Row> {
    (
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(date()),
        proptest::option::of(text()),
        (0i64..1_000_000_000_000_000, 0u32..=4),
        date(),
        proptest::option::of(1i64..2_000),
    )
        .prop_map(|(name, segment, region, started_on, plan, (units, scale), start, length)| Row {
            name,
            segment,
            region,
            started_on,
            plan,
            mrr: Decimal::new(units, scale),
            start,
            length,
        })
}

fn breakage() -> impl Strategy<Value = Breakage> {
    prop_oneof![
        Just(Breakage::BlankName),
        Just(Breakage::NulInName),
        Just(Breakage::LongSegment),
        Just(Breakage::NegativeMrr),
        Just(Breakage::FiveDecimals),
        Just(Breakage::EndNotAfterStart),
        Just(Breakage::UnknownAccount),
    ]
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The account and subscription inputs of `rows`, with ids under `prefix`.
fn inputs(prefix: &str, rows: &[Row]) -> (Vec<Value>, Vec<Value>) {
    let accounts = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({ "externalId": format!("{prefix}-A{i}"), "name": r.name, "segment": r.segment, "region": r.region,
                    "startedOn": r.started_on.map(day) })
        })
        .collect();
    let subscriptions = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({ "externalId": format!("{prefix}-S{i}"), "accountExternalId": format!("{prefix}-A{i}"), "plan": r.plan,
                    "mrr": r.mrr.to_string(), "startDate": day(r.start),
                    "endDate": r.length.map(|n| day(r.start + chrono::Duration::days(n))) })
        })
        .collect();
    (accounts, subscriptions)
}

/// Breaks row `at` of the inputs; returns which mutation now fails and the field its error names
/// (none for NUL, which refuses the whole request before any row is read).
fn break_row(
    accounts: &mut [Value],
    subscriptions: &mut [Value],
    at: usize,
    how: Breakage,
) -> (&'static str, Option<&'static str>) {
    match how {
        Breakage::BlankName => {
            accounts[at]["name"] = json!(" \t ");
            ("upsertAccounts", Some("name"))
        }
        Breakage::NulInName => {
            accounts[at]["name"] = json!("Acme\u{0}Corp");
            ("upsertAccounts", None)
        }
        Breakage::LongSegment => {
            accounts[at]["segment"] = json!("é".repeat(1001));
            ("upsertAccounts", Some("segment"))
        }
        Breakage::NegativeMrr => {
            subscriptions[at]["mrr"] = json!("-0.01");
            ("upsertSubscriptions", Some("mrr"))
        }
        Breakage::FiveDecimals => {
            subscriptions[at]["mrr"] = json!("1.00001");
            ("upsertSubscriptions", Some("mrr"))
        }
        Breakage::EndNotAfterStart => {
            subscriptions[at]["endDate"] = subscriptions[at]["startDate"].clone();
            ("upsertSubscriptions", Some("endDate"))
        }
        Breakage::UnknownAccount => {
            subscriptions[at]["accountExternalId"] = json!("NO-SUCH-ACCOUNT");
            ("upsertSubscriptions", Some("accountExternalId"))
        }
    }
}

const READ_BACK: &str = "query($x: String) { account(externalId: $x) { name segment region startedOn subscriptions { externalId plan mrr startDate endDate } } }";

fn money(value: &Value) -> Decimal {
    Decimal::from_str(value.as_str().unwrap_or("x")).unwrap_or(Decimal::MIN)
}

async fn valid_batches_round_trip(app: &TestApp, prefix: &str, rows: &[Row]) -> Result<(), TestCaseError> {
    let (accounts, subscriptions) = inputs(prefix, rows);
    let n = rows.len() as i64;
    prop_assert_eq!(app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &accounts).await, (n, 0, 0));
    prop_assert_eq!(
        app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &subscriptions).await,
        (n, 0, 0)
    );
    for (i, (row, (account, subscription))) in rows.iter().zip(accounts.iter().zip(&subscriptions)).enumerate() {
        let reply = app.gql(ADMIN, READ_BACK, json!({ "x": account["externalId"] })).await;
        let stored = &reply.data()["account"];
        prop_assert_eq!(&stored["name"], &account["name"], "row {}", i);
        prop_assert_eq!(&stored["segment"], &account["segment"]);
        prop_assert_eq!(&stored["region"], &account["region"]);
        prop_assert_eq!(&stored["startedOn"], &account["startedOn"]);
        let stored = &stored["subscriptions"][0];
        prop_assert_eq!(&stored["externalId"], &subscription["externalId"]);
        prop_assert_eq!(&stored["plan"], &subscription["plan"]);
        prop_assert_eq!(money(&stored["mrr"]), row.mrr, "mrr {}", stored["mrr"]);
        prop_assert_eq!(&stored["startDate"], &subscription["startDate"]);
        prop_assert_eq!(&stored["endDate"], &subscription["endDate"]);
    }
    // A replay changes nothing.
    prop_assert_eq!(
        app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &subscriptions).await,
        (0, 0, n)
    );
    Ok(())
}

async fn a_bad_row_writes_nothing(
    app: &TestApp,
    prefix: &str,
    rows: &[Row],
    at: usize,
    how: Breakage,
) -> Result<(), TestCaseError> {
    let (mut accounts, mut subscriptions) = inputs(prefix, rows);
    let (failing, field) = break_row(&mut accounts, &mut subscriptions, at, how);
    if failing == "upsertSubscriptions" {
        app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &accounts).await;
    }
    let tables = ["accounts", "subscriptions", "audit_log"];
    let mut before = Vec::new();
    for table in tables {
        before.push(app.count(table).await);
    }
    let (input_type, batch) =
        if failing == "upsertAccounts" { ("AccountInput", &accounts) } else { ("SubscriptionInput", &subscriptions) };
    let reply = app.ingest(INTEGRATION, failing, input_type, batch).await;
    prop_assert!(reply.body["data"].is_null(), "refused: {}", reply.body);
    prop_assert!(reply.codes().iter().all(|c| c == "BAD_USER_INPUT"), "{}", reply.body);
    prop_assert!(!reply.errors().is_empty());
    if let Some(field) = field {
        let named = reply.errors().iter().any(|e| e["extensions"]["row"] == at && e["extensions"]["field"] == field);
        prop_assert!(named, "row {} field {} named: {}", at, field, reply.body);
    }
    for (table, count) in tables.iter().zip(before) {
        prop_assert_eq!(app.count(table).await, count, "{} unchanged", table);
    }
    Ok(())
}

#[test]
fn random_ingest_batches_round_trip_or_write_nothing() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app = runtime.block_on(TestApp::with_operators());
    let cases = AtomicUsize::new(0);
    let config = Config { cases: 24, failure_persistence: None, ..Config::default() };
    let strategy =
        (proptest::collection::vec(row(), 1..12), any::<prop::sample::Index>(), proptest::option::of(breakage()));
    TestRunner::new(config)
        .run(&strategy, |(rows, at, breakage)| {
            let prefix = format!("P{}", cases.fetch_add(1, Ordering::SeqCst));
            runtime.block_on(async {
                match breakage {
                    None => valid_batches_round_trip(&app, &prefix, &rows).await,
                    Some(how) => a_bad_row_writes_nothing(&app, &prefix, &rows, at.index(rows.len()), how).await,
                }
            })
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    runtime.block_on(app.assert_still_answers(ADMIN));
}
