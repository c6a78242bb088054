//! The demo company behind `seed --demo` and `serve --demo` (PRODUCT.md, "Out of the box").
//!
//! A fictional B2B SaaS vendor: three teams (Enterprise, Growth, Scale), each a manager and four
//! CSMs serving one segment, and about 300 accounts signed over the 36 months that end with the
//! current month, with their subscriptions, survey responses, tickets, usage, touchpoints,
//! advocacy and feature requests, plus monthly costs and website traffic: about 30,000 rows.
//!
//! Everything is drawn from a fixed-seed PRNG and anchored on the current month, so a second run
//! in the same month replays identical rows, which the API reports `unchanged`. Records of the
//! current month are spread over the whole month, so some lie a few days ahead of today.
//!
//! The data goes through the same ingest code as any integration's: the ADMIN is created the way
//! the command line's `user` creates one, and everything else is pushed as that ADMIN through the
//! GraphQL mutations, in the order the API requires, at most [`MAX_ROWS`] rows per request.
use std::ops::AddAssign;

use async_graphql::{Request, Variables};
use chrono::{DateTime, Days, Months, NaiveDate, NaiveTime, TimeDelta, Utc};
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::engagement::{AdvocacyKind, TouchpointKind};
use crate::api::org::{UserInput, upsert_user_directly};
use crate::api::product::FeatureRequestStatus;
use crate::api::revenue::CostCategory;
use crate::api::schema::{CsKpiSchema, schema_builder};
use crate::api::voice::FeedbackKind;
use crate::auth::Caller;
use crate::auth::Role;
use crate::auth::scope::Database;
use crate::base::calendar::first_day_of_month;
use crate::base::error::AppError;
use crate::base::rng::Rng;
use crate::ingest::Batch as WriteBatch;
use crate::ingest::{MAX_ROWS, UpsertResult};
use crate::kpis::loaders::Loaders;

/// The demo ADMIN, who pushes everything else.
const ADMIN_EMAIL: &str = "admin@demo.example";
const ADMIN_NAME: &str = "Nora Lindgren";
/// The same seed (in the same month) gives the same company.
const SEED: u64 = 0x00C5_4B91_DE30_2024;
/// Months of history, the last one being the current month.
const MONTHS: u32 = 36;
const ACCOUNTS: usize = 300;

/// A customer segment and the team that serves it.
struct Segment {
    name: &'static str,
    team: &'static str,
    /// (email, name) of the team's manager and of its CSMs.
    manager: (&'static str, &'static str),
    csms: [(&'static str, &'static str); 4],
    /// Relative share of new accounts.
    share: u32,
    plan: &'static str,
    /// Range of a new contract's MRR, in whole currency units.
    mrr: (i64, i64),
    /// MRR per licensed seat, in whole currency units.
    seat_price: i64,
    /// Features the plan offers.
    features: i64,
    /// Chance that an account of average health does not renew a yearly term.
    churn: f64,
    /// Whether the CSM holds a QBR every quarter.
    quarterly_qbr: bool,
}

const SEGMENTS: [Segment; 3] = [
    Segment {
        name: "Enterprise",
        team: "Enterprise",
        manager: ("manager1@demo.example", "Helena Vogt"),
        csms: [
            ("csm01@demo.example", "Aisha Khan"),
            ("csm02@demo.example", "Daniel Okafor"),
            ("csm03@demo.example", "Sofia Lindqvist"),
            ("csm04@demo.example", "Tom Brennan"),
        ],
        share: 20,
        plan: "Enterprise",
        mrr: (5_000, 20_000),
        seat_price: 45,
        features: 40,
        churn: 0.07,
        quarterly_qbr: true,
    },
    Segment {
        name: "Mid-Market",
        team: "Growth",
        manager: ("manager2@demo.example", "Marcus Bell"),
        csms: [
            ("csm05@demo.example", "Mei Chen"),
            ("csm06@demo.example", "Lucas Moreau"),
            ("csm07@demo.example", "Grace Adeyemi"),
            ("csm08@demo.example", "Jonas Weber"),
        ],
        share: 35,
        plan: "Business",
        mrr: (1_000, 5_000),
        seat_price: 35,
        features: 30,
        churn: 0.12,
        quarterly_qbr: false,
    },
    Segment {
        name: "SMB",
        team: "Scale",
        manager: ("manager3@demo.example", "Priya Raman"),
        csms: [
            ("csm09@demo.example", "Carla Mendes"),
            ("csm10@demo.example", "Ravi Patel"),
            ("csm11@demo.example", "Emma Novak"),
            ("csm12@demo.example", "Kenji Watanabe"),
        ],
        share: 45,
        plan: "Starter",
        mrr: (100, 1_000),
        seat_price: 25,
        features: 20,
        churn: 0.16,
        quarterly_qbr: false,
    },
];

