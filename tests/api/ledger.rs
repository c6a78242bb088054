//! The MRR ledger (`cs_kpi::ledger`) that the revenue KPIs read: kept exact by ingest through
//! every kind of change, equal to a rebuild from the subscriptions alone.
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, INTEGRATION, TestApp};
use cs_kpi::auth::Role;

/// The revenue KPIs of 2023-2026 by month, quarter and year, whole and grouped by every
/// dimension: every figure the ledger feeds.
async fn revenue_figures(app: &TestApp) -> Vec<Value> {
    let query = "query($granularity: Granularity!, $groupBy: Dimension) { \
        kpis(period: { from: \"2023-01-01\", to: \"2026-12-31\", granularity: $granularity }, groupBy: $groupBy) { \
        periodStart group mrr activeCustomers newMrr expansionMrr contractionMrr churnedMrr reactivationMrr \
        newCustomers churnedCustomers reactivatedCustomers logoChurnRate netRevenueRetention grossRevenueRetention \
        netRevenueRetentionTtm grossRevenueRetentionTtm customerRetentionRate upsellRate ltv } \
        mrrMovements(period: { from: \"2023-01-01\", to: \"2026-12-31\" }) { account { externalId } month kind amount } \
        logos: cohorts(from: \"2023-01-01\", to: \"2026-12-31\", metric: LOGOS, months: 60) { cohort size startMrr retention } \
        net: cohorts(from: \"2023-01-01\", to: \"2026-12-31\", metric: NET_MRR, months: 60) { retention } \
        gross: cohorts(from: \"2023-01-01\", to: \"2026-12-31\", metric: GROSS_MRR, months: 60) { retention } }";
    let mut out = Vec::new();
    for granularity in ["MONTH", "QUARTER", "YEAR"] {
        for group_by in [Value::Null, json!("CSM"), json!("SEGMENT"), json!("TEAM")] {
            let reply = app.gql(ADMIN, query, json!({ "granularity": granularity, "groupBy": group_by })).await;
            out.push(reply.data().clone());
        }
    }
    out
}

/// Forgets the ledger and rebuilds it from the subscriptions, as a start on a database from
/// before the ledger would.
async fn rebuild(app: &TestApp) {
    for table in ["aggregate_versions", "mrr_changes", "mrr_book_months", "mrr_book_cohorts", "mrr_book_paid_cohorts"] {
        app.db.execute_unprepared(&format!("DELETE FROM {table}")).await.expect("clear the ledger");
    }
    cs_kpi::ledger::ensure_built(&app.db).await.expect("rebuild the ledger");
}

/// A small deterministic generator (xorshift), so that a failure replays.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len() as u64) as usize]
    }
}

const CSMS: [&str; 3] = ["csm-a@acme.example", "csm-b@acme.example", "csm-c@acme.example"];
const SEGMENTS: [Option<&str>; 3] = [Some("SMB"), Some("ENT"), None];

fn account(dice: &mut Dice, n: u64) -> Value {
    let csm = match dice.below(4) {
        3 => Value::Null,
        i => json!(CSMS[i as usize]),
    };
    // Re-pushing an account may also move its onboarding (its month-end adoption changes).
    let onboarded = match dice.below(4) {
        0 => Value::Null,
        1 => json!(month_end(2023 * 12 + dice.below(44) as i32)),
        _ => json!(day(2023 * 12 + dice.below(44) as i32, 1 + dice.below(28))),
    };
    // ... and its signup and activation (its signup counters change).
    let (signed_up, activated) = match dice.below(3) {
        0 => (Value::Null, Value::Null),
        _ => {
            let month = 2023 * 12 + dice.below(44) as i32;
            let activated = match dice.below(3) {
                0 => Value::Null,
                _ => json!(day(month + dice.below(3) as i32 - 1, 1 + dice.below(28))),
            };
            (json!(day(month, 1 + dice.below(28))), activated)
        }
    };
    // ... and its referrer (an account before it, so that it exists), start and first value.
    let (referrer, started, first_value) = match (n, dice.below(2)) {
        (0, _) | (_, 0) => (Value::Null, Value::Null, Value::Null),
        _ => {
            let month = 2023 * 12 + dice.below(44) as i32;
            let first_value = match dice.below(3) {
                0 => Value::Null,
                _ => json!(day(month + dice.below(3) as i32, 1 + dice.below(28))),
            };
            (json!(format!("ACC-{}", dice.below(n))), json!(day(month, 1 + dice.below(28))), first_value)
        }
    };
    json!({ "externalId": format!("ACC-{n}"), "name": format!("Account {n}"), "segment": dice.pick(&SEGMENTS),
        "csmEmail": csm, "onboardingCompletedOn": onboarded, "signedUpOn": signed_up, "activatedOn": activated,
        "referredByExternalId": referrer, "startedOn": started, "firstValueOn": first_value })
}

/// Subscription `SUB-n` of a random account, renewing `renews` when given.
fn subscription(dice: &mut Dice, n: u64, accounts: u64, renews: Option<&str>) -> Value {
    let start = 2023 * 12 + dice.below(40) as i32;
    let day = 1 + dice.below(27);
    let end = match dice.below(3) {
        0 => Value::Null,
        _ => {
            // Sometimes within the start's month: never counted at a month end.
            let end = start + dice.below(18) as i32;
            let end_day = if end == start { 28 } else { 1 + dice.below(28) };
            json!(format!("{}-{:02}-{end_day:02}", end / 12, end % 12 + 1))
        }
    };
    json!({
        "externalId": format!("SUB-{n}"),
        "accountExternalId": format!("ACC-{}", dice.below(accounts)),
        "mrr": format!("{}.{:02}", dice.below(5) * 100, dice.below(100)),
        "startDate": format!("{}-{:02}-{day:02}", start / 12, start % 12 + 1),
        "endDate": end,
        "renewsExternalId": renews,
    })
}

/// Rows with the first of each key only (a batch may not name one record twice).
fn first_of_each(rows: Vec<Value>, key: &dyn Fn(&Value) -> Value) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for row in rows {
        if !out.iter().any(|o| key(o) == key(&row)) {
            out.push(row);
        }
    }
    out
}

fn external_id(row: &Value) -> Value {
    row["externalId"].clone()
}

/// A company of `accounts` accounts spread over the CSMs (in two teams) and segments.
async fn company(dice: &mut Dice, accounts: u64) -> TestApp {
    let app = TestApp::with_operators().await;
    let teams = [json!({ "name": "North" }), json!({ "name": "South" })];
    app.ingest_ok(INTEGRATION, "upsertTeams", "TeamInput", &teams).await;
    for (i, csm) in CSMS.iter().enumerate() {
        app.user(csm, Role::Csm, Some(if i == 0 { "North" } else { "South" })).await;
    }
    let rows: Vec<Value> = (0..accounts).map(|n| account(dice, n)).collect();
    app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &rows).await;
    app
}

/// One round of changes: `count` subscriptions among the externalIds `0..ids` (new ones, and
/// changes to existing ones: price, dates, even the account; a third of them renewing another
/// existing one, of any account, which moves, drops or adds renewals), then `moves` accounts
/// moved to a random CSM and segment (which moves their whole history).
async fn change_round(app: &TestApp, dice: &mut Dice, accounts: u64, (count, ids): (usize, u64), moves: usize) {
    let existing: Vec<String> = by_definition(app, "SELECT external_id FROM subscriptions ORDER BY id", Vec::new())
        .await
        .iter()
        .map(|row| row.try_get("", "external_id").expect("an externalId"))
        .collect();
    let subscriptions: Vec<Value> = (0..count)
        .map(|_| {
            let n = dice.below(ids);
            let renews = match (existing.is_empty(), dice.below(3)) {
                (false, 0) => Some(dice.pick(&existing).as_str()).filter(|r| *r != format!("SUB-{n}")),
                _ => None,
            };
            subscription(dice, n, accounts, renews)
        })
        .collect();
    let subscriptions = first_of_each(subscriptions, &external_id);
    let reply = app.ingest(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &subscriptions).await;
    assert!(reply.errors().is_empty(), "{:?}", reply.errors());
    let moved: Vec<Value> = (0..moves)
        .map(|_| {
            let n = dice.below(accounts);
            account(dice, n)
        })
        .collect();
    app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &first_of_each(moved, &external_id)).await;
}

