//! KPIs (KPIS.md, sections 1 to 8) against the expected values of the shared sample, their
//! identities, and hand-made edge cases.
use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, INTEGRATION, TestApp, fixture};

const MONEY: &[&str] = &[
    "mrr",
    "arr",
    "newMrr",
    "expansionMrr",
    "contractionMrr",
    "churnedMrr",
    "reactivationMrr",
    "netNewMrr",
    "arpa",
    "ltv",
];
const COUNTS: &[&str] = &["activeCustomers", "newCustomers", "reactivatedCustomers", "churnedCustomers"];
const RATIOS: &[&str] = &[
    "logoChurnRate",
    "grossMrrChurnRate",
    "netMrrChurnRate",
    "customerRetentionRate",
    "netRevenueRetention",
    "grossRevenueRetention",
    "netRevenueRetentionTtm",
    "grossRevenueRetentionTtm",
    "quickRatio",
    "upsellRate",
    "renewalRate",
    "renewalDollarRate",
];
/// Sections 3 to 5: voice of the customer, support, adoption and engagement.
const ACTIVITY_COUNTS: &[&str] = &[
    "npsResponses",
    "ticketsOpened",
    "executiveRelationships",
    "referrals",
    "advocacyActivities",
    "advocates",
    "featureRequestsOpened",
    "featureRequestsShipped",
    "signups",
];
const ACTIVITY_RATIOS: &[&str] = &[
    "nps",
    "csat",
    "csatAverage",
    "ces",
    "firstContactResolutionRate",
    "medianFirstResponseHours",
    "medianResolutionHours",
    "medianTimeToFirstValueDays",
    "onboardingCompletionRate",
    "seatUtilization",
    "engagementRate",
    "averageHealthScore",
    "dataCompleteness",
    "loginsPerActiveUser",
    "averageSessionMinutes",
    "featureAdoptionRate",
    "visitorConversionRate",
    "activationRate",
    "trialConversionRate",
    "viralCoefficient",
];
const COST_MONEY: &[&str] = &["cac", "costToServe", "costToServePerAccount", "customerRetentionCost"];
const COST_RATIOS: &[&str] = &["ltvToCac", "cacPaybackMonths"];

/// A `kpis` query selecting `fields`.
fn kpis_query(fields: &[&str]) -> String {
    format!(
        "query($p: PeriodInput!, $s: ScopeInput, $g: Dimension) {{ kpis(period: $p, scope: $s, groupBy: $g) {{ periodStart periodEnd group {} }} }}",
        fields.join(" ")
    )
}

fn kpi_fields(with_costs: bool) -> Vec<&'static str> {
    let mut fields: Vec<&str> =
        MONEY.iter().chain(COUNTS).chain(RATIOS).chain(ACTIVITY_COUNTS).chain(ACTIVITY_RATIOS).copied().collect();
    if with_costs {
        fields.extend(COST_MONEY.iter().chain(COST_RATIOS));
    }
    fields
}

fn decimal(v: &Value) -> Option<Decimal> {
    v.as_str().and_then(|s| Decimal::from_str(s).ok())
}

/// Compares one field: money to the cent, ratios within 1e-9, counts exactly, nulls as nulls.
fn same(field: &str, got: &Value, want: &Value) -> bool {
    if want.is_null() || got.is_null() {
        return want.is_null() && got.is_null();
    }
    if MONEY.contains(&field) || COST_MONEY.contains(&field) {
        return decimal(got).map(|d| d.round_dp(2)) == decimal(want).map(|d| d.round_dp(2));
    }
    if RATIOS.contains(&field) || COST_RATIOS.contains(&field) || ACTIVITY_RATIOS.contains(&field) {
        return got.as_f64().zip(want.as_f64()).is_some_and(|(g, w)| (g - w).abs() <= 1e-9);
    }
    got == want
}

/// The email (role string "CSM csm10@...") or the default user of a role ("ADMIN").
fn runner(role: &str) -> String {
    let mut words = role.split_whitespace();
    let role = words.next().unwrap_or_default();
    words.next().map(str::to_owned).unwrap_or_else(|| format!("{}@acme.example", role.to_lowercase()))
}

/// Group keys as the expected files write them: a CSM's email or a team's name for their ids.
async fn group_names(app: &TestApp) -> HashMap<String, String> {
    let reply = app.gql(ADMIN, "{ users { id email } teams { id name } }", json!({})).await;
    let data = reply.data();
    let users = data["users"].as_array().into_iter().flatten().map(|u| (u["id"].clone(), u["email"].clone()));
    let teams = data["teams"].as_array().into_iter().flatten().map(|t| (t["id"].clone(), t["name"].clone()));
    users.chain(teams).filter_map(|(id, name)| Some((id.as_str()?.to_owned(), name.as_str()?.to_owned()))).collect()
}