/// Users outside the teams: (email, name, role).
const STAFF: [(&str, &str, Role); 2] = [
    ("finance@demo.example", "Olivia Hart", Role::Finance),
    ("integration@demo.example", "Salesforce Sync", Role::Integration),
];

/// Account names combine a stem and a trade: 400 distinct names, shuffled.
const NAME_STEMS: &str = "Northwind Bluepeak Cedar Ironclad Lumen Harbor Summit Brightline Copperleaf Evergreen Falcon \
    Granite Helix Juniper Keystone Meridian Nimbus Orchid Pioneer Quarry Redwood Silverline Tidewater Vantage Willow";
const NAME_TRADES: &str = "Logistics Health Analytics Foods Energy Robotics Media Capital Labs Retail Travel Insurance \
    Systems Manufacturing Learning Software";

/// Monthly costs: category and range in whole currency units.
const COSTS: [(CostCategory, i64, i64); 5] = [
    (CostCategory::Acquisition, 20_000, 40_000),
    (CostCategory::CsSalaries, 6_000, 9_000),
    (CostCategory::CsTraining, 500, 1_500),
    (CostCategory::CsTools, 1_500, 3_000),
    (CostCategory::CsPrograms, 1_000, 4_000),
];

/// What becomes of a requested feature.
#[derive(Clone, Copy)]
enum Fate {
    /// Shipped mid-way through this month of the history (0 = the first).
    Shipped(u32),
    Planned,
    Open,
    Declined,
}

/// A feature customers ask for, how often (relative weight) and its fate.
struct Feature {
    title: &'static str,
    weight: u32,
    fate: Fate,
}

const FEATURES: [Feature; 15] = [
    Feature { title: "SSO with Okta", weight: 12, fate: Fate::Shipped(9) },
    Feature { title: "Salesforce sync", weight: 11, fate: Fate::Shipped(16) },
    Feature { title: "Custom dashboards", weight: 10, fate: Fate::Shipped(24) },
    Feature { title: "Slack notifications", weight: 9, fate: Fate::Shipped(6) },
    Feature { title: "Role-based permissions", weight: 9, fate: Fate::Planned },
    Feature { title: "Mobile app", weight: 8, fate: Fate::Planned },
    Feature { title: "Scheduled reports", weight: 8, fate: Fate::Shipped(30) },
    Feature { title: "HubSpot integration", weight: 7, fate: Fate::Open },
    Feature { title: "Bulk user import", weight: 6, fate: Fate::Shipped(12) },
    Feature { title: "Audit log export", weight: 6, fate: Fate::Shipped(27) },
    Feature { title: "Custom fields on accounts", weight: 5, fate: Fate::Open },
    Feature { title: "Data residency in APAC", weight: 4, fate: Fate::Open },
    Feature { title: "API rate limit increase", weight: 4, fate: Fate::Planned },
    Feature { title: "Dark mode", weight: 3, fate: Fate::Declined },
    Feature { title: "Offline mode", weight: 2, fate: Fate::Declined },
];

/// NPS comments for promoters, passives and detractors.
const PRAISE: [&str; 3] = [
    "Great product, our team relies on it every day.",
    "Support is quick and genuinely helpful.",
    "The new dashboards save us hours every week.",
];
const REMARKS: [&str; 2] =
    ["Solid overall, but reporting could be more flexible.", "Works well; onboarding new users still takes a while."];
const COMPLAINTS: [&str; 3] = [
    "Too many slow days this quarter.",
    "Hard to find what we need; we are looking at alternatives.",
    "The price is getting hard to justify.",
];