#[tokio::test]
async fn the_ledger_follows_every_change_and_equals_a_rebuild() {
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    const ACCOUNTS: u64 = 10;
    let app = company(&mut dice, ACCOUNTS).await;
    for round in 0..5 {
        change_round(&app, &mut dice, ACCOUNTS, (8, 20 + round * 4), 3).await;

        let incremental = revenue_figures(&app).await;
        rebuild(&app).await;
        assert!(app.count("aggregate_versions").await == 1, "the rebuild marks its version");
        assert_eq!(incremental, revenue_figures(&app).await, "round {round}: the ledger drifted from its rebuild");
    }
    assert!(app.count("mrr_changes").await > 0 && app.count("mrr_book_cohorts").await > 0);
}

#[tokio::test]
async fn an_account_that_changes_csm_takes_its_history_along() {
    let app = TestApp::with_operators().await;
    for csm in &CSMS[..2] {
        app.user(csm, Role::Csm, None).await;
    }
    let account = |csm: &str| json!([{ "externalId": "ACC-1", "name": "One", "csmEmail": csm }]);
    app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", account(CSMS[0]).as_array().expect("rows")).await;
    let subscription =
        json!({ "externalId": "S-1", "accountExternalId": "ACC-1", "mrr": "120.50", "startDate": "2025-01-10" });
    app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &[subscription]).await;
    let by_csm = || async {
        let reply = app
            .gql(
                ADMIN,
                "{ kpis(period: { from: \"2025-01-01\", to: \"2025-02-28\" }, groupBy: CSM) { periodStart group mrr newMrr } }",
                json!({}),
            )
            .await;
        let rows = reply.data()["kpis"].as_array().cloned().unwrap_or_default();
        rows.iter()
            .map(|r| (r["periodStart"].as_str().unwrap_or("").to_owned(), r["mrr"].clone(), r["newMrr"].clone()))
            .collect::<Vec<_>>()
    };
    let january = ("2025-01-01".to_owned(), json!("120.50"), json!("120.50"));
    let february = ("2025-02-01".to_owned(), json!("120.50"), json!("0.00"));
    assert_eq!(by_csm().await, vec![january.clone(), february.clone()]);
    let january_by_csm = "{ kpis(period: { from: \"2025-01-01\", to: \"2025-01-31\" }, groupBy: CSM) { group mrr } }";
    let before = app.gql(ADMIN, january_by_csm, json!({})).await.data()["kpis"].clone();
    app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", account(CSMS[1]).as_array().expect("rows")).await;
    let after = app.gql(ADMIN, january_by_csm, json!({})).await.data()["kpis"].clone();
    assert_eq!(before.as_array().map(Vec::len), Some(1));
    assert_eq!(after.as_array().map(Vec::len), Some(1));
    assert_ne!(before[0]["group"], after[0]["group"], "January's MRR now belongs to the new CSM");
    assert_eq!((before[0]["mrr"].clone(), after[0]["mrr"].clone()), (json!("120.50"), json!("120.50")));
    // The old CSM's own dashboard no longer shows the account, the new one's does.
    let own = |email: &'static str| {
        let app = &app;
        async move {
            let reply = app
                .gql(email, "{ kpis(period: { from: \"2025-01-01\", to: \"2025-01-31\" }) { mrr } }", json!({}))
                .await;
            reply.data()["kpis"][0]["mrr"].clone()
        }
    };
    assert_eq!((own(CSMS[0]).await, own(CSMS[1]).await), (json!("0.00"), json!("120.50")));
}

/// The last day of a month index (`year * 12 + month - 1`).
fn month_end(month: i32) -> String {
    let next = chrono::NaiveDate::from_ymd_opt((month + 1) / 12, ((month + 1) % 12 + 1) as u32, 1).expect("a month");
    next.pred_opt().expect("a day").to_string()
}

fn date(text: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date")
}

fn day(month: i32, day: u64) -> String {
    format!("{}-{:02}-{day:02}", month / 12, month % 12 + 1)
}

fn instant(dice: &mut Dice, month: i32) -> String {
    format!("{}T{:02}:30:00Z", day(month, 1 + dice.below(28)), dice.below(24))
}

/// Random survey responses, tickets, usage, touchpoints, advocacy and feature requests; a small
/// range of externalIds, so that later rounds also update earlier records (moving them in time
/// or to other accounts).
fn health_inputs(dice: &mut Dice, accounts: u64) -> [(&'static str, &'static str, Vec<Value>); 6] {
    let account = |dice: &mut Dice| format!("ACC-{}", dice.below(accounts));
    let month = |dice: &mut Dice| 2023 * 12 + dice.below(44) as i32;
    let mut feedback = Vec::new();
    for _ in 0..10 {
        let (kind, score) = match dice.below(3) {
            0 => ("NPS", dice.below(11)),
            1 => ("CSAT", 1 + dice.below(5)),
            _ => ("CES", 1 + dice.below(7)),
        };
        let m = month(dice);
        feedback.push(json!({ "externalId": format!("F-{}", dice.below(30)), "accountExternalId": account(dice),
            "kind": kind, "score": score, "respondedAt": instant(dice, m) }));
    }
    let mut tickets = Vec::new();
    for _ in 0..8 {
        let opened = month(dice);
        let resolved = match dice.below(3) {
            0 => Value::Null,
            _ => {
                let resolved = opened + 1 + dice.below(4) as i32;
                json!(instant(dice, resolved))
            }
        };
        let contacts = match dice.below(3) {
            0 => Value::Null,
            n => json!(n),
        };
        // A first response the month after the opening, or none (so that it is never earlier).
        let responded = match dice.below(3) {
            0 => Value::Null,
            _ => json!(instant(dice, opened + 1)),
        };
        tickets.push(json!({ "externalId": format!("T-{}", dice.below(24)), "accountExternalId": account(dice),
            "openedAt": instant(dice, opened), "firstResponseAt": responded, "resolvedAt": resolved,
            "contactsToResolve": contacts }));
    }
    // Usage records in pairs of the same account and month, so that a 30-day window often holds
    // two (the latest decides; for feature adoption, the latest having both feature counts).
    let mut usage = Vec::new();
    for _ in 0..12 {
        let (m, account) = (month(dice), account(dice));
        for _ in 0..2 {
            let available = 1 + dice.below(12);
            let mut features = match dice.below(3) {
                0 => json!({}),
                1 => json!({ "featuresUsed": dice.below(available + 1) }),
                _ => json!({ "featuresUsed": dice.below(available + 1), "featuresAvailable": available }),
            };
            let depth = match dice.below(3) {
                0 => json!({}),
                1 => json!({ "logins": dice.below(200) }),
                _ => json!({ "logins": dice.below(200), "sessionMinutes": dice.below(3000) }),
            };
            features.as_object_mut().expect("an object").extend(depth.as_object().cloned().unwrap_or_default());
            let mut record = json!({ "accountExternalId": account, "date": day(m, 1 + dice.below(28)),
                "activeUsers": dice.below(30), "licensedSeats": 1 + dice.below(20) });
            record.as_object_mut().expect("an object").extend(features.as_object().cloned().unwrap_or_default());
            usage.push(record);
        }
    }
    let mut touchpoints = Vec::new();
    for _ in 0..16 {
        let m = month(dice);
        touchpoints.push(json!({ "externalId": format!("P-{}", dice.below(24)), "accountExternalId": account(dice),
            "kind": "CALL", "occurredAt": instant(dice, m), "withExecutive": dice.below(2) == 0 }));
    }
    let mut advocacy = Vec::new();
    for _ in 0..10 {
        let m = month(dice);
        advocacy.push(json!({ "externalId": format!("V-{}", dice.below(16)), "accountExternalId": account(dice),
            "kind": "REVIEW", "occurredOn": day(m, 1 + dice.below(28)) }));
    }
    let mut requests = Vec::new();
    for _ in 0..10 {
        let m = month(dice);
        let shipped = match dice.below(2) {
            0 => Value::Null,
            _ => {
                let shipped = m + 1 + dice.below(4) as i32;
                json!(instant(dice, shipped))
            }
        };
        requests.push(json!({ "externalId": format!("R-{}", dice.below(16)), "accountExternalId": account(dice),
            "title": "Export", "status": "OPEN", "requestedAt": instant(dice, m), "shippedAt": shipped }));
    }
    [
        ("recordFeedback", "FeedbackInput", first_of_each(feedback, &external_id)),
        ("recordTickets", "TicketInput", first_of_each(tickets, &external_id)),
        ("recordUsage", "UsageInput", first_of_each(usage, &|r| json!([r["accountExternalId"], r["date"]]))),
        ("recordTouchpoints", "TouchpointInput", first_of_each(touchpoints, &external_id)),
        ("recordAdvocacy", "AdvocacyInput", first_of_each(advocacy, &external_id)),
        ("recordFeatureRequests", "FeatureRequestInput", first_of_each(requests, &external_id)),
    ]
}

