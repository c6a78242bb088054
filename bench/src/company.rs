//! The benchmark's synthetic company: `accounts` accounts over `months` months, 200 CSMs in 20
//! teams, 4 segments, and per account about 2.5 subscriptions, 5 survey responses, 10 tickets,
//! 12 usage records and 10 touchpoints, plus monthly costs and traffic.
//!
//! Deterministic (a fixed seed, a fixed last month) and generated block by block, so a load of
//! millions of rows holds one block of [`BLOCK`] accounts in memory at a time.
use chrono::{DateTime, Months, NaiveDate, TimeDelta, Utc};
use serde_json::{Value, json};

use cs_kpi::base::rng::Rng;

/// Accounts generated (and pushed) together.
pub const BLOCK: usize = 1_000;
pub const TEAMS: usize = 20;
pub const CSMS_PER_TEAM: usize = 10;
pub const SEGMENTS: [&str; 4] = ["Enterprise", "Mid-Market", "SMB", "Startup"];
const REGIONS: [&str; 3] = ["EMEA", "AMER", "APAC"];
/// The five survey responses of an account.
const SURVEYS: [&str; 5] = ["NPS", "NPS", "CSAT", "CSAT", "CES"];
const TOUCHPOINTS: [&str; 6] = ["EMAIL", "CALL", "MEETING", "QBR", "TRAINING", "ONBOARDING"];
/// The last month of the history (fixed, so every run generates the same company).
pub const LAST_MONTH: (i32, u32) = (2026, 10);
const SEED: u64 = 0x000B_3EC4_2026_1130;

/// The rows of one mutation.
pub struct Rows {
    pub mutation: &'static str,
    pub input_type: &'static str,
    /// The field of `IngestInput` that carries them.
    pub ingest_field: &'static str,
    pub rows: Vec<Value>,
}