/// Loads the demo company and returns what it pushed.
pub async fn seed(db: &DatabaseConnection) -> Result<Seeded, AppError> {
    let admin =
        UserInput { email: ADMIN_EMAIL.to_owned(), name: ADMIN_NAME.to_owned(), role: Role::Admin, team_name: None };
    let mut seeded = Seeded {
        counts: Counts::from(upsert_user_directly(WriteBatch::command_line(db, "cli user").await?, admin).await?),
        pushed: vec!["1 admin".to_owned()],
    };
    let api = Api::connect(db).await?;
    for batch in company(Calendar::ending_in(Utc::now().date_naive())) {
        seeded.counts += api.push(&batch).await?;
        seeded.pushed.push(format!("{} {}", batch.rows.len(), batch.label));
    }
    Ok(seeded)
}

/// What a seed pushed: the rows per kind, and the outcome counts over all of them.
pub struct Seeded {
    pub counts: Counts,
    pub pushed: Vec<String>,
}

impl std::fmt::Display for Seeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Counts { created, updated, unchanged } = self.counts;
        write!(
            f,
            "demo company: {} (created {created}, updated {updated}, unchanged {unchanged})",
            self.pushed.join(", ")
        )
    }
}

/// Row counts by outcome, as a mutation's `UpsertResult` reports them.
#[derive(Deserialize, Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
}

impl From<UpsertResult> for Counts {
    fn from(r: UpsertResult) -> Self {
        Counts { created: r.created.into(), updated: r.updated.into(), unchanged: r.unchanged.into() }
    }
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// The rows of one mutation, and how the summary names them.
struct Batch {
    label: &'static str,
    mutation: &'static str,
    input_type: &'static str,
    rows: Vec<Value>,
}

/// The GraphQL API, called as the demo ADMIN.
struct Api {
    schema: CsKpiSchema,
    caller: Caller,
    db: DatabaseConnection,
}

impl Api {
    async fn connect(db: &DatabaseConnection) -> Result<Api, AppError> {
        let caller = Caller::load(db, ADMIN_EMAIL).await?;
        Ok(Api { schema: schema_builder().data(Database::new(db.clone())).finish(), caller, db: db.clone() })
    }

    /// Runs the batch's mutation over its rows, [`MAX_ROWS`] at a time; fails on the first error.
    async fn push(&self, batch: &Batch) -> Result<Counts, AppError> {
        let (mutation, input_type) = (batch.mutation, batch.input_type);
        let document = format!(
            "mutation($input: [{input_type}!]!) {{ {mutation}(input: $input) {{ created updated unchanged }} }}"
        );
        let mut total = Counts::default();
        for chunk in batch.rows.chunks(MAX_ROWS) {
            let request = Request::new(document.as_str())
                .variables(Variables::from_json(json!({ "input": chunk })))
                .data(self.caller.clone())
                .data(Loaders::new(&self.db));
            let response = self.schema.execute(request).await;
            if !response.errors.is_empty() {
                let messages: Vec<&str> = response.errors.iter().take(3).map(|e| e.message.as_str()).collect();
                return Err(AppError::internal(format!("demo {mutation}: {}", messages.join("; "))));
            }
            let data = response.data.into_json().map_err(AppError::internal)?;
            total += data
                .get(mutation)
                .and_then(|counts| Counts::deserialize(counts).ok())
                .ok_or_else(|| AppError::internal(format!("demo {mutation}: unexpected response {data}")))?;
        }
        Ok(total)
    }
}

/// The months of the history: month 0 is the first, month `MONTHS - 1` the current one.
#[derive(Clone, Copy)]
struct Calendar {
    first: NaiveDate,
}

impl Calendar {
    fn ending_in(today: NaiveDate) -> Calendar {
        Calendar { first: first_day_of_month(today) - Months::new(MONTHS - 1) }
    }

    /// The first day of month `m`.
    fn start(self, m: u32) -> NaiveDate {
        self.first + Months::new(m)
    }

    /// The last day of month `m`.
    fn end(self, m: u32) -> NaiveDate {
        self.start(m + 1) - Days::new(1)
    }

    /// The first day after the history.
    fn horizon(self) -> NaiveDate {
        self.start(MONTHS)
    }

    fn days(self, m: u32) -> impl Iterator<Item = NaiveDate> {
        self.start(m).iter_days().take_while(move |d| *d <= self.end(m))
    }