/// `averageHealthScore` and `dataCompleteness` on month end `d`, per segment, from every
/// account's own health on `d` (computed on the fly from the raw records).
async fn health_by_definition(app: &TestApp, d: &str) -> Vec<(Value, Option<f64>, Option<f64>)> {
    let query = format!(
        "{{ accounts(first: 500) {{ edges {{ node {{ segment mrr(on: \"{d}\") health(on: \"{d}\") {{ score components {{ component }} }} }} }} }} }}"
    );
    let reply = app.gql(ADMIN, &query, json!({})).await;
    let nodes: Vec<Value> = reply.data()["accounts"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["node"].clone())
        .filter(|n| n["mrr"].as_str().is_some_and(|m| m.parse::<f64>().unwrap_or(0.0) > 0.0))
        .collect();
    let mut segments: Vec<Value> = nodes.iter().map(|n| n["segment"].clone()).collect();
    segments.sort_by_key(|s| s.to_string());
    segments.dedup();
    segments
        .into_iter()
        .map(|segment| {
            let active: Vec<&Value> = nodes.iter().filter(|n| n["segment"] == segment).collect();
            let scores: Vec<f64> = active.iter().filter_map(|n| n["health"]["score"].as_f64()).collect();
            let complete =
                active.iter().filter(|n| n["health"]["components"].as_array().map(Vec::len) == Some(6)).count();
            let mean = (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
            (segment, mean, Some(complete as f64 / active.len() as f64))
        })
        .collect()
}

/// The rows of `activity_book_months` that hold any count, in key order.
async fn activity_rows(app: &TestApp) -> Vec<Vec<String>> {
    use cs_kpi::metrics::activity::ACTIVITY_COLUMNS;
    let columns = ACTIVITY_COLUMNS.join(", ");
    let any = ACTIVITY_COLUMNS.map(|c| format!("{c} <> 0")).join(" OR ");
    let sql = format!(
        "SELECT csm_key, segment_key, month, {columns} FROM activity_book_months WHERE {any} \
         ORDER BY csm_key, segment_key, month"
    );
    let rows = by_definition(app, &sql, Vec::new()).await;
    let cells = |row: &sea_orm::QueryResult| {
        let mut cells = vec![
            row.try_get::<i64>("", "csm_key").expect("csm_key").to_string(),
            row.try_get::<String>("", "segment_key").expect("segment_key"),
            row.try_get::<i32>("", "month").expect("month").to_string(),
        ];
        cells.extend(ACTIVITY_COLUMNS.map(|c| row.try_get::<i64>("", c).expect(c).to_string()));
        cells
    };
    rows.iter().map(cells).collect()
}

/// Runs a statement written with `?` placeholders (numbered for PostgreSQL).
pub(crate) async fn by_definition(app: &TestApp, sql: &str, values: Vec<sea_orm::Value>) -> Vec<sea_orm::QueryResult> {
    use sea_orm::{DatabaseBackend, Statement};
    let backend = app.db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            let mut n = 0;
            sql.chars()
                .map(|c| match c {
                    '?' => {
                        n += 1;
                        format!("${n}")
                    }
                    c => c.to_string(),
                })
                .collect()
        }
        _ => sql.to_owned(),
    };
    app.db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await.expect("by definition")
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}