const KPI_FILES: &[&str] = &[
    "kpis_month_2024-11_2026-10_portfolio.json",
    "kpis_quarter_2024-11-15_2026-10-28_portfolio.json",
    "kpis_year_2023-06-15_2026-10-31_portfolio.json",
    "kpis_month_2025-11_2026-10_by_segment.json",
    "kpis_month_2025-11_2026-10_by_csm.json",
    "kpis_month_2025-11_2026-10_by_team.json",
    "kpis_month_2024-11_2026-10_csm_book_csm10.json",
    "kpis_month_2025-11_2026-10_team_enterprise.json",
];

#[tokio::test]
async fn kpis_match_the_expected_values() {
    expected_values_hold(&TestApp::with_sample().await).await;
}

/// The sample loaded through `ingest`, each account with all its records in one batch (so the
/// ledger follows every kind of an account at once), gives the same figures.
#[tokio::test]
async fn kpis_match_the_expected_values_when_each_account_arrives_with_its_records() {
    let app = TestApp::with_operators().await;
    let totals = app.load_sample_by_account(25).await;
    let created: i64 = totals.iter().map(|t| t["created"].as_i64().unwrap_or(-1)).sum();
    let counts = &crate::helpers::fixture("meta.json")["counts"];
    let sample_rows: i64 = counts.as_object().into_iter().flatten().filter_map(|(_, n)| n.as_i64()).sum();
    // Every row is created but the two operators, which exist already (the teams' second rows,
    // with their managers, update them).
    assert_eq!(created, sample_rows - 2, "{totals:?}");
    expected_values_hold(&app).await;
}

/// A query computes only the families (and parts of them) its selection names: every field asked
/// for alone answers what it answers among all the others.
#[tokio::test]
async fn each_kpi_selected_alone_answers_as_among_every_field() {
    let app = TestApp::with_sample().await;
    let expected = fixture("expected/kpis_month_2025-11_2026-10_by_segment.json");
    let variables = expected["query"]["variables"].clone();
    let every = by_period(&app.gql(ADMIN, &kpis_query(&kpi_fields(true)), variables.clone()).await);
    assert!(every.len() > 10, "{every:?}");
    for field in kpi_fields(true) {
        let alone = app.gql(ADMIN, &kpis_query(&[field]), variables.clone()).await;
        assert!(alone.errors().is_empty(), "{field}: {}", alone.body);
        let alone = by_period(&alone);
        assert_eq!(alone.len(), every.len(), "{field}");
        for (got, want) in alone.iter().zip(&every) {
            assert!(
                same(field, &got[field], &want[field]),
                "{field} {} {}: alone {}, among all {}",
                want["periodStart"],
                want["group"],
                got[field],
                want[field]
            );
        }
    }
}

