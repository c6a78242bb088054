//! The benchmark's scenarios: each a GraphQL request as a given user, timed over HTTP; the mixed
//! load of concurrent clients; and the hand-written SQL floor.
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::company::{Company, csm_email};
use super::{ADMIN, FINANCE, INTEGRATION, MixedLoad};
use crate::auth::jwt::JwtKeys;
use crate::error::AppError;
use crate::kpis::period::month_index;

/// Latencies in milliseconds.
#[derive(Default)]
pub struct Stats(Vec<f64>);

impl Stats {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile (nearest rank); 0 without samples.
    pub fn percentile(&self, q: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
        sorted.get(rank).copied().unwrap_or(0.0)
    }

    pub fn p50(&self) -> f64 {
        self.percentile(0.5)
    }
}

/// An HTTP client of the server, with a token per user.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    url: String,
    keys: Arc<JwtKeys>,
}

impl Client {
    pub fn new(url: String, keys: JwtKeys) -> Self {
        Client { http: reqwest::Client::new(), url, keys: Arc::new(keys) }
    }

    /// Runs `query` as `email`; the `data`, or the errors as an internal error.
    pub async fn query(&self, email: &str, query: &str, variables: &Value) -> Result<Value, AppError> {
        let token = self.keys.mint(email, 3600)?;
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(AppError::internal)?;
        let body: Value = response.json().await.map_err(AppError::internal)?;
        match body.get("errors") {
            Some(errors) => Err(AppError::internal(format!("{email}: {errors}"))),
            None => Ok(body["data"].clone()),
        }
    }

    /// Pushes one batch as INTEGRATION; its counts.
    pub async fn ingest(&self, mutation: &str, input_type: &str, rows: &[Value]) -> Result<Value, AppError> {
        let query = format!(
            "mutation($input: [{input_type}!]!) {{ {mutation}(input: $input) {{ created updated unchanged }} }}"
        );
        Ok(self.query(INTEGRATION, &query, &json!({ "input": rows })).await?[mutation].clone())
    }

    /// Pushes rows of several kinds (`IngestInput`) with `ingest` as INTEGRATION; the total counts.
    pub async fn ingest_kinds(&self, input: &serde_json::Map<String, Value>) -> Result<Value, AppError> {
        let query = "mutation($input: IngestInput!) { ingest(input: $input) { total { created updated unchanged } } }";
        Ok(self.query(INTEGRATION, query, &json!({ "input": input })).await?["ingest"]["total"].clone())
    }
}

/// One named request.
pub struct Scenario {
    pub name: &'static str,
    user: String,
    query: String,
    variables: Value,
}

fn period(company: &Company, months: u32, granularity: &str) -> Value {
    let first = company.months.saturating_sub(months);
    json!({ "from": company.month_start(first), "to": company.month_end(company.months - 1), "granularity": granularity })
}