    fn random_day(self, rng: &mut Rng, m: u32) -> NaiveDate {
        self.start(m) + Days::new(rng.below(self.days(m).count()) as u64)
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// A moment of office hours (07:00 to 18:00 UTC) on `day`.
fn office_time(rng: &mut Rng, day: NaiveDate) -> DateTime<Utc> {
    midnight(day) + TimeDelta::seconds(7 * 3600 + rng.between(0, 11 * 3600))
}

/// Cents as a decimal string.
fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Everything the company pushes, in the order the API requires.
fn company(cal: Calendar) -> Vec<Batch> {
    let mut rng = Rng(SEED);
    let accounts = accounts(&mut rng, cal);
    let months = customer_months(cal, &accounts);
    let mut feedback = nps(&mut rng, &months);
    let (tickets, surveys) = tickets(&mut rng, cal, &months);
    feedback.extend(surveys);
    let batch = |label, mutation, input_type, rows| Batch { label, mutation, input_type, rows };
    vec![
        batch("teams", "upsertTeams", "TeamInput", teams(false)),
        batch("users", "upsertUsers", "UserInput", users()),
        batch("team managers", "upsertTeams", "TeamInput", teams(true)),
        batch("accounts", "upsertAccounts", "AccountInput", accounts.iter().map(|a| a.row.clone()).collect()),
        batch(
            "subscriptions",
            "upsertSubscriptions",
            "SubscriptionInput",
            accounts.iter().flat_map(Account::subscription_rows).collect(),
        ),
        batch("survey responses", "recordFeedback", "FeedbackInput", feedback),
        batch("tickets", "recordTickets", "TicketInput", tickets),
        batch("usage records", "recordUsage", "UsageInput", usage(&mut rng, cal, &months)),
        batch("touchpoints", "recordTouchpoints", "TouchpointInput", touchpoints(&mut rng, &months)),
        batch("costs", "recordCosts", "CostInput", costs(&mut rng, cal)),
        batch("advocacy records", "recordAdvocacy", "AdvocacyInput", advocacy(&mut rng, &months)),
        batch(
            "feature requests",
            "recordFeatureRequests",
            "FeatureRequestInput",
            feature_requests(&mut rng, cal, &months),
        ),
        batch("traffic months", "recordTraffic", "TrafficInput", traffic(&mut rng, cal)),
    ]
}

/// The teams; without their managers the key is left out (an explicit `null` would remove one).
fn teams(with_managers: bool) -> Vec<Value> {
    SEGMENTS
        .iter()
        .map(|s| {
            if with_managers {
                json!({ "name": s.team, "managerEmail": s.manager.0 })
            } else {
                json!({ "name": s.team })
            }
        })
        .collect()
}

/// Managers and CSMs in their teams, then finance and the integration.
fn users() -> Vec<Value> {
    let mut rows = Vec::new();
    for s in &SEGMENTS {
        rows.push(user_row(s.manager, Role::Manager, Some(s.team)));
        rows.extend(s.csms.iter().map(|&csm| user_row(csm, Role::Csm, Some(s.team))));
    }
    rows.extend(STAFF.iter().map(|&(email, name, role)| user_row((email, name), role, None)));
    rows
}

fn user_row((email, name): (&str, &str), role: Role, team: Option<&str>) -> Value {
    json!({ "email": email, "name": name, "role": role.as_db(), "teamName": team })
}

/// A customer and its subscriptions.
struct Account {
    number: usize,
    id: String,
    segment: &'static Segment,
    csm: &'static str,
    /// How well the relationship goes, 0.25 to 1: drives renewals, scores, usage and tickets.
    health: f64,
    start_month: u32,
    subscriptions: Vec<Subscription>,
    /// The `AccountInput`.
    row: Value,
}

impl Account {
    /// Account number `earlier.len() + 1`, which starts on `started` (in month `start_month`)
    /// and may be referred by one of the `earlier` accounts.
    fn generate(
        rng: &mut Rng,
        cal: Calendar,
        earlier: &[Account],
        name: &str,
        (started, start_month): (NaiveDate, u32),
    ) -> Account {
        let number = earlier.len() + 1;
        let id = format!("ACC-{number:04}");
        let segment = rng.choose(&SEGMENTS, |s| s.share);
        let csm = rng.pick(&segment.csms).0;
        let health = 0.25 + 0.75 * rng.unit();
        let referrer = (number > 20 && rng.chance(0.1)).then(|| earlier[rng.below(earlier.len())].id.clone());
        let last_day = cal.end(MONTHS - 1);
        let mut milestone = |missing: f64, days: (i64, i64)| {
            let day = started + Days::new(rng.between(days.0, days.1) as u64);
            (!rng.chance(missing) && day <= last_day).then_some(day)
        };
        let onboarded = milestone(0.1, (14, 60));
        let first_value = milestone(0.15, (7, 75));
        let signed_up = rng.chance(0.3).then(|| started - Days::new(rng.between(1, 60) as u64));
        let activated = signed_up
            .filter(|_| rng.chance(0.8))
            .map(|day| day + Days::new(rng.between(0, 45) as u64))
            .filter(|day| *day <= last_day);
        let row = json!({
            "externalId": id,
            "name": name,
            "segment": segment.name,
            "region": rng.weighted(&[("EMEA", 40), ("NA", 40), ("APAC", 20)]),
            "csmEmail": csm,
            "startedOn": started,
            "onboardingCompletedOn": onboarded,
            "firstValueOn": first_value,
            "referredByExternalId": referrer,
            "signedUpOn": signed_up,
            "activatedOn": activated,
        });
        let subscriptions = contracts(rng, cal, number, segment, health, started);
        Account { number, id, segment, csm, health, start_month, subscriptions, row }
    }

    /// MRR in cents on `day`.
    fn mrr_on(&self, day: NaiveDate) -> i64 {
        self.subscriptions.iter().filter(|s| s.start <= day && s.end.is_none_or(|end| day < end)).map(|s| s.mrr).sum()
    }

    fn subscription_rows(&self) -> impl Iterator<Item = Value> + '_ {
        self.subscriptions.iter().map(|s| {
            json!({
                "externalId": s.id,
                "accountExternalId": self.id,
                "plan": s.plan,
                "mrr": money(s.mrr),
                "startDate": s.start,
                "endDate": s.end,
                "renewsExternalId": s.renews,
            })
        })
    }
}

/// The accounts, numbered in the order they start (so referrers come first): 15% in the first
/// month (the book the history opens with), the others spread over the later months.
fn accounts(rng: &mut Rng, cal: Calendar) -> Vec<Account> {
    let mut starts: Vec<(NaiveDate, u32)> = (0..ACCOUNTS)
        .map(|_| {
            let month = if rng.chance(0.15) { 0 } else { 1 + rng.below(MONTHS as usize - 1) as u32 };
            (cal.random_day(rng, month), month)
        })
        .collect();
    starts.sort_unstable();
    let mut names: Vec<String> = NAME_STEMS
        .split_whitespace()
        .flat_map(|stem| NAME_TRADES.split_whitespace().map(move |trade| format!("{stem} {trade}")))
        .collect();
    rng.shuffle(&mut names);
    let mut accounts = Vec::with_capacity(ACCOUNTS);
    for (start, name) in starts.into_iter().zip(&names) {
        let account = Account::generate(rng, cal, &accounts, name, start);
        accounts.push(account);
    }
    accounts
}

struct Subscription {
    id: String,
    plan: &'static str,
    /// Cents.
    mrr: i64,
    start: NaiveDate,
    end: Option<NaiveDate>,
    renews: Option<String>,
}

/// One line of a contract (the plan, or an add-on), renewed term after term.
struct Line {
    plan: &'static str,
    mrr: i64,
    /// The line's latest subscription.
    latest: Option<String>,
}

impl Line {
    fn new(plan: &'static str, mrr: i64) -> Line {
        Line { plan, mrr, latest: None }
    }