/// Every value of the expected files, and the movements list, as each file's role reads them.
pub(crate) async fn expected_values_hold(app: &TestApp) {
    let names = group_names(app).await;
    let mut compared = 0;
    for file in KPI_FILES {
        let expected = fixture(&format!("expected/{file}"));
        let query = &expected["query"];
        let who = runner(query["role"].as_str().unwrap_or_default());
        let sees_costs = who == ADMIN || who.starts_with("finance");
        let reply = app.gql(&who, &kpis_query(&kpi_fields(sees_costs)), query["variables"].clone()).await;
        let rows = reply.data()["kpis"].as_array().cloned().unwrap_or_default();
        let wanted = expected["result"].as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), wanted.len(), "{file}: rows");
        for (got, want) in rows.iter().zip(&wanted) {
            let group = got["group"].as_str().map(|g| names.get(g).cloned().unwrap_or_else(|| g.to_owned()));
            assert_eq!((&got["periodStart"], &got["periodEnd"]), (&want["periodStart"], &want["periodEnd"]), "{file}");
            assert_eq!(group.as_deref(), want["group"].as_str(), "{file} {}", want["periodStart"]);
            for field in kpi_fields(sees_costs) {
                if let Some(w) = want.get(field) {
                    assert!(
                        same(field, &got[field], w),
                        "{file} {} {:?} {field}: got {}, want {w}",
                        want["periodStart"],
                        group,
                        got[field]
                    );
                    compared += 1;
                }
            }
        }
        if !sees_costs {
            // Cost KPIs are FORBIDDEN for CSMs and managers; the rest of the row is returned.
            let reply = app.gql(&who, &kpis_query(&["mrr", "cac"]), query["variables"].clone()).await;
            assert!(
                !reply.codes().is_empty() && reply.codes().iter().all(|c| c == "FORBIDDEN"),
                "{file}: {}",
                reply.body
            );
            assert!(reply.body["data"]["kpis"][0]["mrr"].is_string());
        }
    }
    assert!(compared > 5_000, "only {compared} values compared");

    let expected = fixture("expected/mrr_movements_month_2025-11_2026-10_portfolio.json");
    let query = "query($p: PeriodInput!) { mrrMovements(period: $p) { account { externalId } month kind amount mrrBefore mrrAfter } }";
    let reply = app.gql(ADMIN, query, expected["query"]["variables"].clone()).await;
    let got: Vec<Value> = reply.data()["mrrMovements"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let money = |k: &str| json!(decimal(&m[k]).map(|d| d.round_dp(2).to_string()));
            json!([
                m["account"]["externalId"],
                m["month"],
                m["kind"],
                money("amount"),
                money("mrrBefore"),
                money("mrrAfter")
            ])
        })
        .collect();
    let want: Vec<Value> = expected["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let money = |k: &str| json!(decimal(&m[k]).map(|d| d.round_dp(2).to_string()));
            json!([m["account"], m["month"], m["kind"], money("amount"), money("mrrBefore"), money("mrrAfter")])
        })
        .collect();
    assert_eq!(got, want);
}

/// Rows of `kpis` as `periodStart -> row`.
fn by_period(reply: &crate::helpers::Reply) -> Vec<Value> {
    reply.data()["kpis"].as_array().cloned().unwrap_or_default()
}

fn money(v: &Value) -> Decimal {
    decimal(v).unwrap_or(Decimal::MIN)
}

#[tokio::test]
async fn identities_hold_and_books_do_not_leak() {
    let app = TestApp::with_sample().await;
    let months = json!({ "p": { "from": "2024-10-01", "to": "2026-10-31" } });
    let all = kpi_fields(false);
    let portfolio = by_period(&app.gql(ADMIN, &kpis_query(&all), months.clone()).await);

    // netNewMrr = MRR(last month of P) - MRR(last month of prev(P)), monthly and quarterly.
    for pair in portfolio.windows(2) {
        assert_eq!(
            money(&pair[1]["netNewMrr"]),
            money(&pair[1]["mrr"]) - money(&pair[0]["mrr"]),
            "{}",
            pair[1]["periodStart"]
        );
    }
    let quarters = by_period(
        &app.gql(
            ADMIN,
            &kpis_query(&all),
            json!({ "p": { "from": "2024-01-01", "to": "2026-10-31", "granularity": "QUARTER" } }),
        )
        .await,
    );
    for pair in quarters.windows(2) {
        assert_eq!(money(&pair[1]["netNewMrr"]), money(&pair[1]["mrr"]) - money(&pair[0]["mrr"]));
    }

    // The movement KPIs are the sums of mrrMovements, month by month.
    let query = "query($p: PeriodInput!) { mrrMovements(period: $p) { month kind amount } }";
    let reply = app.gql(ADMIN, query, months.clone()).await;
    let mut sums: HashMap<(String, String), (Decimal, i64)> = HashMap::new();
    for m in reply.data()["mrrMovements"].as_array().into_iter().flatten() {
        let entry = sums
            .entry((
                m["month"].as_str().unwrap_or_default().to_owned(),
                m["kind"].as_str().unwrap_or_default().to_owned(),
            ))
            .or_default();
        entry.0 += money(&m["amount"]);
        entry.1 += 1;
    }
    for row in &portfolio {
        let month = row["periodStart"].as_str().unwrap_or_default().to_owned();
        for (kind, amount, customers) in [
            ("NEW", "newMrr", Some("newCustomers")),
            ("EXPANSION", "expansionMrr", None),
            ("CONTRACTION", "contractionMrr", None),
            ("CHURN", "churnedMrr", Some("churnedCustomers")),
            ("REACTIVATION", "reactivationMrr", Some("reactivatedCustomers")),
        ] {
            let (sum, count) = sums.get(&(month.clone(), kind.to_owned())).copied().unwrap_or_default();
            assert_eq!(sum, money(&row[amount]), "{month} {kind}");
            if let Some(customers) = customers {
                assert_eq!(Some(count), row[customers].as_i64(), "{month} {kind}");
            }
        }
    }

    // A CSM's numbers are the portfolio's restricted to the CSM's book, however they are asked.
    let csm = "csm10@acme.example";
    let reply = app.gql(ADMIN, "{ users { id email } }", json!({})).await;
    let csm_id = reply.data()["users"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| u["email"] == csm)
        .map(|u| u["id"].clone())
        .unwrap_or_default();
    let own = by_period(&app.gql(csm, &kpis_query(&all), months.clone()).await);
    let scoped =
        by_period(&app.gql(ADMIN, &kpis_query(&all), json!({ "p": months["p"], "s": { "csmId": csm_id } })).await);
    let grouped: Vec<Value> =
        by_period(&app.gql(ADMIN, &kpis_query(&all), json!({ "p": months["p"], "g": "CSM" })).await)
            .into_iter()
            .filter(|row| row["group"] == csm_id)
            .map(|mut row| {
                row["group"] = Value::Null;
                row
            })
            .collect();
    assert_eq!(own, scoped);
    assert_eq!(own, grouped);
    assert_ne!(own, portfolio);

    // Scopes only narrow; periods are bounded.
    let reply =
        app.gql(csm, &kpis_query(&["mrr"]), json!({ "p": months["p"], "s": { "segment": "Enterprise" } })).await;
    assert!(reply.errors().is_empty(), "{}", reply.body);
    let other = reply.data();
    assert!(other["kpis"].as_array().is_some_and(|rows| rows.len() == 25));
    for (variables, code) in [
        (json!({ "p": months["p"], "s": { "teamId": "1" } }), "FORBIDDEN"),
        (json!({ "p": { "from": "2026-02-01", "to": "2026-01-01" } }), "BAD_USER_INPUT"),
        (json!({ "p": { "from": "2016-01-01", "to": "2026-01-31" } }), "BAD_USER_INPUT"),
    ] {
        let reply = app.gql(csm, &kpis_query(&["mrr"]), variables.clone()).await;
        assert_eq!(reply.codes(), vec![code], "{variables}: {}", reply.body);
    }
    let reply = app.gql(csm, &kpis_query(&["mrr"]), json!({ "p": { "from": "2016-02-01", "to": "2026-01-31" } })).await;
    assert_eq!(by_period(&reply).len(), 120, "120 periods are allowed");
    let reply = app.gql(INTEGRATION, &kpis_query(&["mrr"]), months).await;
    assert_eq!(reply.codes(), vec!["FORBIDDEN"]);
}

