//! KPIS.md section 9: cohorts of first paid month, the renewals list and the gross margin,
//! against the sample's expected values and against each definition computed from the records
//! with a plain query, for every scope and role.
use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, TestApp, fixture};
use crate::ledger::by_definition;

const FINANCE: &str = "finance@acme.example";
const CSM: &str = "csm10@acme.example";
const MANAGER: &str = "manager1@acme.example";

const COHORTS: &str = "query($f: Date!, $t: Date!, $m: CohortMetric!, $s: ScopeInput, $n: Int) { \
    cohorts(from: $f, to: $t, metric: $m, scope: $s, months: $n) { cohort size startMrr retention } }";

fn decimal(v: &Value) -> Option<Decimal> {
    v.as_str().and_then(|s| Decimal::from_str(s).ok())
}

/// Cohort rows compared: months and sizes exactly, money to the cent, ratios within 1e-9.
fn assert_same_rows(got: &[Value], want: &[Value], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: rows");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((&g["cohort"], &g["size"]), (&w["cohort"], &w["size"]), "{what}");
        let cents = |v: &Value| decimal(v).map(|d| d.round_dp(2));
        assert_eq!(cents(&g["startMrr"]), cents(&w["startMrr"]), "{what} {}: startMrr", w["cohort"]);
        let (gr, wr) = (g["retention"].as_array().unwrap(), w["retention"].as_array().unwrap());
        assert_eq!(gr.len(), wr.len(), "{what} {}: retention {gr:?} {wr:?}", w["cohort"]);
        for (k, (a, b)) in gr.iter().zip(wr).enumerate() {
            let close = match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9,
                _ => a.is_null() && b.is_null(),
            };
            assert!(close, "{what} {} retention[{k}]: got {a}, want {b}", w["cohort"]);
        }
    }
}

fn runner(role: &str) -> String {
    role.split_whitespace().nth(1).map_or_else(|| format!("{}@acme.example", role.to_lowercase()), str::to_owned)
}

/// A month as an index (year * 12 + month - 1).
fn index(day: NaiveDate) -> i32 {
    day.year() * 12 + day.month0() as i32
}

fn month_end(month: i32) -> NaiveDate {
    let next = NaiveDate::from_ymd_opt((month + 1) / 12, ((month + 1) % 12) as u32 + 1, 1).unwrap();
    next.pred_opt().unwrap()
}

/// Each account's subscriptions: `(mrr, start, end)`.
type Terms = BTreeMap<i64, Vec<(Decimal, NaiveDate, Option<NaiveDate>)>>;

/// The subscriptions of the accounts a plain statement selects (`accounts a`), as
/// `account -> [(mrr, start, end)]`.
async fn terms_of(
    app: &TestApp,
    accounts: &str,
    values: Vec<sea_orm::Value>,
) -> BTreeMap<i64, Vec<(Decimal, NaiveDate, Option<NaiveDate>)>> {
    let sql = format!(
        "SELECT s.account_id, s.mrr, s.start_date, s.end_date FROM subscriptions s WHERE s.account_id IN ({accounts})"
    );
    let mut out: BTreeMap<i64, Vec<_>> = BTreeMap::new();
    for row in by_definition(app, &sql, values).await {
        let mrr: entity::Money = row.try_get("", "mrr").unwrap();
        let term = (mrr.0, row.try_get("", "start_date").unwrap(), row.try_get("", "end_date").unwrap());
        out.entry(row.try_get("", "account_id").unwrap()).or_default().push(term);
    }
    out
}

/// KPIS.md 9's cohorts straight from the definition: `MRR(a, M)` at each month end.
fn cohorts_by_definition(
    terms: &Terms,
    (first, last): (i32, i32),
    months: i32,
    metric: &str,
    current: i32,
) -> Vec<Value> {
    let mrr = |account: i64, month: i32| -> Decimal {
        let end = month_end(month);
        terms[&account].iter().filter(|(_, s, e)| *s <= end && e.is_none_or(|e| end < e)).map(|(m, ..)| *m).sum()
    };
    let cohort_of = |account: i64| {
        (index(NaiveDate::from_ymd_opt(2015, 1, 1).unwrap())..=current + 120).find(|m| mrr(account, *m) > Decimal::ZERO)
    };
    (first..=last)
        .map(|c| {
            let members: Vec<i64> = terms.keys().copied().filter(|a| cohort_of(*a) == Some(c)).collect();
            let start: Decimal = members.iter().map(|a| mrr(*a, c)).sum();
            let retention: Vec<Value> = (c..=c + months)
                .map(|m| {
                    let value = match metric {
                        "LOGOS" => (!members.is_empty()).then(|| {
                            members.iter().filter(|a| mrr(**a, m) > Decimal::ZERO).count() as f64 / members.len() as f64
                        }),
                        "NET_MRR" => (!start.is_zero())
                            .then(|| (members.iter().map(|a| mrr(*a, m)).sum::<Decimal>() / start).to_string().parse().unwrap()),
                        _ => (!start.is_zero()).then(|| {
                            let kept: Decimal = members.iter().map(|a| mrr(*a, m).min(mrr(*a, c))).sum();
                            (kept / start).to_string().parse().unwrap()
                        }),
                    };
                    if m > current { Value::Null } else { json!(value) }
                })
                .collect();
            let first_day = NaiveDate::from_ymd_opt(c / 12, (c % 12) as u32 + 1, 1).unwrap();
            json!({ "cohort": first_day.to_string(), "size": members.len(), "startMrr": start.to_string(), "retention": retention })
        })
        .collect()
}