    /// The line's next subscription, which renews the previous one.
    fn subscribe(&mut self, id: String, start: NaiveDate, end: Option<NaiveDate>) -> Subscription {
        let renews = self.latest.replace(id.clone());
        Subscription { id, plan: self.plan, mrr: self.mrr, start, end, renews }
    }
}

/// A new contract's MRR in cents, a multiple of 10.
fn list_price(rng: &mut Rng, segment: &Segment) -> i64 {
    rng.between(segment.mrr.0 / 10, segment.mrr.1 / 10) * 1_000
}

/// A renewal's MRR: mostly the same, often higher (expansion), sometimes lower (contraction).
fn renewal_price(rng: &mut Rng, mrr: i64) -> i64 {
    let percent = match rng.below(100) {
        0..45 => 0,
        45..88 => rng.between(5, 35),
        _ => -rng.between(5, 25),
    };
    mrr * (100 + percent) / 100
}

/// An account's subscriptions: yearly terms from `started`, each renewed (at a new price) or
/// not, with an add-on bought mid-term now and then; a churned account may return months later.
/// The current term is open-ended or ends after the history.
fn contracts(
    rng: &mut Rng,
    cal: Calendar,
    number: usize,
    segment: &Segment,
    health: f64,
    started: NaiveDate,
) -> Vec<Subscription> {
    let horizon = cal.horizon();
    let mut subscriptions: Vec<Subscription> = Vec::new();
    let next_id = |subscriptions: &[Subscription]| format!("SUB-{number:04}-{:02}", subscriptions.len() + 1);
    let mut lines = vec![Line::new(segment.plan, list_price(rng, segment))];
    let mut start = started;
    loop {
        let end = start + Months::new(12);
        let current = end > horizon;
        let term_end = if current && rng.chance(0.5) { None } else { Some(end) };
        for line in &mut lines {
            let id = next_id(&subscriptions);
            subscriptions.push(line.subscribe(id, start, term_end));
        }
        let add_on_from = start + Months::new(rng.between(3, 8) as u32);
        if lines.len() == 1 && add_on_from < horizon && rng.chance(0.15) {
            let mut add_on = Line::new("Analytics add-on", lines[0].mrr * rng.between(10, 30) / 100);
            let id = next_id(&subscriptions);
            subscriptions.push(add_on.subscribe(id, add_on_from, term_end));
            lines.push(add_on);
        }
        if current {
            return subscriptions;
        }
        if rng.chance(segment.churn * (2.25 - 2.0 * health)) {
            let back = end + Months::new(rng.between(3, 9) as u32);
            if back >= horizon || !rng.chance(0.3) {
                return subscriptions;
            }
            lines = vec![Line::new(segment.plan, list_price(rng, segment))];
            start = back;
        } else {
            lines[0].mrr = renewal_price(rng, lines[0].mrr);
            start = end;
        }
    }
}

/// The days of one month on which an account is a paying customer (at least one).
struct CustomerMonth<'a> {
    account: &'a Account,
    month: u32,
    days: Vec<NaiveDate>,
}

impl CustomerMonth<'_> {
    /// Months since the account started.
    fn tenure(&self) -> u32 {
        self.month - self.account.start_month
    }