#[tokio::test]
async fn hand_made_edge_cases() {
    let app = TestApp::with_operators().await;
    let accounts: Vec<Value> =
        ["ACC-A", "ACC-B", "ACC-C"].iter().map(|id| json!({ "externalId": id, "name": id })).collect();
    app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &accounts).await;
    let sub = |id: &str, account: &str, mrr: &str, start: &str, end: Option<&str>, renews: Option<&str>| json!({ "externalId": id, "accountExternalId": account, "mrr": mrr, "startDate": start, "endDate": end, "renewsExternalId": renews });
    let subscriptions = [
        // Inside one month: never at a month end, so never counted.
        sub("S-A1", "ACC-A", "100", "2026-01-10", Some("2026-01-20"), None),
        // Ends on the first of March: churned at the end of March; back in May, renewing S-B1.
        sub("S-B1", "ACC-B", "100", "2026-01-01", Some("2026-03-01"), None),
        sub("S-B2", "ACC-B", "80", "2026-05-15", None, Some("S-B1")),
        // Two subscriptions on one account; one ends, a contraction.
        sub("S-C1", "ACC-C", "50", "2026-02-01", Some("2026-04-01"), None),
        sub("S-C2", "ACC-C", "70", "2026-02-01", None, None),
    ];
    app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &subscriptions).await;

    let query = "query($p: PeriodInput!) { mrrMovements(period: $p) { account { externalId } month kind amount mrrBefore mrrAfter } }";
    let reply = app.gql(ADMIN, query, json!({ "p": { "from": "2025-06-01", "to": "2027-03-31" } })).await;
    let movements: Vec<(String, String, String, String)> = reply.data()["mrrMovements"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&m["account"]["externalId"]),
                text(&m["month"]),
                text(&m["kind"]),
                money(&m["amount"]).normalize().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String, String)> = [
        ("ACC-B", "2026-01-01", "NEW", "100"),
        ("ACC-C", "2026-02-01", "NEW", "120"),
        ("ACC-B", "2026-03-01", "CHURN", "100"),
        ("ACC-C", "2026-04-01", "CONTRACTION", "50"),
        ("ACC-B", "2026-05-01", "REACTIVATION", "80"),
    ]
    .iter()
    .map(|(a, m, k, x)| (a.to_string(), m.to_string(), k.to_string(), x.to_string()))
    .collect();
    assert_eq!(movements, expected);

    let fields = [
        "mrr",
        "activeCustomers",
        "newMrr",
        "churnedMrr",
        "logoChurnRate",
        "grossMrrChurnRate",
        "quickRatio",
        "arpa",
        "ltv",
        "netRevenueRetention",
        "grossRevenueRetention",
        "customerRetentionRate",
        "renewalRate",
        "renewalDollarRate",
    ];
    let rows = by_period(
        &app.gql(ADMIN, &kpis_query(&fields), json!({ "p": { "from": "2026-01-01", "to": "2026-06-30" } })).await,
    );
    let mrr: Vec<Decimal> = rows.iter().map(|r| money(&r["mrr"])).collect();
    assert_eq!(mrr, [100, 220, 120, 70, 150, 150].map(Decimal::from).to_vec());
    let renewal = |i: usize| (rows[i]["renewalRate"].as_f64(), rows[i]["renewalDollarRate"].as_f64());
    assert_eq!(renewal(0), (Some(0.0), Some(0.0)), "S-A1 was due in January and not renewed");
    assert_eq!(renewal(1), (Some(1.0), Some(0.8)), "S-B1 was due in February and renewed by S-B2 at 80");
    assert_eq!(renewal(2), (Some(0.0), Some(0.0)), "S-C1 was due in March");
    assert_eq!(renewal(5), (None, None), "nothing due in June");
    assert_eq!(rows[2]["logoChurnRate"].as_f64(), Some(0.5));

    // A period with no data at all: sums are 0, every quotient null.
    let empty = &by_period(
        &app.gql(ADMIN, &kpis_query(&fields), json!({ "p": { "from": "2025-06-01", "to": "2025-06-30" } })).await,
    )[0];
    assert_eq!((money(&empty["mrr"]), empty["activeCustomers"].as_i64()), (Decimal::ZERO, Some(0)));
    for field in [
        "logoChurnRate",
        "grossMrrChurnRate",
        "quickRatio",
        "arpa",
        "ltv",
        "netRevenueRetention",
        "customerRetentionRate",
        "renewalRate",
    ] {
        assert!(empty[field].is_null(), "{field}: {}", empty[field]);
    }
    // A period past the last data: the open subscriptions stay active.
    let later = &by_period(
        &app.gql(ADMIN, &kpis_query(&fields), json!({ "p": { "from": "2027-03-01", "to": "2027-03-31" } })).await,
    )[0];
    assert_eq!(money(&later["mrr"]), Decimal::from(150));
    assert_eq!(
        (
            later["logoChurnRate"].as_f64(),
            later["netRevenueRetention"].as_f64(),
            later["grossRevenueRetention"].as_f64()
        ),
        (Some(0.0), Some(1.0), Some(1.0))
    );
    assert_eq!(
        (money(&later["arpa"]), later["quickRatio"].is_null(), later["ltv"].is_null()),
        (Decimal::from(75), true, true)
    );
}

