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
use super::{ADMIN, FINANCE, INTEGRATION, MixedLoad, MixedScenario};
use cs_kpi::auth::jwt::JwtKeys;
use cs_kpi::base::calendar::month_index;
use cs_kpi::base::error::AppError;

/// Latencies in milliseconds, and what the machine's processors did meanwhile.
#[derive(Default)]
pub struct Stats {
    latencies: Vec<f64>,
    /// The busy processor time of the whole machine (server, database and client) per sample,
    /// in milliseconds; `None` where `/proc/stat` is not available.
    pub cpu_ms: Option<f64>,
}

impl Stats {
    pub fn len(&self) -> usize {
        self.latencies.len()
    }

    pub fn push(&mut self, latency: Duration) {
        self.latencies.push(latency.as_secs_f64() * 1000.0);
    }

    /// The `q` quantile (nearest rank); 0 without samples.
    pub fn percentile(&self, q: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
        sorted.get(rank).copied().unwrap_or(0.0)
    }

    pub fn p50(&self) -> f64 {
        self.percentile(0.5)
    }

    /// The mean; 0 without samples.
    fn mean(&self) -> f64 {
        self.latencies.iter().sum::<f64>() / self.len().max(1) as f64
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

    /// Downloads `GET /export/{file}` as `email`, reading the body as it streams and keeping
    /// none of it; its lines and bytes.
    pub async fn export(&self, email: &str, file: &str) -> Result<(usize, usize), AppError> {
        let token = self.keys.mint(email, 3600)?;
        let url = self.url.replace("/graphql", &format!("/export/{file}"));
        let mut response = self.http.get(url).bearer_auth(token).send().await.map_err(AppError::internal)?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(AppError::internal(format!("export {file}: {status} {body}")));
        }
        let (mut lines, mut bytes) = (0, 0);
        while let Some(chunk) = response.chunk().await.map_err(AppError::internal)? {
            lines += chunk.iter().filter(|&&b| b == b'\n').count();
            bytes += chunk.len();
        }
        Ok((lines, bytes))
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
    /// One of the dashboards the mixed load runs in turn (the reports added later, cohorts and
    /// renewals, are measured alone, so that the load stays comparable between rounds).
    pub in_mixed_load: bool,
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
        let scenario = |name, user: &str, query: String, variables| Scenario {
            name,
            user: user.to_owned(),
            query,
            variables,
            in_mixed_load: true,
        };
        let report = |name, query: &str, variables| Scenario {
            in_mixed_load: false,
            ..scenario(name, ADMIN, query.to_owned(), variables)
        };
        let whole = json!({ "f": company.month_start(0), "t": company.month_end(company.months - 1) });
        let last_quarter =
            json!({ "f": company.month_start(company.months - 3), "t": company.month_end(company.months - 1) });
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
            // Every cohort month of the company followed for five years (KPIS.md 9).
            report(
                "cohorts",
                "query($f: Date!, $t: Date!) { cohorts(from: $f, to: $t, metric: NET_MRR, months: 60) { cohort size startMrr retention } }",
                whole,
            ),
            // The first page of the last quarter's renewals, with their totals and health.
            report(
                "renewals_page",
                "query($f: Date!, $t: Date!) { renewals(from: $f, to: $t, first: 50) { totalCount totalMrr edges { node { subscription { externalId } account { externalId } endDate mrr renewed healthStatus } } } }",
                last_quarter,
            ),
        ])
    }

    async fn once(&self, client: &Client) -> Result<Duration, AppError> {
        let started = Instant::now();
        client.query(&self.user, &self.query, &self.variables).await?;
        Ok(started.elapsed())
    }

    /// `runs` timed runs after `warmup` untimed ones.
    pub async fn measure(&self, client: &Client, warmup: usize, runs: usize) -> Result<Stats, AppError> {
        for _ in 0..warmup {
            self.once(client).await?;
        }
        let mut stats = Stats::default();
        let busy = BusyTime::now();
        for _ in 0..runs {
            stats.push(self.once(client).await?);
        }
        stats.cpu_ms = busy.per_sample_since(runs);
        Ok(stats)
    }

    /// Who asks, and the query and variables.
    pub fn request(&self) -> (String, String, Value) {
        (self.user.clone(), self.query.clone(), self.variables.clone())
    }

    pub async fn last_answer(&self, client: &Client) -> Result<Value, AppError> {
        client.query(&self.user, &self.query, &self.variables).await
    }
}