/// The first instant of a month.
fn midnight(month: i32) -> chrono::DateTime<chrono::Utc> {
    let day = chrono::NaiveDate::from_ymd_opt(month / 12, (month % 12 + 1) as u32, 1).expect("a month");
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

/// The start of the months `first..=last` at midnight, and of the month after them.
fn instants(first: i32, last: i32) -> [sea_orm::Value; 2] {
    [midnight(first), midnight(last + 1)].map(sea_orm::Value::from)
}

/// The median of `values`, by sorting them.
fn median_of(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    (n > 0).then(|| (values[(n - 1) / 2] + values[n / 2]) / 2.0)
}

/// `medianFirstResponseHours` and `medianResolutionHours` of the months `first..=last` for the
/// accounts of `segment`, by their definitions over every ticket.
async fn ticket_medians(app: &TestApp, segment: &Option<String>, first: i32, last: i32) -> [Option<f64>; 2] {
    use chrono::{DateTime, Utc};
    let sql = "SELECT a.segment, t.opened_at, t.first_response_at, t.resolved_at FROM tickets t \
               JOIN accounts a ON a.id = t.account_id";
    let (from, to) = (midnight(first), midnight(last + 1));
    let in_period = |t: &DateTime<Utc>| from <= *t && *t < to;
    let hours = |later: DateTime<Utc>, earlier: DateTime<Utc>| (later - earlier).num_seconds() as f64 / 3600.0;
    let (mut first_response, mut resolution) = (Vec::new(), Vec::new());
    for row in by_definition(app, sql, Vec::new()).await {
        let of: Option<String> = row.try_get("", "segment").expect("segment");
        if &of != segment {
            continue;
        }
        let opened: DateTime<Utc> = row.try_get("", "opened_at").expect("opened_at");
        let responded: Option<DateTime<Utc>> = row.try_get("", "first_response_at").expect("first_response_at");
        let resolved: Option<DateTime<Utc>> = row.try_get("", "resolved_at").expect("resolved_at");
        if let Some(responded) = responded.filter(|_| in_period(&opened)) {
            first_response.push(hours(responded, opened));
        }
        if let Some(resolved) = resolved.filter(in_period) {
            resolution.push(hours(resolved, opened));
        }
    }
    [median_of(first_response), median_of(resolution)]
}

/// `renewalRate` and `renewalDollarRate` of the months `first..=last` for the accounts of
/// `segment`, by their definitions (KPIS.md, section 1) over every subscription and its renewals,
/// in exact decimals.
async fn renewals_by_definition(app: &TestApp, segment: &Option<String>, first: i32, last: i32) -> [Option<f64>; 2] {
    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;
    let sql = "SELECT a.segment, s.id, s.mrr, s.end_date, r.mrr AS renewal_mrr FROM subscriptions s \
               JOIN accounts a ON a.id = s.account_id LEFT JOIN subscriptions r ON r.renews_id = s.id \
               WHERE s.end_date IS NOT NULL ORDER BY s.id";
    let (from, to) = (date(&day(first, 1)), date(&month_end(last)));
    // Per due subscription: its MRR and the MRR of each renewal.
    let mut due: std::collections::BTreeMap<i64, (Decimal, Vec<Decimal>)> = Default::default();
    for row in by_definition(app, sql, Vec::new()).await {
        let of: Option<String> = row.try_get("", "segment").expect("segment");
        let end: chrono::NaiveDate = row.try_get("", "end_date").expect("end_date");
        let last_day = end.pred_opt().expect("a day before");
        if &of != segment || last_day < from || last_day > to {
            continue;
        }
        let mrr: entity::Money = row.try_get("", "mrr").expect("mrr");
        let renewal: Option<entity::Money> = row.try_get("", "renewal_mrr").expect("renewal mrr");
        let entry = due.entry(row.try_get("", "id").expect("id")).or_insert((mrr.0, Vec::new()));
        entry.1.extend(renewal.map(|r| r.0));
    }
    let renewed = due.values().filter(|(_, renewals)| !renewals.is_empty()).count() as i64;
    let due_mrr: Decimal = due.values().map(|(mrr, _)| *mrr).sum();
    let renewal_mrr: Decimal = due.values().flat_map(|(_, renewals)| renewals).sum();
    let dollar_rate = (!due_mrr.is_zero()).then(|| (renewal_mrr / due_mrr).to_f64().expect("a ratio"));
    [share(renewed, due.len() as i64), dollar_rate]
}

/// `signups`, `activationRate`, `trialConversionRate` and `medianTimeToFirstValueDays` of the
/// months `first..=last` for the accounts of `segment`, by their definitions over the accounts
/// and their subscriptions.
async fn accounts_by_definition(app: &TestApp, segment: &Option<String>, first: i32, last: i32) -> [Option<f64>; 4] {
    use chrono::NaiveDate;
    let (from, to) = (date(&day(first, 1)), date(&month_end(last)));
    let paid =
        by_definition(app, "SELECT account_id, start_date FROM subscriptions WHERE CAST(mrr AS REAL) > 0", Vec::new())
            .await;
    let paid: Vec<(i64, NaiveDate)> = paid
        .iter()
        .map(|r| (r.try_get("", "account_id").expect("id"), r.try_get("", "start_date").expect("start")))
        .collect();
    let (mut signups, mut activated, mut converted, mut waits) = (0, 0, 0, Vec::new());
    let accounts = "SELECT id, segment, signed_up_on, activated_on, started_on, first_value_on FROM accounts";
    for row in by_definition(app, accounts, Vec::new()).await {
        let of: Option<String> = row.try_get("", "segment").expect("segment");
        let first_value: Option<NaiveDate> = row.try_get("", "first_value_on").expect("first_value_on");
        let started: Option<NaiveDate> = row.try_get("", "started_on").expect("started_on");
        if let (Some(value), Some(started)) =
            (first_value.filter(|d| &of == segment && from <= *d && *d <= to), started)
        {
            waits.push((value - started).num_days() as f64);
        }
        let signed: Option<NaiveDate> = row.try_get("", "signed_up_on").expect("signed_up_on");
        let Some(signed) = signed.filter(|d| &of == segment && from <= *d && *d <= to) else { continue };
        let id: i64 = row.try_get("", "id").expect("id");
        let activated_on: Option<NaiveDate> = row.try_get("", "activated_on").expect("activated_on");
        signups += 1;
        activated += i64::from(activated_on.is_some_and(|a| (a - signed).num_days() <= 30));
        converted +=
            i64::from(paid.iter().any(|(a, start)| *a == id && (0..=90).contains(&(*start - signed).num_days())));
    }
    [Some(signups as f64), share(activated, signups), share(converted, signups), median_of(waits)]
}

/// The KPIs over the records dated in the months `first..=last` (KPIS.md, sections 3, 4, 5
/// and 8), per segment, by their definitions: the counts in one plain statement over the
/// records, the rest by [`ticket_medians`] and [`accounts_by_definition`]; in the order of
/// `FIELDS` in [`assert_activity_by_definition`].
async fn activity_by_definition(app: &TestApp, first: i32, last: i32) -> Vec<(Value, [Option<f64>; 24])> {
    // Per account: the sum of `column` over its records of `table` (linked by `link`) meeting
    // `condition`, or 1 when it has any (`column` None); the condition's placeholders take `binds`.
    let period_at = instants(first, last).to_vec();
    let period_on = [date(&day(first, 1)), date(&month_end(last))].map(sea_orm::Value::from).to_vec();
    let of_account = |table: &str, link: &str, column: Option<&str>, condition: &str, binds: &Vec<sea_orm::Value>| {
        let records = format!("FROM {table} r WHERE r.{link} = a.id AND {condition}");
        let expression = match column {
            Some(column) => format!("COALESCE((SELECT SUM({column}) {records}), 0)"),
            None => format!("CASE WHEN EXISTS (SELECT 1 {records}) THEN 1 ELSE 0 END"),
        };
        (expression, binds.clone())
    };
    let tickets = |at: &str, more: &str| {
        of_account("tickets", "account_id", Some("1"), &format!("{at} >= ? AND {at} < ?{more}"), &period_at)
    };
    let responses = |kind: &str, column: &str, more: &str| {
        let condition = format!("kind = '{kind}'{more} AND responded_at >= ? AND responded_at < ?");
        of_account("feedback", "account_id", Some(column), &condition, &period_at)
    };
    let usage = |column: &str, more: &str| {
        let condition = format!("logins IS NOT NULL{more} AND date >= ? AND date <= ?");
        of_account("usage_records", "account_id", Some(column), &condition, &period_on)
    };
    let advocacy = "occurred_on >= ? AND occurred_on <= ?";
    let opening = date(&month_end(first - 1));
    let sums = [
        tickets("opened_at", ""),
        tickets("resolved_at", ""),
        tickets("resolved_at", " AND contacts_to_resolve = 1"),
        responses("NPS", "1", ""),
        responses("NPS", "1", " AND score >= 9"),
        responses("NPS", "1", " AND score <= 6"),
        responses("CSAT", "1", ""),
        responses("CSAT", "1", " AND score >= 4"),
        responses("CSAT", "score", ""),
        responses("CES", "1", ""),
        responses("CES", "score", ""),
        usage("logins", ""),
        usage("active_users", ""),
        usage("session_minutes", " AND session_minutes IS NOT NULL"),
        usage("logins", " AND session_minutes IS NOT NULL"),
        of_account(
            "touchpoints",
            "account_id",
            None,
            "with_executive AND occurred_at >= ? AND occurred_at < ?",
            &period_at,
        ),
        of_account("advocacy", "account_id", Some("1"), advocacy, &period_on),
        of_account("advocacy", "account_id", None, advocacy, &period_on),
        of_account("feature_requests", "account_id", Some("1"), "requested_at >= ? AND requested_at < ?", &period_at),
        of_account("feature_requests", "account_id", Some("1"), "shipped_at >= ? AND shipped_at < ?", &period_at),
        // Referrals and referred signups count with the referrer.
        of_account("accounts", "referred_by_id", Some("1"), "started_on >= ? AND started_on <= ?", &period_on),
        of_account("accounts", "referred_by_id", Some("1"), "signed_up_on >= ? AND signed_up_on <= ?", &period_on),
        // Active at the end of the opening month B (startCustomers, for viralCoefficient).
        of_account(
            "subscriptions",
            "account_id",
            None,
            "CAST(mrr AS REAL) > 0 AND start_date <= ? AND (end_date IS NULL OR end_date > ?)",
            &vec![sea_orm::Value::from(opening), sea_orm::Value::from(opening)],
        ),
    ];
    let columns: Vec<String> =
        sums.iter().enumerate().map(|(i, (sum, _))| format!("CAST(SUM({sum}) AS BIGINT) AS s{i}")).collect();
    let sql = format!("SELECT a.segment, {} FROM accounts a GROUP BY a.segment", columns.join(", "));
    let values: Vec<sea_orm::Value> = sums.iter().flat_map(|(_, binds)| binds.clone()).collect();
    let mut out = Vec::new();
    for row in by_definition(app, &sql, values).await {
        let s: Vec<i64> = (0..sums.len()).map(|i| row.try_get("", &format!("s{i}")).expect("a sum")).collect();
        let segment: Option<String> = row.try_get("", "segment").expect("segment");
        let [first_response, resolution] = ticket_medians(app, &segment, first, last).await;
        let [signups, activation, conversion, first_value] = accounts_by_definition(app, &segment, first, last).await;
        let [renewal_rate, renewal_dollar_rate] = renewals_by_definition(app, &segment, first, last).await;
        let kpis = [
            Some(s[0] as f64),
            share(s[2], s[1]),
            share(s[4] - s[5], s[3]).map(|r| 100.0 * r),
            Some(s[3] as f64),
            share(s[7], s[6]),
            share(s[8], s[6]),
            share(s[10], s[9]),
            share(s[11], s[12]),
            share(s[13], s[14]),
            first_response,
            resolution,
            Some(s[15] as f64),
            Some(s[16] as f64),
            Some(s[17] as f64),
            Some(s[18] as f64),
            Some(s[19] as f64),
            signups,
            activation,
            conversion,
            Some(s[20] as f64),
            share(s[21], s[22]),
            first_value,
            renewal_rate,
            renewal_dollar_rate,
        ];
        out.push((json!(segment), kpis));
    }
    out.sort_by_key(|o| o.0.to_string());
    out
}

/// The counted KPIs of every month, quarter and year of 2023-2026, per segment, against
/// [`activity_by_definition`]; and every CSM's scorecard `touchpoints` against a count of the
/// touchpoints of the accounts they hold.
async fn assert_activity_by_definition(app: &TestApp, round: usize) {
    const FIELDS: [&str; 24] = [
        "ticketsOpened",
        "firstContactResolutionRate",
        "nps",
        "npsResponses",
        "csat",
        "csatAverage",
        "ces",
        "loginsPerActiveUser",
        "averageSessionMinutes",
        "medianFirstResponseHours",
        "medianResolutionHours",
        "executiveRelationships",
        "advocacyActivities",
        "advocates",
        "featureRequestsOpened",
        "featureRequestsShipped",
        "signups",
        "activationRate",
        "trialConversionRate",
        "referrals",
        "viralCoefficient",
        "medianTimeToFirstValueDays",
        "renewalRate",
        "renewalDollarRate",
    ];
    for (granularity, months) in [("MONTH", 1), ("QUARTER", 3), ("YEAR", 12)] {
        let period = format!("period: {{ from: \"2023-01-01\", to: \"2026-12-31\", granularity: {granularity} }}");
        let query = format!("{{ kpis({period}, groupBy: SEGMENT) {{ periodStart group {} }} }}", FIELDS.join(" "));
        let reply = app.gql(ADMIN, &query, json!({})).await;
        let rows = reply.data()["kpis"].as_array().cloned().unwrap_or_default();
        for first in (2023 * 12..2027 * 12).step_by(months as usize) {
            let mut got: Vec<(Value, [Option<f64>; 24])> = rows
                .iter()
                .filter(|k| k["periodStart"] == json!(day(first, 1)))
                .map(|k| (k["group"].clone(), FIELDS.map(|f| k[f].as_f64())))
                .collect();
            got.sort_by_key(|g| g.0.to_string());
            let want = activity_by_definition(app, first, first + months - 1).await;
            assert!(
                got.len() == want.len()
                    && got
                        .iter()
                        .zip(&want)
                        .all(|(g, w)| g.0 == w.0 && g.1.iter().zip(&w.1).all(|(a, b)| close(*a, *b))),
                "round {round}, {granularity} of {}: ledger {got:?}, by definition {want:?}",
                day(first, 1)
            );
        }

        let query = format!("{{ csmScorecards({period}) {{ csm {{ id }} periodStart touchpoints }} }}");
        let reply = app.gql(ADMIN, &query, json!({})).await;
        for card in reply.data()["csmScorecards"].as_array().cloned().unwrap_or_default() {
            let start = card["periodStart"].as_str().expect("a period start");
            let first =
                start[..4].parse::<i32>().expect("a year") * 12 + start[5..7].parse::<i32>().expect("a month") - 1;
            let sql = "SELECT COUNT(*) AS n FROM touchpoints t JOIN accounts a ON a.id = t.account_id \
                       WHERE a.csm_id = ? AND t.occurred_at >= ? AND t.occurred_at < ?";
            let csm: i64 = card["csm"]["id"].as_str().and_then(|id| id.parse().ok()).expect("a CSM id");
            let [from, to] = instants(first, first + months - 1);
            let rows = by_definition(app, sql, vec![sea_orm::Value::from(csm), from, to]).await;
            let want: i64 = rows[0].try_get("", "n").expect("a count");
            assert_eq!(card["touchpoints"], json!(want), "round {round}: {card}");
        }
    }
}

/// `onboardingCompletionRate`, `engagementRate`, `seatUtilization` and `featureAdoptionRate` of
/// the months `first..=last`, per segment, by their definitions (KPIS.md, sections 5 and 8) in
/// one plain statement over the records: the accounts with a subscription of `mrr > 0` covering
/// the period's last day, their onboarding, whether they had a touchpoint in the period, and
/// their latest usage record of the last 30 days (among those with feature counts, for feature
/// adoption).
async fn adoption_by_definition(app: &TestApp, first: i32, last: i32) -> Vec<(Value, [Option<f64>; 4])> {
    use sea_orm::Value as Bound;
    let end = date(&month_end(last));
    let window_start = Bound::from(end - chrono::Days::new(30));
    let latest = |column: &str, with_features: bool| {
        let features =
            if with_features { " AND u.features_used IS NOT NULL AND u.features_available IS NOT NULL" } else { "" };
        format!(
            "SUM(COALESCE((SELECT u.{column} FROM usage_records u WHERE u.account_id = a.id AND u.date > ? \
             AND u.date <= ?{features} ORDER BY u.date DESC LIMIT 1), 0)) AS {column}"
        )
    };
    let sql = format!(
        "SELECT a.segment, COUNT(*) AS active, \
         SUM(CASE WHEN a.onboarding_completed_on <= ? THEN 1 ELSE 0 END) AS onboarded, \
         SUM(CASE WHEN EXISTS (SELECT 1 FROM touchpoints t WHERE t.account_id = a.id \
         AND t.occurred_at >= ? AND t.occurred_at < ?) THEN 1 ELSE 0 END) AS engaged, {}, {}, {}, {} \
         FROM accounts a WHERE EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = a.id \
         AND CAST(s.mrr AS REAL) > 0 AND s.start_date <= ? AND (s.end_date IS NULL OR s.end_date > ?)) \
         GROUP BY a.segment",
        latest("active_users", false),
        latest("licensed_seats", false),
        latest("features_used", true),
        latest("features_available", true),
    );
    let mut values = vec![Bound::from(end)];
    values.extend(instants(first, last));
    for _ in 0..4 {
        values.extend([window_start.clone(), Bound::from(end)]);
    }
    values.extend([Bound::from(end), Bound::from(end)]);
    let rows = by_definition(app, &sql, values).await;
    let mut out: Vec<(Value, [Option<f64>; 4])> = rows
        .iter()
        .map(|row| {
            let n = |column: &str| row.try_get::<i64>("", column).expect(column);
            let segment: Option<String> = row.try_get("", "segment").expect("segment");
            let active = n("active");
            let rates = [
                share(n("onboarded"), active),
                share(n("engaged"), active),
                share(n("active_users"), n("licensed_seats")),
                share(n("features_used"), n("features_available")),
            ];
            (json!(segment), rates)
        })
        .collect();
    out.sort_by_key(|o| o.0.to_string());
    out
}

/// Two figures equal within the KPIs' tolerance for ratios.
fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9,
        (a, b) => a == b,
    }
}