impl Rows {
    fn new(mutation: &'static str, input_type: &'static str, ingest_field: &'static str) -> Self {
        Rows { mutation, input_type, ingest_field, rows: Vec::new() }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Company {
    pub accounts: usize,
    pub months: u32,
}

pub fn csm_email(csm: usize) -> String {
    format!("csm{csm:03}@bench.example")
}

fn manager_email(team: usize) -> String {
    format!("manager{team:02}@bench.example")
}

fn team_name(team: usize) -> String {
    format!("Team {team:02}")
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

impl Company {
    /// The first day of month `m` of the history (0 = the first month).
    pub fn month_start(&self, m: u32) -> NaiveDate {
        let last = NaiveDate::from_ymd_opt(LAST_MONTH.0, LAST_MONTH.1, 1).unwrap_or_default();
        let first = last.checked_sub_months(Months::new(self.months - 1)).unwrap_or(last);
        first.checked_add_months(Months::new(m)).unwrap_or(first)
    }

    /// The last day of month `m`.
    pub fn month_end(&self, m: u32) -> NaiveDate {
        self.month_start(m + 1).pred_opt().unwrap_or_default()
    }

    /// Teams, users and teams again with their managers: the organisation, in the order the API
    /// requires.
    pub fn organisation(&self) -> Vec<Rows> {
        let mut bare = Rows::new("upsertTeams", "TeamInput", "teams");
        let mut users = Rows::new("upsertUsers", "UserInput", "users");
        let mut managed = Rows::new("upsertTeams", "TeamInput", "teams");
        for team in 0..TEAMS {
            bare.rows.push(json!({ "name": team_name(team) }));
            managed.rows.push(json!({ "name": team_name(team), "managerEmail": manager_email(team) }));
            users.rows.push(json!({ "email": manager_email(team), "name": format!("Manager {team}"), "role": "MANAGER", "teamName": team_name(team) }));
            for c in 0..CSMS_PER_TEAM {
                let csm = team * CSMS_PER_TEAM + c;
                users.rows.push(json!({ "email": csm_email(csm), "name": format!("CSM {csm}"), "role": "CSM", "teamName": team_name(team) }));
            }
        }
        vec![bare, users, managed]
    }

    /// Costs and traffic: one row per month (and cost category).
    pub fn monthly(&self) -> Vec<Rows> {
        let mut rng = Rng(SEED ^ 0xC057);
        let mut costs = Rows::new("recordCosts", "CostInput", "costs");
        let mut traffic = Rows::new("recordTraffic", "TrafficInput", "traffic");
        for m in 0..self.months {
            let month = self.month_start(m);
            for (category, scale) in
                [("ACQUISITION", 400), ("CS_SALARIES", 900), ("CS_TRAINING", 20), ("CS_TOOLS", 60), ("CS_PROGRAMS", 40)]
            {
                let amount = rng.between(scale * 80, scale * 120) * self.accounts.max(1) as i64;
                costs.rows.push(json!({ "externalId": format!("COST-{}-{category}", month.format("%Y-%m")), "month": month, "category": category, "amount": money(amount) }));
            }
            traffic.rows.push(json!({ "month": month, "visitors": rng.between(20, 60) * self.accounts as i64 }));
        }
        vec![costs, traffic]
    }

    /// How many blocks of accounts there are.
    pub fn blocks(&self) -> usize {
        self.accounts.div_ceil(BLOCK)
    }

    /// Block `b`: its accounts, then their records, each kind in one list.
    pub fn block(&self, b: usize) -> Vec<Rows> {
        let mut accounts = Rows::new("upsertAccounts", "AccountInput", "accounts");
        let mut subscriptions = Rows::new("upsertSubscriptions", "SubscriptionInput", "subscriptions");
        let mut feedback = Rows::new("recordFeedback", "FeedbackInput", "feedback");
        let mut tickets = Rows::new("recordTickets", "TicketInput", "tickets");
        let mut usage = Rows::new("recordUsage", "UsageInput", "usage");
        let mut touchpoints = Rows::new("recordTouchpoints", "TouchpointInput", "touchpoints");
        for i in b * BLOCK..((b + 1) * BLOCK).min(self.accounts) {
            let mut rng = Rng(SEED ^ (i as u64).wrapping_mul(0x9E37_79B9));
            let id = format!("B-A{i:06}");
            let csm = i % (TEAMS * CSMS_PER_TEAM);
            let start = rng.below(self.months as usize) as u32;
            let started_on = self.month_start(start) + TimeDelta::days(rng.between(0, 27));
            let region = REGIONS[i % REGIONS.len()];
            accounts.rows.push(json!({
                "externalId": id, "name": format!("Account {i}"), "segment": SEGMENTS[i % SEGMENTS.len()],
                "region": region, "csmEmail": csm_email(csm), "startedOn": started_on,
                "onboardingCompletedOn": started_on + TimeDelta::days(rng.between(10, 60)),
                "firstValueOn": started_on + TimeDelta::days(rng.between(5, 90)),
                "signedUpOn": started_on - TimeDelta::days(rng.between(0, 30)),
                "activatedOn": rng.chance(0.7).then(|| started_on + TimeDelta::days(rng.between(1, 20))),
            }));
            self.subscriptions(&mut rng, &id, start, &mut subscriptions.rows);
            let active_months = self.months - start;
            let moment = |rng: &mut Rng| -> DateTime<Utc> {
                let day = self.month_start(start + rng.below(active_months as usize) as u32)
                    + TimeDelta::days(rng.between(0, 27));
                day.and_hms_opt(9, 0, 0).unwrap_or_default().and_utc() + TimeDelta::minutes(rng.between(0, 8 * 60))
            };
            for (n, kind) in SURVEYS.into_iter().enumerate() {
                let score = match kind {
                    "NPS" => rng.between(0, 10),
                    "CSAT" => rng.between(1, 5),
                    _ => rng.between(1, 7),
                };
                feedback.rows.push(json!({ "externalId": format!("B-F{i:06}-{n}"), "accountExternalId": id, "kind": kind, "score": score, "respondedAt": moment(&mut rng) }));
            }
            for n in 0..10 {
                let opened = moment(&mut rng);
                let response = rng.between(10, 24 * 60);
                let resolution = response + rng.between(30, 72 * 60);
                tickets.rows.push(json!({
                    "externalId": format!("B-T{i:06}-{n}"), "accountExternalId": id, "openedAt": opened,
                    "firstResponseAt": opened + TimeDelta::minutes(response), "resolvedAt": opened + TimeDelta::minutes(resolution),
                    "contactsToResolve": rng.weighted(&[(1, 70), (2, 20), (3, 10)]),
                }));
            }
            for m in self.months.saturating_sub(12)..self.months {
                let seats = rng.between(5, 200);
                let active = rng.between(1, seats);
                let logins = active * rng.between(5, 20);
                usage.rows.push(json!({
                    "accountExternalId": id, "date": self.month_end(m), "activeUsers": active, "licensedSeats": seats,
                    "logins": logins, "sessionMinutes": logins * rng.between(5, 30),
                    "featuresUsed": rng.between(1, 30), "featuresAvailable": 30,
                }));
            }
            for n in 0..10 {
                let kind = TOUCHPOINTS[rng.below(TOUCHPOINTS.len())];
                touchpoints.rows.push(json!({ "externalId": format!("B-P{i:06}-{n}"), "accountExternalId": id, "kind": kind, "occurredAt": moment(&mut rng), "withExecutive": rng.chance(0.15) }));
            }
        }
        vec![accounts, subscriptions, feedback, tickets, usage, touchpoints]
    }

    /// Two or three subscriptions: a first yearly term, its renewal (at a new price) unless the
    /// account churns, and sometimes an open-ended add-on.
    fn subscriptions(&self, rng: &mut Rng, account: &str, start: u32, rows: &mut Vec<Value>) {
        let first_day = self.month_start(start) + TimeDelta::days(rng.between(0, 27));
        let mrr = rng.between(100, 20_000) * 100;
        let renewal_day = first_day.checked_add_months(Months::new(12)).unwrap_or(first_day);
        let churns = rng.chance(0.15);
        rows.push(json!({
            "externalId": format!("{account}-S1"), "accountExternalId": account, "plan": "Annual", "mrr": money(mrr),
            "startDate": first_day, "endDate": renewal_day,
        }));
        let renewed = (mrr as f64 * (0.8 + 0.5 * rng.unit())) as i64;
        // A churned account comes back, sometimes, half a year later.
        let (renewal_start, renewal_end) = if churns {
            let back = renewal_day.checked_add_months(Months::new(6)).unwrap_or(renewal_day);
            (back, back.checked_add_months(Months::new(12)))
        } else {
            (renewal_day, None)
        };
        rows.push(json!({
            "externalId": format!("{account}-S2"), "accountExternalId": account, "plan": "Annual", "mrr": money(renewed),
            "startDate": renewal_start, "endDate": renewal_end,
            "renewsExternalId": (!churns).then(|| format!("{account}-S1")),
        }));
        if rng.chance(0.5) {
            let add_on = first_day + TimeDelta::days(rng.between(30, 400));
            rows.push(json!({
                "externalId": format!("{account}-S3"), "accountExternalId": account, "plan": "Add-on",
                "mrr": money(rng.between(50, 2_000) * 100), "startDate": add_on,
            }));
        }
    }
}