    /// A moment of office hours on one of the days.
    fn moment(&self, rng: &mut Rng) -> DateTime<Utc> {
        let day = rng.pick(&self.days);
        office_time(rng, day)
    }

    fn customer_at_month_end(&self, cal: Calendar) -> bool {
        self.days.last() == Some(&cal.end(self.month))
    }
}

/// Every month in which each account is a customer, month by month.
fn customer_months(cal: Calendar, accounts: &[Account]) -> Vec<CustomerMonth<'_>> {
    (0..MONTHS)
        .flat_map(|month| {
            accounts.iter().map(move |account| CustomerMonth {
                account,
                month,
                days: cal.days(month).filter(|d| account.mrr_on(*d) > 0).collect(),
            })
        })
        .filter(|cm| !cm.days.is_empty())
        .collect()
}

/// A survey score in `kind`'s range, higher for healthier accounts.
fn survey_score(rng: &mut Rng, kind: FeedbackKind, health: f64) -> i32 {
    let (min, max) = kind.score_range();
    let spread = f64::from(max - min);
    let score = f64::from(min) + spread * (0.4 + 0.6 * health + 0.5 * (rng.unit() - 0.5));
    (score.round() as i32).clamp(min, max)
}

/// A `FeedbackInput`.
fn feedback_row(
    id: String,
    account: &Account,
    kind: FeedbackKind,
    score: i32,
    comment: Option<&str>,
    at: DateTime<Utc>,
) -> Value {
    json!({
        "externalId": id,
        "accountExternalId": account.id,
        "kind": kind.as_db(),
        "score": score,
        "comment": comment,
        "respondedAt": at,
    })
}