/// The month-end adoption KPIs of the month, quarter and year that hold `month`, per segment,
/// against [`adoption_by_definition`].
async fn assert_adoption_by_definition(app: &TestApp, round: usize, month: i32) {
    for (granularity, months) in [("MONTH", 1), ("QUARTER", 3), ("YEAR", 12)] {
        let first = month - month.rem_euclid(months);
        let query = format!(
            "{{ kpis(period: {{ from: \"{}\", to: \"{}\", granularity: {granularity} }}, groupBy: SEGMENT) \
             {{ group onboardingCompletionRate engagementRate seatUtilization featureAdoptionRate }} }}",
            day(first, 1),
            day(first, 1)
        );
        let reply = app.gql(ADMIN, &query, json!({})).await;
        let got: Vec<(Value, [Option<f64>; 4])> = reply.data()["kpis"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|k| !k["onboardingCompletionRate"].is_null())
            .map(|k| {
                let rate = |field: &str| k[field].as_f64();
                let rates = ["onboardingCompletionRate", "engagementRate", "seatUtilization", "featureAdoptionRate"];
                (k["group"].clone(), rates.map(rate))
            })
            .collect();
        let mut got = got;
        got.sort_by_key(|g| g.0.to_string());
        let want = adoption_by_definition(app, first, first + months - 1).await;
        assert!(
            got.len() == want.len()
                && got.iter().zip(&want).all(|(g, w)| g.0 == w.0 && g.1.iter().zip(&w.1).all(|(a, b)| close(*a, *b))),
            "round {round}, {granularity} of {}: ledger {got:?}, by definition {want:?}",
            day(first, 1)
        );
    }
}