fn today_month() -> i32 {
    index(chrono::Utc::now().date_naive())
}

#[tokio::test]
async fn cohorts_match_the_expected_values_and_the_definition_for_every_scope() {
    let app = TestApp::with_sample().await;
    for file in [
        "cohorts_logos_2024-01_2025-10_portfolio.json",
        "cohorts_net_mrr_2024-01_2025-10_portfolio.json",
        "cohorts_gross_mrr_2024-01_2025-10_portfolio.json",
        "cohorts_net_mrr_2024-01_2025-10_csm_book_csm10.json",
    ] {
        let expected = fixture(&format!("expected/{file}"));
        let query = &expected["query"];
        let reply = app.gql(&runner(query["role"].as_str().unwrap()), COHORTS, query["variables"].clone()).await;
        let got = reply.data()["cohorts"].as_array().cloned().unwrap_or_default();
        assert_same_rows(&got, expected["result"].as_array().unwrap(), file);
    }

    // Every scope and role, every metric, from the sample's first month to months after today
    // (which have no retention yet), against the definition.
    let ids = by_definition(&app, "SELECT id, email FROM users", Vec::new()).await;
    let id_of = |email: &str| -> String {
        let row = ids.iter().find(|r| r.try_get::<String>("", "email").unwrap() == email).unwrap();
        row.try_get::<i64>("", "id").unwrap().to_string()
    };
    let team = by_definition(&app, "SELECT id FROM teams WHERE name = 'Growth'", Vec::new()).await;
    let team: i64 = team[0].try_get("", "id").unwrap();
    let managed = "SELECT a.id FROM accounts a WHERE a.csm_id IN (SELECT u.id FROM users u JOIN teams t ON t.id = u.team_id \
         JOIN users m ON m.id = t.manager_id WHERE m.email = ?)";
    let managed_segment = format!("{managed} AND a.segment = ?");
    let scopes: Vec<(&str, Value, &str, Vec<sea_orm::Value>)> = vec![
        (ADMIN, Value::Null, "SELECT a.id FROM accounts a", vec![]),
        (
            FINANCE,
            json!({ "segment": "Enterprise" }),
            "SELECT a.id FROM accounts a WHERE a.segment = ?",
            vec!["Enterprise".into()],
        ),
        (
            ADMIN,
            json!({ "csmId": id_of("csm03@acme.example") }),
            "SELECT a.id FROM accounts a JOIN users u ON u.id = a.csm_id WHERE u.email = ?",
            vec!["csm03@acme.example".into()],
        ),
        (
            ADMIN,
            json!({ "teamId": team.to_string() }),
            "SELECT a.id FROM accounts a JOIN users u ON u.id = a.csm_id WHERE u.team_id = ?",
            vec![team.into()],
        ),
        (
            CSM,
            Value::Null,
            "SELECT a.id FROM accounts a JOIN users u ON u.id = a.csm_id WHERE u.email = ?",
            vec![CSM.into()],
        ),
        (MANAGER, Value::Null, managed, vec![MANAGER.into()]),
        (MANAGER, json!({ "segment": "Mid-Market" }), &managed_segment, vec![MANAGER.into(), "Mid-Market".into()]),
    ];
    let current = today_month();
    let range = (index(NaiveDate::from_ymd_opt(2023, 9, 1).unwrap()), current + 2);
    let mut compared = 0;
    for (who, scope, accounts, values) in &scopes {
        let terms = terms_of(&app, accounts, values.clone()).await;
        for metric in ["LOGOS", "NET_MRR", "GROSS_MRR"] {
            let variables =
                json!({ "f": "2023-09-01", "t": month_end(range.1).to_string(), "m": metric, "s": scope, "n": 24 });
            let reply = app.gql(who, COHORTS, variables).await;
            let got = reply.data()["cohorts"].as_array().cloned().unwrap_or_default();
            let want = cohorts_by_definition(&terms, range, 24, metric, current);
            assert_same_rows(&got, &want, &format!("{who} {scope} {metric}"));
            compared += want.iter().filter(|r| r["size"].as_i64() > Some(0)).count();
        }
    }
    assert!(compared > 100, "only {compared} non-empty cohorts compared");
}