/// Every field of `KpiSnapshot` that `role` may read (the metric catalog says which), space-separated.
async fn readable_kpis(client: &Client, role: &str) -> Result<String, AppError> {
    let answer = client
        .query(ADMIN, r#"{ __type(name: "KpiSnapshot") { fields { name } } metricCatalog { name roles } }"#, &json!({}))
        .await?;
    let forbidden: Vec<&str> = answer["metricCatalog"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["roles"].as_array().is_some_and(|roles| !roles.iter().any(|r| r == role)))
        .filter_map(|m| m["name"].as_str())
        .collect();
    let fields: Vec<&str> = answer["__type"]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .filter(|name| !forbidden.contains(name))
        .collect();
    Ok(fields.join(" "))
}

impl Scenario {
    /// The scenarios of the performance issue, on `company`.
    pub async fn all(client: &Client, company: &Company) -> Result<Vec<Scenario>, AppError> {
        let every_kpi = readable_kpis(client, "FINANCE").await?;
        let dashboard = format!("query($p: PeriodInput!) {{ kpis(period: $p) {{ {every_kpi} }} }}");
        let csm_kpis = readable_kpis(client, "CSM").await?;
        let csm_dashboard = format!("query($p: PeriodInput!) {{ kpis(period: $p) {{ {csm_kpis} }} }}");
        let scenario =
            |name, user: &str, query: String, variables| Scenario { name, user: user.to_owned(), query, variables };
        Ok(vec![
            scenario("portfolio_dashboard", FINANCE, dashboard.clone(), json!({ "p": period(company, 24, "MONTH") })),
            scenario("csm_dashboard", &csm_email(0), csm_dashboard, json!({ "p": period(company, 24, "MONTH") })),
            scenario(
                "grouped",
                ADMIN,
                format!("query($p: PeriodInput!) {{ bySegment: kpis(period: $p, groupBy: SEGMENT) {{ group {every_kpi} }} byTeam: kpis(period: $p, groupBy: TEAM) {{ group {every_kpi} }} }}"),
                json!({ "p": period(company, 12, "MONTH") }),
            ),
            scenario(
                "accounts_page",
                ADMIN,
                "{ accounts(first: 50, filter: { healthStatus: RED }) { totalCount edges { node { externalId mrr health { score status } } } } }".to_owned(),
                json!({}),
            ),
            scenario(
                "scorecards",
                ADMIN,
                "query($p: PeriodInput!) { csmScorecards(period: $p) { csm { email } periodStart accounts bookMrr grossRevenueRetention netRevenueRetention customerRetentionRate renewalDollarRate expansionMrr nps csat firstContactResolutionRate medianFirstResponseHours touchpoints executiveRelationships averageHealthScore dataCompleteness goals { metric attainment } attainment } }".to_owned(),
                json!({ "p": period(company, 3, "QUARTER") }),
            ),
        ])
    }

    async fn once(&self, client: &Client) -> Result<f64, AppError> {
        let started = Instant::now();
        client.query(&self.user, &self.query, &self.variables).await?;
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    }

    /// `runs` timed runs after `warmup` untimed ones.
    pub async fn measure(&self, client: &Client, warmup: usize, runs: usize) -> Result<Stats, AppError> {
        for _ in 0..warmup {
            self.once(client).await?;
        }
        let mut stats = Stats::default();
        for _ in 0..runs {
            stats.0.push(self.once(client).await?);
        }
        Ok(stats)
    }

    pub async fn last_answer(&self, client: &Client) -> Result<Value, AppError> {
        client.query(&self.user, &self.query, &self.variables).await
    }
}

/// `clients` concurrent clients running the scenarios in turn for `duration`.
pub async fn mixed_load(client: &Client, scenarios: &[Scenario], clients: usize, duration: Duration) -> MixedLoad {
    let scenarios: Arc<Vec<(String, String, Value)>> =
        Arc::new(scenarios.iter().map(|s| (s.user.clone(), s.query.clone(), s.variables.clone())).collect());
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for n in 0..clients {
        let (client, scenarios) = (client.clone(), scenarios.clone());
        tasks.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0);
            let mut turn = n;
            while started.elapsed() < duration {
                let (user, query, variables) = &scenarios[turn % scenarios.len()];
                let began = Instant::now();
                match client.query(user, query, variables).await {
                    Ok(_) => latencies.push(began.elapsed().as_secs_f64() * 1000.0),
                    Err(e) => {
                        tracing::warn!(error = %e.detail(), "mixed load request failed");
                        errors += 1;
                    }
                }
                turn += 1;
            }
            (latencies, errors)
        });
    }
    let (mut all, mut errors) = (Stats::default(), 0);
    for (latencies, failed) in tasks.join_all().await {
        all.0.extend(latencies);
        errors += failed;
    }
    let seconds = started.elapsed().as_secs_f64();
    MixedLoad {
        clients,
        seconds,
        requests: all.len() + errors,
        errors,
        requests_per_second: (all.len() + errors) as f64 / seconds,
        p50_ms: all.p50(),
        p95_ms: all.percentile(0.95),
        p99_ms: all.percentile(0.99),
    }
}

/// MRR movements per month by one hand-written statement over `subscriptions` alone: the
/// reference the API's `portfolio_dashboard` is compared with.
///
/// A subscription is active on the end of month m when it starts in m or before and ends in a
/// later month, so each one adds its MRR from its start's month and takes it away from its
/// end's: the statement sums those changes per account and month, takes each account's running
/// sum over its months of change (its MRR, constant between them), and classifies each change
/// against the account's MRR before it.
pub struct SqlFloor<'a> {
    db: &'a DatabaseConnection,
    sql: String,
}

/// The floor's columns of the MRR movements, with the `KpiSnapshot` field each must equal.
const MOVEMENTS: [(&str, &str); 5] = [
    ("new_mrr", "newMrr"),
    ("reactivation_mrr", "reactivationMrr"),
    ("expansion_mrr", "expansionMrr"),
    ("contraction_mrr", "contractionMrr"),
    ("churned_mrr", "churnedMrr"),
];

