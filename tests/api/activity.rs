//! Voice, support and adoption KPIs (KPIS.md, sections 3 to 5) on hand-made edge cases.
use cs_kpi::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, INTEGRATION, TestApp};

const FIELDS: &str = "periodStart nps npsResponses csat csatAverage ces ticketsOpened firstContactResolutionRate \
    medianFirstResponseHours medianResolutionHours medianTimeToFirstValueDays onboardingCompletionRate seatUtilization \
    engagementRate executiveRelationships referrals";

async fn month(app: &TestApp, email: &str, from: &str) -> Value {
    let query = format!("query($p: PeriodInput!) {{ kpis(period: $p) {{ {FIELDS} }} }}");
    let reply = app.gql(email, &query, json!({ "p": { "from": from, "to": from } })).await;
    reply.data()["kpis"][0].clone()
}

fn ticket(id: &str, opened: &str, response: Option<&str>, resolved: Option<&str>, contacts: Option<i64>) -> Value {
    json!({ "externalId": id, "accountExternalId": "ACC-A", "openedAt": opened, "firstResponseAt": response, "resolvedAt": resolved, "contactsToResolve": contacts })
}

#[tokio::test]
async fn voice_support_and_adoption_edge_cases() {
    let app = TestApp::with_operators().await;
    app.user("csm-a@acme.example", Role::Csm, None).await;
    app.user("csm-b@acme.example", Role::Csm, None).await;
    let accounts = [
        json!({ "externalId": "ACC-A", "name": "A", "csmEmail": "csm-a@acme.example", "startedOn": "2026-01-05", "firstValueOn": "2026-02-10", "onboardingCompletedOn": "2026-02-28" }),
        json!({ "externalId": "ACC-B", "name": "B", "csmEmail": "csm-a@acme.example", "startedOn": "2026-01-01", "firstValueOn": "2026-02-04" }),
        // Referred by A, but in another CSM's book.
        json!({ "externalId": "ACC-R", "name": "R", "csmEmail": "csm-b@acme.example", "startedOn": "2026-02-15", "referredByExternalId": "ACC-A" }),
    ];
    app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &accounts).await;
    let subscriptions: Vec<Value> = ["ACC-A", "ACC-B", "ACC-R"]
        .iter()
        .map(|a| json!({ "externalId": format!("S-{a}"), "accountExternalId": a, "mrr": "100", "startDate": "2026-01-01" }))
        .collect();
    app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &subscriptions).await;
    let feedback: Vec<Value> = [("NPS", 10), ("NPS", 9), ("NPS", 3), ("NPS", 7), ("CSAT", 5), ("CSAT", 3), ("CES", 6)]
        .iter()
        .enumerate()
        .map(|(i, (kind, score))| json!({ "externalId": format!("F-{i}"), "accountExternalId": "ACC-A", "kind": kind, "score": score, "respondedAt": "2026-02-10T12:00:00Z" }))
        .collect();
    app.ingest_ok(INTEGRATION, "recordFeedback", "FeedbackInput", &feedback).await;
    let tickets = [
        // Opened and resolved at the same instant, at the first contact.
        ticket("T-1", "2026-02-01T00:00:00Z", Some("2026-02-01T02:00:00Z"), Some("2026-02-01T00:00:00Z"), Some(1)),
        // Answered, never resolved.
        ticket("T-2", "2026-02-02T00:00:00Z", Some("2026-02-02T06:00:00Z"), None, None),
        // Never answered; resolved with an unknown number of contacts.
        ticket("T-3", "2026-02-03T00:00:00Z", None, Some("2026-02-03T12:00:00Z"), None),
        ticket("T-4", "2026-02-04T00:00:00Z", Some("2026-02-04T04:00:00Z"), Some("2026-02-05T00:00:00Z"), Some(2)),
        ticket("T-5", "2026-02-06T00:00:00Z", Some("2026-02-06T08:00:00Z"), None, None),
        // Opened in January, resolved in February: counts for resolution, not for opening.
        ticket("T-6", "2026-01-31T00:00:00Z", None, Some("2026-02-02T00:00:00Z"), Some(1)),
    ];
    app.ingest_ok(INTEGRATION, "recordTickets", "TicketInput", &tickets).await;
    let usage = [
        // Older than 30 days at the end of February: left out.
        json!({ "accountExternalId": "ACC-A", "date": "2026-01-29", "activeUsers": 1, "licensedSeats": 100 }),
        json!({ "accountExternalId": "ACC-B", "date": "2026-02-10", "activeUsers": 5, "licensedSeats": 10 }),
        json!({ "accountExternalId": "ACC-B", "date": "2026-02-20", "activeUsers": 8, "licensedSeats": 10 }),
    ];
    app.ingest_ok(INTEGRATION, "recordUsage", "UsageInput", &usage).await;
    let touchpoints = [
        json!({ "externalId": "P-1", "accountExternalId": "ACC-A", "kind": "QBR", "occurredAt": "2026-02-11T09:00:00Z", "withExecutive": true }),
        json!({ "externalId": "P-2", "accountExternalId": "ACC-A", "kind": "CALL", "occurredAt": "2026-02-12T09:00:00Z", "withExecutive": true }),
    ];
    app.ingest_ok(INTEGRATION, "recordTouchpoints", "TouchpointInput", &touchpoints).await;

    let february = month(&app, ADMIN, "2026-02-01").await;
    let expected = json!({
        "periodStart": "2026-02-01",
        "nps": 25.0, "npsResponses": 4, "csat": 0.5, "csatAverage": 4.0, "ces": 6.0,
        "ticketsOpened": 5,
        // Resolved in February: T-1 (1 contact), T-3 (null), T-4 (2), T-6 (1).
        "firstContactResolutionRate": 0.5,
        // First responses of tickets opened in February: 2, 6, 4, 8 hours: an even count.
        "medianFirstResponseHours": 5.0,
        // Resolutions in February: 0, 12, 24 and 48 hours.
        "medianResolutionHours": 18.0,
        // First value in February: B after 34 days, A after 36.
        "medianTimeToFirstValueDays": 35.0,
        "onboardingCompletionRate": 1.0 / 3.0,
        "seatUtilization": 0.8,
        "engagementRate": 1.0 / 3.0,
        "executiveRelationships": 1,
        "referrals": 1,
    });
    assert_eq!(february, expected);

    // A month without responses, tickets or first values: counts 0, quotients null.
    let march = month(&app, ADMIN, "2026-03-01").await;
    for field in [
        "nps",
        "csat",
        "csatAverage",
        "ces",
        "firstContactResolutionRate",
        "medianFirstResponseHours",
        "medianResolutionHours",
        "medianTimeToFirstValueDays",
        "seatUtilization",
    ] {
        assert!(march[field].is_null(), "{field}: {}", march[field]);
    }
    assert_eq!(
        (march["npsResponses"].as_i64(), march["ticketsOpened"].as_i64(), march["engagementRate"].as_f64()),
        (Some(0), Some(0), Some(0.0))
    );

    // The referral counts for the referrer's book (A's CSM), not for the referred account's CSM.
    assert_eq!(month(&app, "csm-a@acme.example", "2026-02-01").await["referrals"], 1);
    assert_eq!(month(&app, "csm-b@acme.example", "2026-02-01").await["referrals"], 0);
}