#[tokio::test]
async fn the_metric_catalog_describes_every_kpi_computed() {
    let app = TestApp::with_operators().await;
    let reply = app.gql(ADMIN, "{ metricCatalog { name description unit formula roles } }", json!({})).await;
    let catalog: HashMap<String, Value> = reply.data()["metricCatalog"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (m["name"].as_str().unwrap_or_default().to_owned(), m.clone()))
        .collect();
    for field in kpi_fields(true) {
        let entry = catalog.get(field).unwrap_or_else(|| panic!("{field} is not in the catalog"));
        assert!(
            ["description", "unit", "formula"].iter().all(|k| entry[*k].as_str().is_some_and(|s| !s.is_empty())),
            "{entry}"
        );
        let roles = if COST_MONEY.contains(&field) || COST_RATIOS.contains(&field) {
            json!(["ADMIN", "FINANCE"])
        } else {
            json!(["ADMIN", "MANAGER", "CSM", "FINANCE"])
        };
        assert_eq!(entry["roles"], roles, "{field}");
    }
    for name in
        ["healthScore", "scorecard.accounts", "scorecard.bookMrr", "scorecard.touchpoints", "scorecard.attainment"]
    {
        assert!(catalog.contains_key(name), "{name} is not in the catalog");
    }
    assert_eq!(catalog["scorecard.attainment"]["roles"], json!(["ADMIN", "MANAGER", "CSM"]));
    assert!(catalog["quickRatio"]["formula"].as_str().is_some_and(|f| f.contains("reactivationMrr")));
    assert!(catalog["ltv"]["formula"].as_str().is_some_and(|f| f.contains("6 months")));
}