impl<'a> SqlFloor<'a> {
    pub fn new(db: &'a DatabaseConnection, company: &Company) -> Self {
        let base = month_index(company.month_start(0));
        let (units, month_of): (&str, fn(&str) -> String) = match db.get_database_backend() {
            DatabaseBackend::Sqlite => ("CAST(ROUND(CAST(s.mrr AS REAL) * 10000) AS INTEGER)", |c: &str| {
                format!("(CAST(substr({c}, 1, 4) AS INTEGER) * 12 + CAST(substr({c}, 6, 2) AS INTEGER) - 1)")
            }),
            _ => ("s.mrr * 10000", |c: &str| {
                format!("(CAST(EXTRACT(YEAR FROM {c}) AS INTEGER) * 12 + CAST(EXTRACT(MONTH FROM {c}) AS INTEGER) - 1)")
            }),
        };
        let (first, months) = (company.months.saturating_sub(24), company.months);
        let shown: Vec<String> = (first..months).map(|m| format!("({m})")).collect();
        let sql = format!(
            "WITH shown(idx) AS (VALUES {shown}), \
             events AS (SELECT s.account_id, {start} - {base} AS idx, {units} AS d FROM subscriptions s \
               UNION ALL SELECT s.account_id, {end} - {base}, -{units} FROM subscriptions s WHERE s.end_date IS NOT NULL), \
             changes AS (SELECT account_id, idx, SUM(d) AS d FROM events GROUP BY account_id, idx), \
             series AS (SELECT account_id, idx, SUM(d) OVER (PARTITION BY account_id ORDER BY idx ROWS UNBOUNDED PRECEDING) AS c \
               FROM changes), \
             flagged AS (SELECT idx, c, COALESCE(LAG(c) OVER w, 0) AS p, \
               COALESCE(MAX(CASE WHEN c > 0 THEN 1 ELSE 0 END) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS seen \
               FROM series WINDOW w AS (PARTITION BY account_id ORDER BY idx)), \
             moves AS (SELECT idx, \
               SUM(CASE WHEN p = 0 AND c > 0 AND seen = 0 THEN c ELSE 0 END) AS new_mrr, \
               SUM(CASE WHEN p = 0 AND c > 0 AND seen = 1 THEN c ELSE 0 END) AS reactivation_mrr, \
               SUM(CASE WHEN p > 0 AND c > p THEN c - p ELSE 0 END) AS expansion_mrr, \
               SUM(CASE WHEN p > 0 AND c > 0 AND c < p THEN p - c ELSE 0 END) AS contraction_mrr, \
               SUM(CASE WHEN p > 0 AND c = 0 THEN p ELSE 0 END) AS churned_mrr \
               FROM flagged WHERE idx >= {first} AND idx < {months} GROUP BY idx) \
             SELECT shown.idx, {columns} FROM shown LEFT JOIN moves ON moves.idx = shown.idx ORDER BY shown.idx",
            shown = shown.join(", "),
            start = month_of("s.start_date"),
            end = month_of("s.end_date"),
            columns = MOVEMENTS.map(|(c, _)| format!("CAST(COALESCE(moves.{c}, 0) AS TEXT) AS {c}")).join(", "),
        );
        SqlFloor { db, sql }
    }

    async fn rows(&self) -> Result<Vec<sea_orm::QueryResult>, AppError> {
        Ok(self.db.query_all_raw(Statement::from_string(self.db.get_database_backend(), self.sql.clone())).await?)
    }

    pub async fn measure(&self, warmup: usize, runs: usize) -> Result<Stats, AppError> {
        for _ in 0..warmup {
            self.rows().await?;
        }
        let mut stats = Stats::default();
        for _ in 0..runs {
            let started = Instant::now();
            self.rows().await?;
            stats.0.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(stats)
    }

    /// Whether each month's movements equal the `kpis` rows of the portfolio dashboard.
    pub async fn matches(&self, portfolio: &Value) -> Result<bool, AppError> {
        let rows = self.rows().await?;
        let api = portfolio["kpis"].as_array().cloned().unwrap_or_default();
        if rows.len() != api.len() {
            tracing::warn!(floor = rows.len(), api = api.len(), "months differ");
            return Ok(false);
        }
        for (row, kpis) in rows.iter().zip(&api) {
            for (column, field) in MOVEMENTS {
                let units: String = row.try_get("", column)?;
                let floor = Decimal::from_str(&units).map_err(AppError::internal)? / Decimal::from(10_000);
                let answer = Decimal::from_str(kpis[field].as_str().unwrap_or("x")).map_err(AppError::internal)?;
                if floor.normalize() != answer.normalize() {
                    tracing::warn!(month = %kpis["periodStart"], field, %floor, %answer, "movement differs from the SQL floor");
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}