#[tokio::test]
async fn health_and_adoption_kpis_equal_their_definitions_at_month_ends() {
    let mut dice = Dice(0x2545_f491_4f6c_dd1d);
    const ACCOUNTS: u64 = 12;
    let app = company(&mut dice, ACCOUNTS).await;
    for round in 0..3 {
        change_round(&app, &mut dice, ACCOUNTS, (12, 24), 1).await;
        for (mutation, input, rows) in health_inputs(&mut dice, ACCOUNTS) {
            let reply = app.ingest(INTEGRATION, mutation, input, &rows).await;
            assert!(reply.errors().is_empty(), "round {round} {mutation}: {:?}", reply.errors());
        }
        // An account whose activation (within 30 days of its signup, then not) and referrer
        // (from an SMB account to an ENT one), then first value, alone change: its signup and
        // first-value figures, and the referral counters of its old and new referrer, follow.
        let referrers = [
            json!({ "externalId": "ACC-1", "name": "One", "segment": "SMB" }),
            json!({ "externalId": "ACC-2", "name": "Two", "segment": "ENT" }),
        ];
        app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &referrers).await;
        let changes = [
            ("2024-03-20", "ACC-1", "2024-04-01"),
            ("2024-05-02", "ACC-2", "2024-04-01"),
            ("2024-05-02", "ACC-2", "2024-06-01"),
        ];
        for (activated, referrer, first_value) in changes {
            let row = json!({ "externalId": "ACC-0", "name": "Account 0", "segment": "SMB", "signedUpOn": "2024-03-10",
                "activatedOn": activated, "referredByExternalId": referrer, "startedOn": "2024-03-15",
                "firstValueOn": first_value });
            app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &[row]).await;
        }
        // A renewal in one account of due subscriptions of others (ending on the 1st: their last
        // active day is in the month before), written alone: renewing one, then the other, then
        // none. The renewals of the subscriptions it names, and named, follow.
        let due = [("SUB-DUE-A", "ACC-1", "2024-07-01"), ("SUB-DUE-B", "ACC-3", "2024-08-01")].map(|(id, account, end)| {
            json!({ "externalId": id, "accountExternalId": account, "mrr": "100.00", "startDate": "2024-01-10", "endDate": end })
        });
        app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &due).await;
        let renews = [Some("SUB-DUE-A"), Some("SUB-DUE-B"), None][round];
        let renewal = json!({ "externalId": "SUB-RENEWAL", "accountExternalId": "ACC-2", "mrr": "120.00",
            "startDate": "2024-08-01", "renewsExternalId": renews });
        app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &[renewal]).await;

        for month in (2023 * 12..2027 * 12).step_by(5) {
            let end = month_end(month);
            let query = format!(
                "{{ kpis(period: {{ from: \"{end}\", to: \"{end}\" }}, groupBy: SEGMENT) {{ group averageHealthScore dataCompleteness }} }}"
            );
            let reply = app.gql(ADMIN, &query, json!({})).await;
            let mut got: Vec<(Value, Option<f64>, Option<f64>)> = reply.data()["kpis"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|k| !k["dataCompleteness"].is_null())
                .map(|k| (k["group"].clone(), k["averageHealthScore"].as_f64(), k["dataCompleteness"].as_f64()))
                .collect();
            got.sort_by_key(|g| g.0.to_string());
            let want = health_by_definition(&app, &end).await;
            assert!(
                got.len() == want.len()
                    && got.iter().zip(&want).all(|(g, w)| g.0 == w.0 && close(g.1, w.1) && close(g.2, w.2)),
                "round {round}, {end}: ledger {got:?}, by definition {want:?}"
            );
        }
        for month in 2023 * 12..2027 * 12 {
            assert_adoption_by_definition(&app, round, month).await;
        }
        assert_activity_by_definition(&app, round).await;
    }
    assert!(app.count("health_points").await > 0 && app.count("activity_book_months").await > 0);
    // The ledger that ingest kept equals one built from the records.
    let before = activity_rows(&app).await;
    rebuild(&app).await;
    assert_eq!(before, activity_rows(&app).await, "the activity ledger drifted from its rebuild");
}

/// The key and stored bytes of every list of waits, in key order.
async fn wait_lists(app: &TestApp) -> Vec<(i64, String, i32, i32, Vec<u8>)> {
    let all = sea_orm::Statement::from_string(
        app.db.get_database_backend(),
        "SELECT csm_key, segment_key, month, measure, waits FROM wait_book_months \
         ORDER BY csm_key, segment_key, month, measure",
    );
    let rows = app.db.query_all_raw(all).await.expect("read the lists of waits");
    rows.iter()
        .map(|r| {
            let column = |name| r.try_get::<i64>("", name).unwrap_or_else(|e| panic!("{name}: {e}"));
            (
                column("csm_key"),
                r.try_get("", "segment_key").expect("segment_key"),
                r.try_get("", "month").expect("month"),
                r.try_get("", "measure").expect("measure"),
                r.try_get("", "waits").expect("waits"),
            )
        })
        .collect()
}

/// A database whose ledger is of version 5 (the lists of waits stored in full, eight bytes a
/// value) starts with the lists re-encoded and the same medians.
#[tokio::test]
async fn a_version_5_ledger_gets_its_lists_of_waits_re_encoded() {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    let app = TestApp::with_sample().await;
    let query = "{ kpis(period: { from: \"2024-01-01\", to: \"2026-10-31\" }, groupBy: SEGMENT) { \
        periodStart group medianFirstResponseHours medianResolutionHours medianTimeToFirstValueDays } }";
    let medians = app.gql(ADMIN, query, json!({})).await.data().clone();
    let cohorts = app.gql(ADMIN, COHORTS, json!({})).await.data().clone();
    let compact = wait_lists(&app).await;
    assert!(compact.len() > 1_000, "more lists than one statement re-encodes: {}", compact.len());

    let backend = app.db.get_database_backend();
    for (csm_key, segment_key, month, measure, bytes) in &compact {
        let mut values = Vec::new();
        cs_kpi::ledger::wait_list::decode_waits_into(bytes, &mut values).expect("a stored list");
        let full: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let update = Query::update()
            .table(Alias::new("wait_book_months"))
            .value(Alias::new("waits"), full)
            .and_where(Expr::col(Alias::new("csm_key")).eq(*csm_key))
            .and_where(Expr::col(Alias::new("segment_key")).eq(segment_key.clone()))
            .and_where(Expr::col(Alias::new("month")).eq(*month))
            .and_where(Expr::col(Alias::new("measure")).eq(*measure))
            .to_owned();
        app.db.execute_raw(backend.build(&update)).await.expect("store the list as version 5 did");
    }
    app.db
        .execute_unprepared("UPDATE aggregate_versions SET version = 5 WHERE name = 'ledger'")
        .await
        .expect("mark version 5");
    // Version 5 had no cohorts of first paid month either.
    app.db.execute_unprepared("DELETE FROM mrr_book_paid_cohorts").await.expect("forget the cohorts");
    assert_ne!(wait_lists(&app).await, compact, "the lists are stored in full now");

    cs_kpi::ledger::ensure_built(&app.db).await.expect("upgrade the ledger");
    assert_eq!(wait_lists(&app).await, compact, "every list in the compact form, as ingest writes it");
    let version =
        sea_orm::Statement::from_string(backend, "SELECT version FROM aggregate_versions WHERE name = 'ledger'");
    let row = app.db.query_one_raw(version).await.expect("read the version").expect("a version");
    assert_eq!(row.try_get::<i32>("", "version").expect("version"), 7);
    assert_eq!(app.gql(ADMIN, query, json!({})).await.data(), &medians);
    assert_eq!(app.gql(ADMIN, COHORTS, json!({})).await.data(), &cohorts);
}