#[tokio::test]
async fn feature_requests_are_ranked_by_mrr_at_stake() {
    let app = TestApp::with_sample().await;
    let expected = fixture("expected/feature_requests_month_2025-11_2026-10_portfolio_first20.json");
    let query = "query($p: PeriodInput!, $s: ScopeInput, $f: Int) { featureRequests(period: $p, scope: $s, first: $f) { title accounts mrrAtStake open shipped } }";
    let variables = expected["query"]["variables"].clone();
    let reply = app.gql(ADMIN, query, variables.clone()).await;
    let got = reply.data()["featureRequests"].as_array().cloned().unwrap_or_default();
    let want = expected["result"].as_array().cloned().unwrap_or_default();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (&g["title"], &g["accounts"], &g["open"], &g["shipped"]),
            (&w["title"], &w["accounts"], &w["open"], &w["shipped"])
        );
        assert_eq!(money(&g["mrrAtStake"]).round_dp(2), money(&w["mrrAtStake"]).round_dp(2), "{}", w["title"]);
    }
    // Identical titles from accounts of two CSMs: each CSM sees only their own account in the group.
    let shared = "Custom fields on accounts";
    let group = |reply: &crate::helpers::Reply| {
        reply.data()["featureRequests"].as_array().into_iter().flatten().find(|g| g["title"] == shared).cloned()
    };
    let all = group(&app.gql(ADMIN, query, json!({ "p": variables["p"], "f": 100 })).await).expect("the shared title");
    assert!(all["accounts"].as_i64() >= Some(2), "{all}");
    let mut seen = 0;
    for csm in (1..=12).map(|i| format!("csm{i:02}@acme.example")) {
        if let Some(mine) = group(&app.gql(&csm, query, json!({ "p": variables["p"], "f": 100 })).await) {
            assert!(mine["accounts"].as_i64() < all["accounts"].as_i64(), "{csm}: {mine}");
            seen += mine["accounts"].as_i64().unwrap_or(0);
        }
    }
    assert_eq!(Some(seen), all["accounts"].as_i64());
    for first in [0, 101] {
        let reply = app.gql(ADMIN, query, json!({ "p": variables["p"], "f": first })).await;
        assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"]);
    }
}

/// Money accepts 15 integer digits; the renewal MRR of a month sums such amounts exactly (in
/// 1/10000 units alone, one of them overflowed 64 bits).
#[tokio::test]
async fn renewal_mrr_sums_the_largest_amounts_exactly() {
    let app = TestApp::with_operators().await;
    let accounts: Vec<Value> = ["ACC-A", "ACC-B"].iter().map(|id| json!({ "externalId": id, "name": id })).collect();
    app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &accounts).await;
    let (due, renewal) = ("999999999999999.9999", "333333333333333.3333");
    let mut subscriptions = Vec::new();
    for account in ["ACC-A", "ACC-B"] {
        subscriptions.push(json!({ "externalId": format!("{account}-1"), "accountExternalId": account, "mrr": due,
            "startDate": "2026-01-01", "endDate": "2026-02-01" }));
        subscriptions.push(json!({ "externalId": format!("{account}-2"), "accountExternalId": account, "mrr": renewal,
            "startDate": "2026-02-01", "renewsExternalId": format!("{account}-1") }));
    }
    app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &subscriptions).await;

    let fields = ["renewalRate", "renewalDollarRate"];
    let reply =
        app.gql(ADMIN, &kpis_query(&fields), json!({ "p": { "from": "2026-01-01", "to": "2026-01-31" } })).await;
    let january = &by_period(&reply)[0];
    assert_eq!(january["renewalRate"].as_f64(), Some(1.0), "{}", reply.body);
    let exact = Decimal::from_str(renewal).unwrap_or_default() / Decimal::from_str(due).unwrap_or_default();
    let rate = january["renewalDollarRate"].as_f64().unwrap_or(f64::NAN);
    assert!((rate - exact.to_string().parse::<f64>().unwrap_or(0.0)).abs() < 1e-9, "{rate} for {exact}");
}
