//! CSM scorecards and goals (KPIS.md, section 7) against the expected values, and who may see
//! and set what.
use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, TestApp, fixture};

const SCORECARDS: &str = "query($p: PeriodInput!, $c: ID) { csmScorecards(period: $p, csmId: $c) { csm { id email } \
    periodStart periodEnd accounts bookMrr grossRevenueRetention netRevenueRetention customerRetentionRate renewalDollarRate \
    expansionMrr nps csat firstContactResolutionRate medianFirstResponseHours touchpoints executiveRelationships \
    averageHealthScore dataCompleteness goals { metric target weight actual attainment } attainment } }";
const SET_GOALS: &str =
    "mutation($c: ID!, $g: [GoalInput!]!) { setCsmGoals(csmId: $c, goals: $g) { metric target weight } }";

fn same(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::String(g), Value::String(w)) => match (Decimal::from_str(g), Decimal::from_str(w)) {
            (Ok(g), Ok(w)) => g.round_dp(2) == w.round_dp(2),
            _ => g == w,
        },
        (Value::Number(_), Value::Number(_)) => {
            got.as_f64().zip(want.as_f64()).is_some_and(|(g, w)| (g - w).abs() <= 1e-9)
        }
        (Value::Array(g), Value::Array(w)) => g.len() == w.len() && g.iter().zip(w).all(|(g, w)| same(g, w)),
        (Value::Object(g), Value::Object(w)) => w.iter().all(|(k, w)| g.get(k).is_some_and(|g| same(g, w))),
        _ => got == want,
    }
}