/// The sample's cohorts of first paid month by every metric, followed five years.
const COHORTS: &str = "{ logos: cohorts(from: \"2023-01-01\", to: \"2026-10-31\", metric: LOGOS, months: 60) { cohort size startMrr retention } \
    net: cohorts(from: \"2023-01-01\", to: \"2026-10-31\", metric: NET_MRR, months: 60) { retention } \
    gross: cohorts(from: \"2023-01-01\", to: \"2026-10-31\", metric: GROSS_MRR, months: 60) { retention } }";

/// A database whose ledger is of version 6 (before the cohorts of first paid month) starts
/// with them built from the MRR change points, as ingest would have kept them.
#[tokio::test]
async fn a_version_6_ledger_gets_its_cohorts_of_first_paid_month_built() {
    let app = TestApp::with_sample().await;
    let cohorts = app.gql(ADMIN, COHORTS, json!({})).await.data().clone();
    let rows = app.count("mrr_book_paid_cohorts").await;
    assert!(rows > 100, "{rows} rows");
    app.db.execute_unprepared("DELETE FROM mrr_book_paid_cohorts").await.expect("forget the cohorts");
    app.db
        .execute_unprepared("UPDATE aggregate_versions SET version = 6 WHERE name = 'ledger'")
        .await
        .expect("mark version 6");
    assert_ne!(app.gql(ADMIN, COHORTS, json!({})).await.data(), &cohorts);
    cs_kpi::ledger::ensure_built(&app.db).await.expect("upgrade the ledger");
    assert_eq!(app.count("mrr_book_paid_cohorts").await, rows);
    assert_eq!(app.gql(ADMIN, COHORTS, json!({})).await.data(), &cohorts);
}

/// The `ingest` list of a kind of [`health_inputs`], by its input type.
fn ingest_list(input_type: &str) -> &'static str {
    match input_type {
        "FeedbackInput" => "feedback",
        "TicketInput" => "tickets",
        "UsageInput" => "usage",
        "TouchpointInput" => "touchpoints",
        "AdvocacyInput" => "advocacy",
        _ => "featureRequests",
    }
}

/// Batches sent at once over the same accounts and records, which PostgreSQL writes side by
/// side: each round, six `ingest` requests each move accounts (CSM, segment, referrer,
/// signup...), write subscriptions (some renewing others) and records of every kind, with
/// externalIds drawn from one small pool, so that the batches create the same new records,
/// move the same records between accounts and change the same accounts at the same time; then
/// six requests at once with new records of their own, in the same accounts, books and months
/// as the others' (they share only the ledger's rows); then six with tickets of six accounts of
/// one book, then with the same tickets answered at other times (they share only the book's
/// lists of waits). Every
/// request answers without an error (a batch that loses a race runs again), the counted KPIs
/// equal their definitions over the records, and the whole ledger equals a rebuild.
#[tokio::test]
async fn batches_sent_at_once_over_the_same_accounts_keep_the_ledger_exact() {
    const ACCOUNTS: u64 = 12;
    const WRITERS: usize = 6;
    let mut dice = Dice(0x1656_67b1_9e37_79f9);
    let app = std::sync::Arc::new(company(&mut dice, ACCOUNTS).await);
    for round in 0..3 {
        let existing: Vec<String> =
            by_definition(&app, "SELECT external_id FROM subscriptions ORDER BY id", Vec::new())
                .await
                .iter()
                .map(|row| row.try_get("", "external_id").expect("an externalId"))
                .collect();
        let mut shared = Vec::new();
        let mut own = Vec::new();
        for writer in 0..WRITERS {
            let accounts: Vec<Value> = (0..3)
                .map(|_| {
                    let n = dice.below(ACCOUNTS);
                    account(&mut dice, n)
                })
                .collect();
            let subscriptions: Vec<Value> = (0..4)
                .map(|_| {
                    let n = dice.below(16);
                    let renews = match (existing.is_empty(), dice.below(3)) {
                        (false, 0) => Some(dice.pick(&existing).as_str()).filter(|r| *r != format!("SUB-{n}")),
                        _ => None,
                    };
                    subscription(&mut dice, n, ACCOUNTS, renews)
                })
                .collect();
            let mut input = json!({
                "accounts": first_of_each(accounts, &external_id),
                "subscriptions": first_of_each(subscriptions, &external_id),
            });
            for (_, input_type, rows) in health_inputs(&mut dice, ACCOUNTS) {
                input[ingest_list(input_type)] = json!(rows);
            }
            shared.push(input);
            // Records no other batch names, in the same accounts and months as the others':
            // these batches share nothing but the ledger's rows.
            let mut input = json!({});
            for (_, input_type, mut rows) in health_inputs(&mut dice, ACCOUNTS) {
                if input_type != "UsageInput" {
                    for row in &mut rows {
                        let id = format!("{}-{round}-{writer}", row["externalId"].as_str().unwrap_or(""));
                        row["externalId"] = json!(id);
                    }
                    input[ingest_list(input_type)] = json!(rows);
                }
            }
            own.push(input);
        }
        send_at_once(&app, round, shared).await;
        send_at_once(&app, round, own).await;
        // Six accounts of one book, each with new tickets of its own answered in the same
        // months: these batches share only the book's rows...
        let book: Vec<Value> = (0..WRITERS)
            .map(|w| json!({ "externalId": format!("ACC-{w}"), "name": format!("Account {w}"), "segment": "SMB", "csmEmail": CSMS[0] }))
            .collect();
        app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &book).await;
        // ... then the same tickets answered at other times, which changes nothing but the
        // lists (no count of the book's months).
        for answered in [9, 14] {
            let same_book = (0..WRITERS)
                .map(|w| {
                    let tickets: Vec<Value> = (1..=3)
                        .map(|month| {
                            json!({ "externalId": format!("T-{round}-{w}-{month}"), "accountExternalId": format!("ACC-{w}"),
                                "openedAt": format!("2024-0{month}-1{w}T08:00:00Z"),
                                "firstResponseAt": format!("2024-0{month}-1{w}T{:02}:{w}0:00Z", answered + round) })
                        })
                        .collect();
                    json!({ "tickets": tickets })
                })
                .collect();
            send_at_once(&app, round, same_book).await;
        }
        assert_activity_by_definition(&app, round).await;
        let incremental = (revenue_figures(&app).await, activity_rows(&app).await, health_figures(&app).await);
        rebuild(&app).await;
        let rebuilt = (revenue_figures(&app).await, activity_rows(&app).await, health_figures(&app).await);
        assert!(incremental == rebuilt, "round {round}: the ledger drifted from its rebuild");
    }
}

/// Sends every `ingest` input at once; each must answer without an error.
async fn send_at_once(app: &std::sync::Arc<TestApp>, round: usize, inputs: Vec<Value>) {
    let mut writers = tokio::task::JoinSet::new();
    for input in inputs {
        let app = app.clone();
        writers.spawn(async move { app.ingest_kinds(INTEGRATION, &input).await });
    }
    for reply in writers.join_all().await {
        assert!(reply.errors().is_empty(), "round {round}: {:?}", reply.errors());
    }
}

/// The health and adoption KPIs of every month of 2023-2026 by segment.
async fn health_figures(app: &TestApp) -> Value {
    let query = "{ kpis(period: { from: \"2023-01-01\", to: \"2026-12-31\", granularity: MONTH }, groupBy: SEGMENT) { \
        periodStart group averageHealthScore dataCompleteness onboardingCompletionRate engagementRate \
        seatUtilization featureAdoptionRate } }";
    app.gql(ADMIN, query, json!({})).await.data().clone()
}

/// The externalIds a statement selects (its first column, `key`).
async fn keys(app: &TestApp, sql: &str) -> Vec<String> {
    by_definition(app, sql, Vec::new()).await.iter().map(|r| r.try_get("", "key").expect("a key")).collect()
}

/// Deletes `rows` as INTEGRATION; the counts.
async fn delete(app: &TestApp, rows: &[Value]) -> Value {
    let query = "mutation($input: [DeleteInput!]!) { deleteRecords(input: $input) { deleted missing cascaded } }";
    let reply = app.gql(INTEGRATION, query, json!({ "input": rows })).await;
    assert!(reply.errors().is_empty(), "{rows:?}: {:?}", reply.errors());
    reply.data()["deleteRecords"].clone()
}