/// `clients` concurrent clients running the scenarios in turn for `duration`.
pub async fn mixed_load(client: &Client, scenarios: &[Scenario], clients: usize, duration: Duration) -> MixedLoad {
    let requests: Arc<Vec<(String, String, Value)>> = Arc::new(scenarios.iter().map(Scenario::request).collect());
    let busy = BusyTime::now();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for n in 0..clients {
        let (client, requests) = (client.clone(), requests.clone());
        tasks.spawn(async move {
            // Per scenario, in `scenarios` order: its latencies, and its failed requests.
            let mut answered: Vec<(Stats, usize)> = requests.iter().map(|_| Default::default()).collect();
            let mut turn = n;
            while started.elapsed() < duration {
                let which = turn % requests.len();
                let (user, query, variables) = &requests[which];
                let began = Instant::now();
                match client.query(user, query, variables).await {
                    Ok(_) => answered[which].0.push(began.elapsed()),
                    Err(e) => {
                        tracing::warn!(error = %e.detail(), "mixed load request failed");
                        answered[which].1 += 1;
                    }
                }
                turn += 1;
            }
            answered
        });
    }
    let mut by_scenario: Vec<(Stats, usize)> = scenarios.iter().map(|_| Default::default()).collect();
    for answered in tasks.join_all().await {
        for ((stats, errors), (more, failed)) in by_scenario.iter_mut().zip(answered) {
            stats.latencies.extend(more.latencies);
            *errors += failed;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let latencies = by_scenario.iter().flat_map(|(s, _)| s.latencies.iter().copied()).collect();
    let all = Stats { latencies, ..Stats::default() };
    let errors: usize = by_scenario.iter().map(|(_, failed)| failed).sum();
    let requests = all.len() + errors;
    MixedLoad {
        clients,
        seconds,
        requests,
        errors,
        requests_per_second: requests as f64 / seconds,
        mean_ms: all.mean(),
        p50_ms: all.p50(),
        p95_ms: all.percentile(0.95),
        p99_ms: all.percentile(0.99),
        cpu_ms_per_request: busy.per_sample_since(requests),
        by_scenario: scenarios
            .iter()
            .zip(&by_scenario)
            .map(|(scenario, (stats, errors))| MixedScenario {
                name: scenario.name,
                requests: stats.len() + errors,
                p50_ms: stats.p50(),
                p99_ms: stats.percentile(0.99),
            })
            .collect(),
    }
}

/// The busy processor time of the whole machine so far (`/proc/stat`: user, nice, system, irq,
/// softirq and steal, in USER_HZ ticks, which are hundredths of a second on Linux).
struct BusyTime(Option<u64>);

impl BusyTime {
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").ok();
        let ticks = stat.as_deref().and_then(|stat| {
            let fields: Vec<u64> =
                stat.lines().next()?.split_whitespace().skip(1).map(str::parse).collect::<Result<_, _>>().ok()?;
            Some([0, 1, 2, 5, 6, 7].iter().filter_map(|&i| fields.get(i)).sum())
        });
        BusyTime(ticks)
    }

    /// Milliseconds of busy processor time since `self`, per one of `samples`.
    fn per_sample_since(&self, samples: usize) -> Option<f64> {
        let (before, after) = (self.0?, BusyTime::now().0?);
        Some(after.saturating_sub(before) as f64 * 10.0 / samples.max(1) as f64)
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
        let busy = BusyTime::now();
        for _ in 0..runs {
            let started = Instant::now();
            self.rows().await?;
            stats.push(started.elapsed());
        }
        stats.cpu_ms = busy.per_sample_since(runs);
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