async fn user_ids(app: &TestApp) -> HashMap<String, String> {
    let reply = app.gql(ADMIN, "{ users { id email } }", json!({})).await;
    reply.data()["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| Some((u["email"].as_str()?.to_owned(), u["id"].as_str()?.to_owned())))
        .collect()
}

#[tokio::test]
async fn scorecards_match_the_expected_values_with_goals() {
    let app = TestApp::with_sample().await;
    let ids = user_ids(&app).await;
    let goals = fixture("expected/goals.json");
    for (csm, list) in goals["goals"].as_object().into_iter().flatten() {
        let reply = app.gql("manager1@acme.example", SET_GOALS, json!({ "c": ids[csm], "g": list })).await;
        if csm == "csm01@acme.example" {
            assert_eq!(reply.data()["setCsmGoals"].as_array().map(Vec::len), list.as_array().map(Vec::len));
        } else {
            // csm02 is in another team than manager1's.
            assert_eq!(reply.codes(), vec!["FORBIDDEN"], "{}", reply.body);
            app.gql(ADMIN, SET_GOALS, json!({ "c": ids[csm], "g": list })).await.data();
        }
    }

    let expected = fixture("expected/scorecards_csm01_csm02.json");
    let wanted: Vec<Value> = expected["result"].as_array().cloned().unwrap_or_default();
    let mut got: Vec<Value> = Vec::new();
    for period in expected["query"]["periods"].as_array().into_iter().flatten() {
        for csm in ["csm01@acme.example", "csm02@acme.example"] {
            let reply = app.gql(ADMIN, SCORECARDS, json!({ "p": period, "c": ids[csm] })).await;
            got.extend(reply.data()["csmScorecards"].as_array().cloned().unwrap_or_default());
        }
    }
    assert_eq!(got.len(), wanted.len());
    for want in &wanted {
        let found = got.iter().find(|g| {
            g["csm"]["email"] == want["csm"]
                && g["periodStart"] == want["periodStart"]
                && g["periodEnd"] == want["periodEnd"]
        });
        let found = found.unwrap_or_else(|| panic!("no scorecard for {} {}", want["csm"], want["periodStart"]));
        for (field, value) in want.as_object().into_iter().flatten().filter(|(k, _)| k.as_str() != "csm") {
            assert!(
                same(&found[field], value),
                "{} {} {field}: got {} want {value}",
                want["csm"],
                want["periodStart"],
                found[field]
            );
        }
    }
}

#[tokio::test]
async fn scorecards_and_goals_respect_roles() {
    let app = TestApp::with_sample().await;
    let ids = user_ids(&app).await;
    let month = json!({ "from": "2026-10-01", "to": "2026-10-31" });

    // A CSM sees their own scorecard only; a manager their team's; FINANCE and INTEGRATION none.
    let reply = app.gql("csm01@acme.example", SCORECARDS, json!({ "p": month })).await;
    let emails: Vec<Value> =
        reply.data()["csmScorecards"].as_array().into_iter().flatten().map(|s| s["csm"]["email"].clone()).collect();
    assert_eq!(emails, vec![json!("csm01@acme.example")]);
    let reply = app.gql("csm01@acme.example", SCORECARDS, json!({ "p": month, "c": ids["csm02@acme.example"] })).await;
    assert_eq!(reply.codes(), vec!["FORBIDDEN"]);
    let reply = app.gql("manager1@acme.example", SCORECARDS, json!({ "p": month })).await;
    assert_eq!(reply.data()["csmScorecards"].as_array().map(Vec::len), Some(4));
    for who in ["finance@acme.example", "integration@acme.example"] {
        assert_eq!(app.gql(who, SCORECARDS, json!({ "p": month })).await.codes(), vec!["FORBIDDEN"], "{who}");
    }

    // Goals: only managers (own team) and admins; targets and weights must be positive.
    let csm01 = ids["csm01@acme.example"].clone();
    let goal = |metric: &str, target: f64, weight: f64| json!({ "metric": metric, "target": target, "weight": weight });
    let reply = app.gql("csm01@acme.example", SET_GOALS, json!({ "c": csm01, "g": [goal("NPS", 30.0, 1.0)] })).await;
    assert_eq!(reply.codes(), vec!["FORBIDDEN"]);
    let reply = app
        .gql(
            ADMIN,
            SET_GOALS,
            json!({ "c": csm01, "g": [goal("NPS", 0.0, 1.0), goal("CSAT", 0.8, 1.0), goal("TOUCHPOINTS", 5.0, -2.0)] }),
        )
        .await;
    let mut named: Vec<(Value, Value)> =
        reply.errors().iter().map(|e| (e["extensions"]["row"].clone(), e["extensions"]["field"].clone())).collect();
    named.sort_by_key(|(row, _)| row.as_i64());
    assert_eq!(named, vec![(json!(0), json!("target")), (json!(2), json!("weight"))]);

    // A goal whose actual is null attains 0; the weighted attainment follows.
    let goals = [goal("NPS", 30.0, 1.0), goal("TOUCHPOINTS", 1.0, 3.0)];
    app.gql(ADMIN, SET_GOALS, json!({ "c": csm01, "g": goals })).await.data();
    let empty_month = json!({ "from": "2021-01-01", "to": "2021-01-31" });
    let reply = app.gql(ADMIN, SCORECARDS, json!({ "p": empty_month, "c": csm01 })).await;
    let card = &reply.data()["csmScorecards"][0];
    assert_eq!(card["goals"][0]["actual"], Value::Null);
    assert_eq!(
        (card["goals"][0]["attainment"].as_f64(), card["goals"][1]["attainment"].as_f64(), card["attainment"].as_f64()),
        (Some(0.0), Some(0.0), Some(0.0))
    );
    let reply = app.gql(ADMIN, SCORECARDS, json!({ "p": month, "c": csm01 })).await;
    let card = &reply.data()["csmScorecards"][0];
    let touchpoints = card["touchpoints"].as_f64().unwrap_or(0.0);
    let expected = (touchpoints / 1.0).clamp(0.0, 1.2) * 3.0 / 4.0
        + card["goals"][0]["actual"].as_f64().map_or(0.0, |n| (n / 30.0).clamp(0.0, 1.2)) / 4.0;
    assert!((card["attainment"].as_f64().unwrap_or(-1.0) - expected).abs() < 1e-12, "{card}");
}