/// Every figure the ledger feeds, and its per-account parts: revenue, health and adoption,
/// scorecards, feature requests, renewals, activity rollups.
async fn everything(app: &TestApp) -> Value {
    let reports = "{ csmScorecards(period: { from: \"2023-01-01\", to: \"2026-12-31\", granularity: YEAR }) { \
        csm { email } periodStart accounts bookMrr grossRevenueRetention netRevenueRetention renewalDollarRate \
        expansionMrr nps csat firstContactResolutionRate medianFirstResponseHours touchpoints \
        executiveRelationships averageHealthScore dataCompleteness } \
        featureRequests(period: { from: \"2023-01-01\", to: \"2026-12-31\" }, first: 100) { title accounts mrrAtStake open shipped } \
        kpis(period: { from: \"2023-01-01\", to: \"2026-12-31\", granularity: QUARTER }, groupBy: CSM) { \
        group ticketsOpened medianFirstResponseHours medianResolutionHours medianTimeToFirstValueDays \
        referrals advocates signups activationRate renewalRate renewalDollarRate npsResponses executiveRelationships } }";
    let mut parts = Vec::new();
    for table in ["health_points", "account_activity"] {
        let column = if table == "health_points" { "points" } else { "months" };
        let sql = format!(
            "SELECT a.external_id AS key, t.{column} AS part FROM {table} t \
            LEFT JOIN accounts a ON a.id = t.account_id ORDER BY t.account_id"
        );
        for row in by_definition(app, &sql, Vec::new()).await {
            let key: Option<String> = row.try_get("", "key").expect("a key");
            parts.push(json!([table, key, row.try_get::<String>("", "part").expect("a part")]));
        }
    }
    let changes = "SELECT a.external_id AS key, COUNT(*) AS n FROM mrr_changes c LEFT JOIN accounts a ON a.id = c.account_id \
        GROUP BY a.external_id ORDER BY a.external_id";
    for row in by_definition(app, changes, Vec::new()).await {
        let key: Option<String> = row.try_get("", "key").expect("a key");
        parts.push(json!(["mrr_changes", key, row.try_get::<i64>("", "n").expect("a count")]));
    }
    json!({
        "revenue": revenue_figures(app).await,
        "health": health_figures(app).await,
        "reports": app.gql(ADMIN, reports, json!({})).await.data().clone(),
        "activity": activity_rows(app).await,
        "parts": parts,
    })
}

fn as_list(value: &Value) -> Vec<Value> {
    value.as_array().cloned().unwrap_or_else(|| vec![value.clone()])
}

/// Forgets every part of the ledger and builds it again from the records.
pub(crate) async fn rebuild_everything(app: &TestApp) {
    app.db.execute_unprepared("DELETE FROM aggregate_versions").await.expect("forget the ledger's version");
    cs_kpi::ledger::ensure_built(&app.db).await.expect("rebuild the ledger");
}

#[tokio::test]
async fn deletes_and_merges_keep_every_figure_equal_to_a_rebuild() {
    let mut dice = Dice(0x5851_f42d_4c95_7f2d);
    const ACCOUNTS: u64 = 12;
    let app = company(&mut dice, ACCOUNTS).await;
    for round in 0..4 {
        // The accounts deleted in earlier rounds come back as new ones (merged ones stay aliases).
        let gone = keys(&app, "SELECT external_id AS key FROM account_aliases").await;
        let present = keys(&app, "SELECT external_id AS key FROM accounts").await;
        let back: Vec<Value> = (0..ACCOUNTS)
            .filter(|n| !gone.contains(&format!("ACC-{n}")) && !present.contains(&format!("ACC-{n}")))
            .map(|n| json!({ "externalId": format!("ACC-{n}"), "name": format!("Account {n}"), "segment": "SMB" }))
            .collect();
        if !back.is_empty() {
            let reply = app.ingest(INTEGRATION, "upsertAccounts", "AccountInput", &back).await;
            assert!(reply.errors().is_empty(), "round {round}: {:?}", reply.errors());
        }
        change_round(&app, &mut dice, ACCOUNTS, (12, 24), 0).await;
        let moved: Vec<Value> = (0..2)
            .map(|_| {
                let n = dice.below(ACCOUNTS);
                account(&mut dice, n)
            })
            .filter(|a| !gone.iter().any(|g| a["externalId"] == g.as_str()))
            .collect();
        app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &first_of_each(moved, &external_id)).await;
        for (mutation, input, rows) in health_inputs(&mut dice, ACCOUNTS) {
            let reply = app.ingest(INTEGRATION, mutation, input, &rows).await;
            assert!(reply.errors().is_empty(), "round {round} {mutation}: {:?}", reply.errors());
        }

        // One record of every kind (a renewed subscription among them), then an account with
        // everything of it, then a merge of two others.
        let mut rows = Vec::new();
        let renewed =
            "SELECT r.external_id AS key FROM subscriptions s JOIN subscriptions r ON s.renews_id = r.id ORDER BY r.id";
        for (kind, sql) in [
            ("SUBSCRIPTION", renewed),
            ("SUBSCRIPTION", "SELECT external_id AS key FROM subscriptions ORDER BY id"),
            ("FEEDBACK", "SELECT external_id AS key FROM feedback ORDER BY id"),
            ("TICKET", "SELECT external_id AS key FROM tickets ORDER BY id"),
            ("TOUCHPOINT", "SELECT external_id AS key FROM touchpoints ORDER BY id"),
            ("ADVOCACY", "SELECT external_id AS key FROM advocacy ORDER BY id"),
            ("FEATURE_REQUEST", "SELECT external_id AS key FROM feature_requests ORDER BY id"),
        ] {
            let found = keys(&app, sql).await;
            if !found.is_empty() {
                rows.push(json!({ "kind": kind, "externalId": dice.pick(&found) }));
            }
        }
        let usage = by_definition(
            &app,
            "SELECT a.external_id AS key, u.date AS day FROM usage_records u \
            JOIN accounts a ON a.id = u.account_id ORDER BY u.id",
            Vec::new(),
        )
        .await;
        if !usage.is_empty() {
            let u = dice.pick(&usage);
            let day: chrono::NaiveDate = u.try_get("", "day").expect("a day");
            rows.push(json!({ "kind": "USAGE", "accountExternalId": u.try_get::<String>("", "key").expect("a key"),
                "date": day.to_string() }));
        }
        let counts = delete(&app, &rows).await;
        assert_eq!(
            counts["deleted"].as_i64().unwrap_or_default() + counts["missing"].as_i64().unwrap_or_default(),
            rows.len() as i64,
            "round {round}: {counts}"
        );
        let accounts = keys(&app, "SELECT external_id AS key FROM accounts ORDER BY id").await;
        let doomed = dice.pick(&accounts).clone();
        delete(&app, &[json!({ "kind": "ACCOUNT", "externalId": doomed })]).await;
        let accounts = keys(&app, "SELECT external_id AS key FROM accounts ORDER BY id").await;
        let (from, into) = (dice.pick(&accounts).clone(), dice.pick(&accounts).clone());
        if from != into {
            let query = "mutation($input: [MergeInput!]!) { mergeAccounts(input: $input) { merged recordsMoved } }";
            let input = json!([{ "fromExternalId": from, "intoExternalId": into }]);
            let reply = app.gql(INTEGRATION, query, json!({ "input": input })).await;
            assert_eq!(reply.data()["mergeAccounts"]["merged"], 1, "round {round}: {:?}", reply.errors());
        }

        let incremental = everything(&app).await;
        rebuild_everything(&app).await;
        let rebuilt = everything(&app).await;
        for part in ["revenue", "health", "reports", "activity", "parts"] {
            let (kept, built) = (as_list(&incremental[part]), as_list(&rebuilt[part]));
            let only_kept: Vec<&Value> = kept.iter().filter(|v| !built.contains(v)).collect();
            let only_built: Vec<&Value> = built.iter().filter(|v| !kept.contains(v)).collect();
            assert!(
                kept == built,
                "round {round}: {part} drifted from a rebuild: kept {only_kept:?}, rebuilt {only_built:?}"
            );
        }
    }
    assert!(app.count("account_aliases").await > 0, "merges left aliases");
}