/// NPS surveys every quarter (staggered by account), answered three times in four, with a
/// comment now and then.
fn nps(rng: &mut Rng, months: &[CustomerMonth]) -> Vec<Value> {
    let mut rows = Vec::new();
    for cm in months {
        if !(cm.month as usize + cm.account.number).is_multiple_of(3) || !rng.chance(0.75) {
            continue;
        }
        let score = survey_score(rng, FeedbackKind::Nps, cm.account.health);
        let comments: &[&str] = match score {
            9.. => &PRAISE,
            7..=8 => &REMARKS,
            _ => &COMPLAINTS,
        };
        let comment = rng.chance(0.2).then(|| rng.pick(comments));
        let id = format!("NPS-{:06}", rows.len() + 1);
        rows.push(feedback_row(id, cm.account, FeedbackKind::Nps, score, comment, cm.moment(rng)));
    }
    rows
}

/// Tickets, 1-2 a month per customer (more for unhappy ones), and the CSAT and CES surveys
/// answered after some of their resolutions. Returns (tickets, survey responses).
fn tickets(rng: &mut Rng, cal: Calendar, months: &[CustomerMonth]) -> (Vec<Value>, Vec<Value>) {
    let horizon = midnight(cal.horizon());
    let (mut tickets, mut surveys) = (Vec::new(), Vec::new());
    for cm in months {
        let count = rng.weighted(&[(0, 15), (1, 35), (2, 35), (3, 15)])
            + usize::from(rng.chance(0.4 * (1.0 - cm.account.health)));
        for _ in 0..count {
            let id = format!("TCK-{:06}", tickets.len() + 1);
            let opened = cm.moment(rng);
            // Minutes to the first response (0.5 to 24 hours), then to the resolution (1 to 120 hours).
            let response = rng.skewed(30, 24 * 60);
            let resolution = response + rng.skewed(30, 120 * 60 - response);
            let first_response =
                Some(opened + TimeDelta::minutes(response)).filter(|t| *t < horizon && rng.chance(0.95));
            let resolved = Some(opened + TimeDelta::minutes(resolution)).filter(|t| *t < horizon);
            let contacts = resolved.map(|_| rng.weighted(&[(1, 70), (2, 18), (3, 8), (4, 4)]));
            tickets.push(json!({
                "externalId": id,
                "accountExternalId": cm.account.id,
                "openedAt": opened,
                "firstResponseAt": first_response,
                "resolvedAt": resolved,
                "contactsToResolve": contacts,
            }));
            let Some(resolved) = resolved else { continue };
            for (kind, chance) in [(FeedbackKind::Csat, 0.3), (FeedbackKind::Ces, 0.1)] {
                let responded = resolved + TimeDelta::minutes(rng.between(60, 48 * 60));
                if rng.chance(chance) && responded < horizon {
                    let score = survey_score(rng, kind, cm.account.health);
                    surveys.push(feedback_row(
                        format!("{}-{id}", kind.as_db()),
                        cm.account,
                        kind,
                        score,
                        None,
                        responded,
                    ));
                }
            }
        }
    }
    (tickets, surveys)
}

/// A usage record at the end of every month an account ends as a customer: seats follow its MRR,
/// new accounts ramp up over three months, healthy ones use more of what they pay for.
fn usage(rng: &mut Rng, cal: Calendar, months: &[CustomerMonth]) -> Vec<Value> {
    let mut rows = Vec::new();
    for cm in months.iter().filter(|cm| cm.customer_at_month_end(cal)) {
        let (account, date) = (cm.account, cal.end(cm.month));
        let seats = (account.mrr_on(date) / (account.segment.seat_price * 100)).max(1);
        let ramp = (f64::from(cm.tenure() + 1) / 3.0).min(1.0);
        let share = ((0.45 + 0.55 * account.health) * ramp + 0.2 * (rng.unit() - 0.5)).max(0.05);
        let active_users = (seats as f64 * share).round() as i64;
        let logins = active_users * rng.between(6, 20);
        let available = account.segment.features;
        let used = (available as f64 * (0.3 + 0.5 * account.health + 0.1 * (rng.unit() - 0.5))).round() as i64;
        rows.push(json!({
            "accountExternalId": account.id,
            "date": date,
            "activeUsers": active_users,
            "licensedSeats": seats,
            "logins": logins,
            "sessionMinutes": logins * rng.between(8, 30),
            "featuresUsed": used.clamp(1, available),
            "featuresAvailable": available,
        }));
    }
    rows
}