#[tokio::test]
async fn cohorts_and_renewals_refuse_bad_arguments_naming_them() {
    let app = TestApp::with_operators().await;
    let cohorts = |vars: Value| {
        let mut base = json!({ "f": "2025-01-01", "t": "2025-06-30", "m": "LOGOS", "s": null, "n": 12 });
        base.as_object_mut().unwrap().extend(vars.as_object().unwrap().clone());
        base
    };
    for (variables, field) in [
        (cohorts(json!({ "n": 61 })), "months"),
        (cohorts(json!({ "n": -1 })), "months"),
        (cohorts(json!({ "f": "2025-07-01" })), "from"),
        (cohorts(json!({ "f": "2015-01-01", "t": "2025-01-31" })), "to"),
    ] {
        let reply = app.gql(ADMIN, COHORTS, variables.clone()).await;
        assert_eq!(reply.codes(), ["BAD_USER_INPUT"], "{variables}: {}", reply.body);
        assert_eq!(reply.errors()[0]["extensions"]["field"], field, "{}", reply.body);
    }
    let renewals = "query($f: Date!, $t: Date!, $n: Int, $a: String) { renewals(from: $f, to: $t, first: $n, after: $a) { totalCount } }";
    for (variables, field) in [
        (json!({ "f": "2025-01-01", "t": "2025-03-31", "n": 501 }), "first"),
        (json!({ "f": "2025-01-01", "t": "2025-03-31", "n": -1 }), "first"),
        (json!({ "f": "2025-04-01", "t": "2025-03-31" }), "from"),
        (json!({ "f": "2010-01-01", "t": "2025-03-31" }), "to"),
        (json!({ "f": "2025-01-01", "t": "2025-03-31", "a": "account:5" }), "after"),
    ] {
        let reply = app.gql(ADMIN, renewals, variables.clone()).await;
        assert_eq!(reply.codes(), ["BAD_USER_INPUT"], "{variables}: {}", reply.body);
        assert_eq!(reply.errors()[0]["extensions"]["field"], field, "{}", reply.body);
    }
}

const RENEWALS: &str = "query($f: Date!, $t: Date!, $s: ScopeInput, $n: Int, $a: String) { \
    renewals(from: $f, to: $t, scope: $s, first: $n, after: $a) { totalCount totalMrr pageInfo { hasNextPage endCursor } \
    edges { cursor node { subscription { externalId } account { externalId health { status } } endDate mrr renewed healthStatus } } } }";