/// The CSM's touchpoints: onboarding in the first two months, a quarterly QBR where the segment
/// has them, and 0-3 emails, calls, meetings or trainings a month; some with an executive.
fn touchpoints(rng: &mut Rng, months: &[CustomerMonth]) -> Vec<Value> {
    let mut rows = Vec::new();
    for cm in months {
        // (kind, chance an executive joins)
        let mut planned = Vec::new();
        if cm.tenure() < 2 {
            planned.push((TouchpointKind::Onboarding, 0.1));
        }
        if cm.account.segment.quarterly_qbr && cm.tenure() % 3 == 2 {
            planned.push((TouchpointKind::Qbr, 0.6));
        }
        for _ in 0..rng.weighted(&[(0, 15), (1, 40), (2, 35), (3, 10)]) {
            let kind = rng.weighted(&[
                (TouchpointKind::Email, 35),
                (TouchpointKind::Call, 30),
                (TouchpointKind::Meeting, 20),
                (TouchpointKind::Training, 15),
            ]);
            planned.push((kind, 0.12));
        }
        for (kind, executive) in planned {
            rows.push(json!({
                "externalId": format!("TP-{:06}", rows.len() + 1),
                "accountExternalId": cm.account.id,
                "kind": kind.as_db(),
                "occurredAt": cm.moment(rng),
                "withExecutive": rng.chance(executive),
                "csmEmail": cm.account.csm,
            }));
        }
    }
    rows
}

/// One cost per month and category.
fn costs(rng: &mut Rng, cal: Calendar) -> Vec<Value> {
    let mut rows = Vec::new();
    for month in (0..MONTHS).map(|m| cal.start(m)) {
        for (category, lo, hi) in COSTS {
            rows.push(json!({
                "externalId": format!("COST-{}-{}", month.format("%Y-%m"), category.as_db()),
                "month": month,
                "category": category.as_db(),
                "amount": money(rng.between(lo * 100, hi * 100)),
            }));
        }
    }
    rows
}

/// Testimonials, case studies, reference calls and reviews, from happy customers only.
fn advocacy(rng: &mut Rng, months: &[CustomerMonth]) -> Vec<Value> {
    let kinds = [
        (AdvocacyKind::Review, 40),
        (AdvocacyKind::Testimonial, 25),
        (AdvocacyKind::ReferenceCall, 25),
        (AdvocacyKind::CaseStudy, 10),
    ];
    let mut rows = Vec::new();
    for cm in months.iter().filter(|cm| cm.account.health > 0.75) {
        if rng.chance(0.025) {
            rows.push(json!({
                "externalId": format!("ADV-{:04}", rows.len() + 1),
                "accountExternalId": cm.account.id,
                "kind": rng.weighted(&kinds).as_db(),
                "occurredOn": rng.pick(&cm.days),
            }));
        }
    }
    rows
}

/// Requests for the [`FEATURES`], each taking its feature's fate; none after it shipped.
fn feature_requests(rng: &mut Rng, cal: Calendar, months: &[CustomerMonth]) -> Vec<Value> {
    let mut rows = Vec::new();
    for cm in months {
        if !rng.chance(0.035) {
            continue;
        }
        let feature = rng.choose(&FEATURES, |f| f.weight);
        let requested = cm.moment(rng);
        let (status, shipped) = match feature.fate {
            Fate::Shipped(month) => {
                (FeatureRequestStatus::Shipped, Some(midnight(cal.start(month) + Days::new(14)) + TimeDelta::hours(10)))
            }
            Fate::Planned => (FeatureRequestStatus::Planned, None),
            Fate::Open => (FeatureRequestStatus::Open, None),
            Fate::Declined => (FeatureRequestStatus::Declined, None),
        };
        if shipped.is_some_and(|at| at <= requested) {
            continue;
        }
        rows.push(json!({
            "externalId": format!("FR-{:04}", rows.len() + 1),
            "accountExternalId": cm.account.id,
            "title": feature.title,
            "status": status.as_db(),
            "requestedAt": requested,
            "shippedAt": shipped,
        }));
    }
    rows
}

/// Website visitors, growing over the years.
fn traffic(rng: &mut Rng, cal: Calendar) -> Vec<Value> {
    (0..MONTHS)
        .map(|m| json!({ "month": cal.start(m), "visitors": 2_500 + 70 * i64::from(m) + rng.between(-400, 400) }))
        .collect()
}