/// Every renewal of a query, page after page of `first`; the totals of each page.
async fn every_renewal(app: &TestApp, who: &str, variables: &Value, first: i64) -> (Vec<Value>, Vec<(Value, Value)>) {
    let (mut all, mut totals, mut after) = (Vec::new(), Vec::new(), Value::Null);
    loop {
        let mut variables = variables.clone();
        variables["n"] = json!(first);
        variables["a"] = after;
        let reply = app.gql(who, RENEWALS, variables).await;
        let connection = reply.data()["renewals"].clone();
        totals.push((connection["totalCount"].clone(), connection["totalMrr"].clone()));
        let edges = connection["edges"].as_array().cloned().unwrap_or_default();
        assert!(edges.len() as i64 <= first);
        if let Some(last) = edges.last() {
            assert_eq!(connection["pageInfo"]["endCursor"], last["cursor"]);
        }
        all.extend(edges.into_iter().map(|e| e["node"].clone()));
        if connection["pageInfo"]["hasNextPage"] != json!(true) {
            return (all, totals);
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test]
async fn renewals_list_what_the_renewal_rate_counts_page_by_page_for_every_scope() {
    let app = TestApp::with_sample().await;
    let expected = fixture("expected/renewals_2026-05-01_2026-10-31_portfolio.json");
    let (all, totals) = every_renewal(&app, ADMIN, &expected["query"]["variables"], 500).await;
    let want = &expected["result"];
    assert_eq!(totals, [(want["totalCount"].clone(), want["totalMrr"].clone())]);
    let got: Vec<Value> = all
        .iter()
        .map(|r| {
            json!({ "subscription": r["subscription"]["externalId"], "account": r["account"]["externalId"],
            "endDate": r["endDate"], "mrr": format!("{:.2}", decimal(&r["mrr"]).unwrap()), "renewed": r["renewed"] })
        })
        .collect();
    assert_eq!(got, want["renewals"].as_array().cloned().unwrap());
    // Today's health status of the account, as `Account.health` says.
    for renewal in &all {
        assert_eq!(renewal["healthStatus"], renewal["account"]["health"]["status"], "{renewal}");
    }
    assert!(all.iter().any(|r| r["healthStatus"].is_string()));

    // Pages of 4 give the same renewals, with the totals of all pages on each.
    let (paged, page_totals) = every_renewal(&app, ADMIN, &expected["query"]["variables"], 4).await;
    assert_eq!(paged, all);
    assert_eq!(page_totals.len(), all.len().div_ceil(4));
    assert!(page_totals.iter().all(|t| *t == totals[0]));

    // Every quarter and scope: the list is what the definition selects (a plain query) and
    // holds exactly what the quarter's renewalRate counts.
    let due = "SELECT s.external_id, s.end_date, EXISTS (SELECT 1 FROM subscriptions r WHERE r.renews_id = s.id) AS renewed \
        FROM subscriptions s JOIN accounts a ON a.id = s.account_id LEFT JOIN users u ON u.id = a.csm_id \
        WHERE s.end_date > ? AND s.end_date <= ?";
    let scopes: Vec<(&str, Value, String, Vec<sea_orm::Value>)> = vec![
        (ADMIN, Value::Null, String::new(), vec![]),
        (CSM, Value::Null, " AND u.email = ?".into(), vec![CSM.into()]),
        (FINANCE, json!({ "segment": "Enterprise" }), " AND a.segment = ?".into(), vec!["Enterprise".into()]),
        (
            MANAGER,
            Value::Null,
            " AND u.team_id IN (SELECT t.id FROM teams t JOIN users m ON m.id = t.manager_id WHERE m.email = ?)".into(),
            vec![MANAGER.into()],
        ),
    ];
    let mut listed = 0;
    for (who, scope, narrowing, values) in &scopes {
        for quarter in 0..12 {
            let from = NaiveDate::from_ymd_opt(2024 + quarter / 4, (quarter % 4) as u32 * 3 + 1, 1).unwrap();
            let to = NaiveDate::from_ymd_opt(from.year(), from.month() + 2, 1).unwrap();
            let to = month_end(index(to));
            let mut bound: Vec<sea_orm::Value> = vec![from.into(), to.succ_opt().unwrap().into()];
            bound.extend(values.iter().cloned());
            let rows = by_definition(&app, &format!("{due}{narrowing}"), bound).await;
            let mut want: Vec<(String, String, bool)> = rows
                .iter()
                .map(|r| {
                    let end: NaiveDate = r.try_get("", "end_date").unwrap();
                    let renewed = r
                        .try_get::<bool>("", "renewed")
                        .unwrap_or_else(|_| r.try_get::<i64>("", "renewed").unwrap() != 0);
                    (end.to_string(), r.try_get("", "external_id").unwrap(), renewed)
                })
                .collect();
            want.sort();
            let variables = json!({ "f": from.to_string(), "t": to.to_string(), "s": scope });
            let (got, totals) = every_renewal(&app, who, &variables, 3).await;
            let got: Vec<(String, String, bool)> = got
                .iter()
                .map(|r| {
                    (
                        r["endDate"].as_str().unwrap().into(),
                        r["subscription"]["externalId"].as_str().unwrap().into(),
                        r["renewed"] == json!(true),
                    )
                })
                .collect();
            assert_eq!(got, want, "{who} {scope} from {from}");
            assert_eq!(totals[0].0, json!(got.len()));
            let kpis = app
                .gql(who, "query($p: PeriodInput!, $s: ScopeInput) { kpis(period: $p, scope: $s) { renewalRate } }",
                    json!({ "p": { "from": from.to_string(), "to": to.to_string(), "granularity": "QUARTER" }, "s": scope }))
                .await;
            let rate = kpis.data()["kpis"][0]["renewalRate"].as_f64();
            let renewed = got.iter().filter(|r| r.2).count();
            let by_list = (!got.is_empty()).then(|| renewed as f64 / got.len() as f64);
            assert_eq!(
                rate.map(|r| (r * 1e9).round()),
                by_list.map(|r| (r * 1e9).round()),
                "{who} {scope} from {from}"
            );
            listed += got.len();
        }
    }
    assert!(listed > 50, "only {listed} renewals listed");
}

const MARGIN_KPIS: &str =
    "query($p: PeriodInput!) { kpis(period: $p) { periodStart arpa ltv cac ltvToCac cacPaybackMonths } }";

#[tokio::test]
async fn the_gross_margin_applies_to_ltv_and_payback_from_the_moment_it_is_set() {
    let app = TestApp::with_sample().await;
    let expected = fixture("expected/kpis_month_2025-11_2026-10_gross_margin_0.78.json");
    let variables = expected["query"]["variables"].clone();
    let before = app.gql(FINANCE, MARGIN_KPIS, variables.clone()).await;
    let settings = app.gql(FINANCE, "{ financeSettings { grossMargin baseCurrency } }", json!({})).await;
    assert_eq!(settings.data()["financeSettings"], json!({ "grossMargin": 1.0, "baseCurrency": "USD" }));

    // Only FINANCE and ADMIN read or set it; bad margins are refused naming the argument.
    let audited = app.count("audit_log").await;
    for who in [CSM, MANAGER, "integration@acme.example"] {
        let set = app.gql(who, "mutation { setFinanceSettings(grossMargin: 0.5) { grossMargin } }", json!({})).await;
        assert_eq!(set.codes(), ["FORBIDDEN"], "{who}: {}", set.body);
        let read = app.gql(who, "{ financeSettings { grossMargin } }", json!({})).await;
        assert_eq!(read.codes(), ["FORBIDDEN"], "{who}: {}", read.body);
    }
    for bad in [json!(0), json!(-0.2), json!(1.01), json!(1e308)] {
        let set = app
            .gql(
                ADMIN,
                "mutation($g: Float!) { setFinanceSettings(grossMargin: $g) { grossMargin } }",
                json!({ "g": bad }),
            )
            .await;
        assert_eq!(set.codes(), ["BAD_USER_INPUT"], "{bad}: {}", set.body);
        assert_eq!(set.errors()[0]["extensions"]["field"], "grossMargin", "{}", set.body);
    }
    assert_eq!(app.count("audit_log").await, audited, "a refused change writes nothing");
    assert_eq!(app.gql(FINANCE, MARGIN_KPIS, variables.clone()).await.body, before.body);

    let set = app.gql(FINANCE, expected["query"]["before"].as_str().unwrap(), json!({})).await;
    assert_eq!(set.data()["setFinanceSettings"]["grossMargin"], json!(0.78));
    assert_eq!(app.count("audit_log").await, audited + 1, "the change is audited");
    let audit = by_definition(
        &app,
        "SELECT actor_email, action, before, after FROM audit_log ORDER BY id DESC LIMIT 1",
        vec![],
    )
    .await;
    assert_eq!(audit[0].try_get::<String>("", "actor_email").unwrap(), FINANCE);
    assert_eq!(audit[0].try_get::<String>("", "action").unwrap(), "setFinanceSettings");
    assert!(audit[0].try_get::<String>("", "after").unwrap().contains("\"0.78\""));

    let after = app.gql(FINANCE, MARGIN_KPIS, variables).await;
    let rows = after.data()["kpis"].as_array().unwrap();
    let wanted = expected["result"].as_array().unwrap();
    assert_eq!(rows.len(), wanted.len());
    for (got, want) in rows.iter().zip(wanted) {
        for money in ["arpa", "ltv", "cac"] {
            assert_eq!(decimal(&got[money]), decimal(&want[money]), "{} {money}", want["periodStart"]);
        }
        for ratio in ["ltvToCac", "cacPaybackMonths"] {
            let close = match (got[ratio].as_f64(), want[ratio].as_f64()) {
                (Some(g), Some(w)) => (g - w).abs() <= 1e-9,
                (g, w) => g.is_none() && w.is_none(),
            };
            assert!(close, "{} {ratio}: got {}, want {}", want["periodStart"], got[ratio], want[ratio]);
        }
    }
    assert_ne!(after.body, before.body, "the margin changed ltv");
    let read = app.gql(ADMIN, "{ financeSettings { grossMargin } }", json!({})).await;
    assert_eq!(read.data()["financeSettings"]["grossMargin"], json!(0.78));
    let catalog = app.gql(ADMIN, "{ metricCatalog { name formula } }", json!({})).await;
    for name in ["ltv", "cacPaybackMonths"] {
        let entry = catalog.data()["metricCatalog"].as_array().unwrap().iter().find(|m| m["name"] == name).cloned();
        assert!(entry.is_some_and(|e| e["formula"].as_str().unwrap().contains("setFinanceSettings")), "{name}");
    }
}
