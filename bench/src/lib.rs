//! The benchmark (`cs-kpi-bench`, its own crate so that neither it nor its HTTP client is in the
//! server's binary): loads a synthetic company through the real ingest path (GraphQL mutations
//! over HTTP, 1,000 rows a request) into the configured database, runs the named scenarios
//! through HTTP with real tokens, and reports their latencies, a hand-written SQL floor and the
//! peak memory of the process (which runs the server; the generator streams one block at a time).
mod company;
pub mod heap;
mod scenarios;
pub mod soak;
mod targets;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinSet;

pub use company::Company;
use scenarios::{Client, Scenario, Stats};
pub use targets::Verdict;

use cs_kpi::api::org::{UserInput, upsert_user_directly};
use cs_kpi::auth::Role;
use cs_kpi::auth::jwt::JwtKeys;
use cs_kpi::base::error::AppError;
use cs_kpi::ingest::Batch;
use cs_kpi::server::{AppState, Limits, router};

pub const ADMIN: &str = "admin@bench.example";
pub const INTEGRATION: &str = "integration@bench.example";
pub const FINANCE: &str = "finance@bench.example";

/// Rows per ingest request.
const BATCH: usize = 1_000;
/// Requests of the `ingest` load under way at once unless told otherwise. PostgreSQL writes
/// batches side by side (`db::WriteAccess::Shared`): four, as four integrations (or one
/// integration's four workers) pushing at the same time. SQLite writes one batch at a time:
/// two, one writing and the next ready (more would only wait, holding their input in memory).
pub fn default_writers(database_url: &str) -> usize {
    if database_url.starts_with("sqlite") { 2 } else { 4 }
}

/// How big a company, and how hard to measure.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub company: Company,
    /// Timed runs of each scenario (after the warm-up runs).
    pub runs: usize,
    pub warmup: usize,
    /// Concurrent clients and duration of the mixed load.
    pub clients: usize,
    pub mixed_load: Duration,
    /// Push one kind per request (see [`load`]).
    pub per_kind: bool,
    /// `ingest` requests under way at once during the load (each account's in one of them).
    pub writers: usize,
    /// How long the soak runs after the other scenarios (none: no soak).
    pub soak: Option<Duration>,
}

#[derive(Serialize, Debug)]
pub struct Ingest {
    pub rows: usize,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub repush_rows: usize,
    pub repush_rows_per_second: f64,
    /// The load by mutation, in the order they first ran.
    pub by_mutation: Vec<MutationLoad>,
}

/// The rows one mutation loaded and the time its requests took.
#[derive(Serialize, Debug)]
pub struct MutationLoad {
    pub mutation: &'static str,
    pub rows: usize,
    pub seconds: f64,
    pub rows_per_second: f64,
}

#[derive(Serialize, Debug)]
pub struct ScenarioFigures {
    pub name: &'static str,
    pub runs: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// The busy processor time of the whole machine (server, database, client) per run, in ms:
    /// what one request costs, however many cores it spreads over.
    pub cpu_ms: Option<f64>,
}

#[derive(Serialize, Debug)]
pub struct MixedLoad {
    pub clients: usize,
    pub seconds: f64,
    pub requests: usize,
    pub errors: usize,
    pub requests_per_second: f64,
    /// The mean latency, which Little's law ties to `clients / requests_per_second`.
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// The busy processor time of the whole machine per request, in ms.
    pub cpu_ms_per_request: Option<f64>,
    /// The latencies of each scenario's requests within the load.
    pub by_scenario: Vec<MixedScenario>,
}

/// One scenario's requests within the mixed load.
#[derive(Serialize, Debug)]
pub struct MixedScenario {
    pub name: &'static str,
    pub requests: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Every account exported as CSV (`/export/accounts.csv`), and what streaming it added to the
/// process's memory: its peak resident set during the export (the peak reset first) less its
/// resident set before, and the peak of the bytes live allocations held during the export less
/// those held before (which memory the allocator kept resident from earlier work cannot hide).
#[derive(Serialize, Debug)]
pub struct ExportFigures {
    pub rows: usize,
    pub megabytes: f64,
    pub seconds: f64,
    pub added_rss_mb: f64,
    pub added_heap_mb: f64,
}

#[derive(Serialize, Debug)]
pub struct Report {
    pub backend: String,
    pub accounts: usize,
    pub months: u32,
    /// The whole run, from an empty database to the last figure.
    pub seconds: f64,
    pub ingest: Ingest,
    pub scenarios: Vec<ScenarioFigures>,
    pub mixed_load: MixedLoad,
    /// The MRR movements of the portfolio dashboard's months by one hand-written statement.
    pub sql_floor: ScenarioFigures,
    /// `portfolio_dashboard` p50 / `sql_floor` p50.
    pub portfolio_to_floor: f64,
    /// Whether the API's movements equal the hand-written statement's, month by month.
    pub movements_match_floor: bool,
    pub export: ExportFigures,
    pub peak_rss_mb: f64,
    /// The soak's figures, when it ran (`--soak-minutes`).
    pub soak: Option<soak::Soak>,
}

/// Runs the benchmark on `database_url`, which must hold no accounts yet.
pub async fn run(database_url: &str, config: &BenchConfig) -> Result<Report, AppError> {
    let started = Instant::now();
    // Generous limits: the benchmark measures slow answers rather than refusing them.
    let slow = Duration::from_secs(600);
    let db = cs_kpi::startup::open_with(database_url, Some(slow)).await?;
    if !is_empty(&db).await? {
        return Err(AppError::bad_input("bench needs a database without accounts (a fresh one)"));
    }
    for (email, role) in [(ADMIN, Role::Admin), (INTEGRATION, Role::Integration), (FINANCE, Role::Finance)] {
        let user = UserInput { email: email.into(), name: email.into(), role, team_name: None };
        upsert_user_directly(Batch::command_line(&db, "cli user").await?, user).await?;
    }
    let secret: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
    let keys = JwtKeys::hs256(secret.as_bytes(), None, None)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(AppError::internal)?;
    let address = listener.local_addr().map_err(AppError::internal)?;
    let limits = Limits { request_timeout: slow, ..Limits::default() };
    let app = router(AppState::with_limits(db.clone(), keys.clone(), limits, false));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new(format!("http://{address}/graphql"), keys);

    let ingest = load(&client, &db, config).await?;
    // Fresh planner statistics, as autovacuum (or a scheduled ANALYZE on SQLite) would give a
    // database that has been running for a while.
    db.execute_unprepared("ANALYZE").await?;
    let scenarios = Scenario::all(&client, &config.company).await?;
    let mut figures = Vec::new();
    let mut portfolio = None;
    for scenario in &scenarios {
        let stats = scenario.measure(&client, config.warmup, config.runs).await?;
        if scenario.name == "portfolio_dashboard" {
            portfolio = Some((stats.p50(), scenario.last_answer(&client).await?));
        }
        figures.push(stats.figures(scenario.name));
    }
    let peak_before_export = peak_rss_mb();
    let export = export_accounts(&client).await?;
    let dashboards: Vec<_> = scenarios.into_iter().filter(|s| s.in_mixed_load).collect();
    let mixed_load = scenarios::mixed_load(&client, &dashboards, config.clients, config.mixed_load).await;
    let floor = scenarios::SqlFloor::new(&db, &config.company);
    let floor_stats = floor.measure(config.warmup, config.runs).await?;
    let (portfolio_p50, portfolio_answer) =
        portfolio.ok_or_else(|| AppError::internal("the portfolio dashboard did not run"))?;
    let movements_match_floor = floor.matches(&portfolio_answer).await?;
    let soak = match config.soak {
        Some(duration) => {
            let readers = (config.clients / 2).max(1);
            Some(soak::soak(&client, &db, &config.company, &dashboards, readers, duration).await?)
        }
        None => None,
    };
    server.abort();
    Ok(Report {
        backend: format!("{:?}", db.get_database_backend()),
        accounts: config.company.accounts,
        months: config.company.months,
        seconds: started.elapsed().as_secs_f64(),
        ingest,
        scenarios: figures,
        mixed_load,
        portfolio_to_floor: portfolio_p50 / floor_stats.p50(),
        sql_floor: floor_stats.figures("sql_floor"),
        movements_match_floor,
        export,
        peak_rss_mb: peak_before_export.max(peak_rss_mb()),
        soak,
    })
}

async fn is_empty(db: &sea_orm::DatabaseConnection) -> Result<bool, AppError> {
    use sea_orm::{EntityTrait, PaginatorTrait};
    Ok(entity::account::Entity::find().count(db).await? == 0)
}

/// Does on PostgreSQL what autovacuum does with its default settings, with one worker: a round
/// at most once a minute (`autovacuum_naptime`), which vacuums each table with more than
/// `50 + 0.2 * live` dead rows or `1000 + 0.2 * live` rows inserted since its last vacuum (which
/// marks its pages all-visible, so that index-only scans skip the table), and analyzes each with
/// more than `50 + 0.1 * live` rows changed since its last analyze, in the background while the
/// load goes on. The benchmark's server may run without autovacuum (CI configurations turn it
/// off), and a database loaded from empty without it keeps the planner estimates of empty tables
/// (so whole tables are scanned to find one account's records) and every dead row of the
/// ledger's updates.
pub(crate) struct Autovacuum {
    db: sea_orm::DatabaseConnection,
    running: Option<tokio::task::JoinHandle<Result<(), sea_orm::DbErr>>>,
    /// When the last round started.
    last_round: Option<Instant>,
}

/// The least time between the starts of two rounds: `autovacuum_naptime`'s default.
const NAPTIME: Duration = Duration::from_secs(60);

/// The tables over autovacuum's thresholds, with what it would run on each.
const DUE_FOR_MAINTENANCE: &str = "SELECT CASE WHEN n_dead_tup > 50 + 0.2 * n_live_tup \
     OR n_ins_since_vacuum > 1000 + 0.2 * n_live_tup THEN 'VACUUM (ANALYZE) ' \
     ELSE 'ANALYZE ' END || quote_ident(relname) AS command FROM pg_stat_user_tables \
     WHERE n_dead_tup > 50 + 0.2 * n_live_tup OR n_ins_since_vacuum > 1000 + 0.2 * n_live_tup \
     OR n_mod_since_analyze > 50 + 0.1 * n_live_tup";

impl Autovacuum {
    pub(crate) fn new(db: &sea_orm::DatabaseConnection) -> Self {
        Autovacuum { db: db.clone(), running: None, last_round: None }
    }

    /// Starts a round over the tables due, unless one still runs, the last one started less
    /// than [`NAPTIME`] ago, or the database is not PostgreSQL.
    pub(crate) async fn nap(&mut self) -> Result<(), AppError> {
        if self.db.get_database_backend() != sea_orm::DatabaseBackend::Postgres
            || self.running.as_ref().is_some_and(|task| !task.is_finished())
            || self.last_round.is_some_and(|started| started.elapsed() < NAPTIME)
        {
            return Ok(());
        }
        self.finish().await?;
        let db = self.db.clone();
        self.last_round = Some(Instant::now());
        self.running = Some(tokio::spawn(async move { maintain(&db).await }));
        Ok(())
    }

    /// Waits for the running round, if any, then runs one more to catch up.
    async fn catch_up(&mut self) -> Result<(), AppError> {
        self.finish().await?;
        if self.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            maintain(&self.db).await?;
        }
        Ok(())
    }

    pub(crate) async fn finish(&mut self) -> Result<(), AppError> {
        if let Some(task) = self.running.take() {
            task.await.map_err(AppError::internal)??;
        }
        Ok(())
    }
}

/// One round of [`Autovacuum`].
async fn maintain(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    let due = sea_orm::Statement::from_string(db.get_database_backend(), DUE_FOR_MAINTENANCE);
    for row in db.query_all_raw(due).await? {
        db.execute_unprepared(&row.try_get::<String>("", "command")?).await?;
    }
    Ok(())
}

/// Pushes the whole company as INTEGRATION (each block's accounts with their records, or one
/// kind per request when `per_kind`), then re-pushes 10,000 unchanged tickets.
async fn load(client: &Client, db: &sea_orm::DatabaseConnection, config: &BenchConfig) -> Result<Ingest, AppError> {
    let company = &config.company;
    let mut autovacuum = Autovacuum::new(db);
    let started = Instant::now();
    let mut by_mutation: Vec<MutationLoad> = Vec::new();
    for list in company.organisation() {
        push_kind(client, list, &mut by_mutation).await?;
    }
    for block in 0..company.blocks() {
        let lists = company.block(block);
        if config.per_kind {
            for list in lists {
                push_kind(client, list, &mut by_mutation).await?;
            }
        } else {
            push_by_account(client, lists, config.writers, &mut by_mutation).await?;
        }
        let loaded = ((block + 1) * company::BLOCK).min(company.accounts);
        autovacuum.nap().await?;
        if block % 10 == 9 {
            tracing::info!(accounts = loaded, "loaded");
        }
    }
    for list in company.monthly() {
        push_kind(client, list, &mut by_mutation).await?;
    }
    autovacuum.catch_up().await?;
    let seconds = started.elapsed().as_secs_f64();
    let rows = by_mutation.iter().map(|m| m.rows).sum();

    let tickets =
        company.block(0).into_iter().find(|l| l.mutation == "recordTickets").map(|l| l.rows).unwrap_or_default();
    let started = Instant::now();
    for chunk in tickets.chunks(BATCH) {
        let counts = client.ingest("recordTickets", "TicketInput", chunk).await?;
        if counts["unchanged"] != json!(chunk.len()) {
            return Err(AppError::internal(format!("re-push changed rows: {counts}")));
        }
    }
    let repush_seconds = started.elapsed().as_secs_f64();
    Ok(Ingest {
        rows,
        seconds,
        rows_per_second: rows as f64 / seconds,
        repush_rows: tickets.len(),
        repush_rows_per_second: tickets.len() as f64 / repush_seconds,
        by_mutation,
    })
}

/// Pushes `list` with its own mutation, [`BATCH`] rows a request.
async fn push_kind(client: &Client, list: company::Rows, by_mutation: &mut Vec<MutationLoad>) -> Result<(), AppError> {
    let pushed = Instant::now();
    for chunk in list.rows.chunks(BATCH) {
        client.ingest(list.mutation, list.input_type, chunk).await?;
    }
    count_load(by_mutation, list.mutation, list.rows.len(), pushed.elapsed());
    Ok(())
}

/// Pushes a block (its accounts first, then their records by kind) with `ingest`: each account
/// with all its records in the same request, at most [`BATCH`] rows a request, `writers`
/// requests at a time (the accounts of one request never refer to those of another).
async fn push_by_account(
    client: &Client,
    lists: Vec<company::Rows>,
    writers: usize,
    by_mutation: &mut Vec<MutationLoad>,
) -> Result<(), AppError> {
    let pushed = Instant::now();
    let mut lists = lists.into_iter();
    let accounts = lists.next().ok_or_else(|| AppError::internal("a block without accounts"))?;
    let mut records: HashMap<String, Vec<(&'static str, Value)>> = HashMap::new();
    for list in lists {
        for row in list.rows {
            let account = row["accountExternalId"].as_str().unwrap_or_default().to_owned();
            records.entry(account).or_default().push((list.ingest_field, row));
        }
    }
    let total = accounts.rows.len() + records.values().map(Vec::len).sum::<usize>();
    let mut input = serde_json::Map::new();
    let mut rows = 0;
    let mut in_flight = JoinSet::new();
    for account in accounts.rows {
        let own = records.remove(account["externalId"].as_str().unwrap_or_default()).unwrap_or_default();
        if rows > 0 && rows + 1 + own.len() > BATCH {
            send(client, &mut in_flight, writers, std::mem::take(&mut input)).await?;
            rows = 0;
        }
        rows += 1 + own.len();
        for (field, row) in std::iter::once((accounts.ingest_field, account)).chain(own) {
            if let Value::Array(list) = input.entry(field).or_insert_with(|| json!([])) {
                list.push(row);
            }
        }
    }
    if !records.is_empty() {
        return Err(AppError::internal("records of an account outside their block"));
    }
    if rows > 0 {
        send(client, &mut in_flight, writers, input).await?;
    }
    while let Some(sent) = in_flight.join_next().await {
        sent.map_err(AppError::internal)??;
    }
    count_load(by_mutation, "ingest", total, pushed.elapsed());
    Ok(())
}

/// Sends `input` with `ingest` once fewer than `writers` requests are under way.
async fn send(
    client: &Client,
    in_flight: &mut JoinSet<Result<Value, AppError>>,
    writers: usize,
    input: serde_json::Map<String, Value>,
) -> Result<(), AppError> {
    while in_flight.len() >= writers.max(1) {
        if let Some(sent) = in_flight.join_next().await {
            sent.map_err(AppError::internal)??;
        }
    }
    let client = client.clone();
    in_flight.spawn(async move { client.ingest_kinds(&input).await });
    Ok(())
}

/// Adds `rows` pushed in `took` to the load of `mutation`.
fn count_load(by_mutation: &mut Vec<MutationLoad>, mutation: &'static str, rows: usize, took: Duration) {
    let i = by_mutation.iter().position(|m| m.mutation == mutation).unwrap_or_else(|| {
        by_mutation.push(MutationLoad { mutation, rows: 0, seconds: 0.0, rows_per_second: 0.0 });
        by_mutation.len() - 1
    });
    let load = &mut by_mutation[i];
    load.rows += rows;
    load.seconds += took.as_secs_f64();
    load.rows_per_second = load.rows as f64 / load.seconds;
}

/// The process's peak resident set (VmHWM), in MB; 0 where /proc is not available.
fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

/// The process's resident set now (VmRSS), in MB.
pub(crate) fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

/// A size of /proc/self/status, in MB; 0 where /proc is not available.
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Exports every account as CSV and measures what it adds to the process's memory. The peak
/// is reset first (`/proc/self/clear_refs`, Linux 4.0 and later), so the peak after the export
/// is the export's own; the whole run's peak is read before.
async fn export_accounts(client: &Client) -> Result<ExportFigures, AppError> {
    std::fs::write("/proc/self/clear_refs", "5").map_err(|e| AppError::internal(format!("clear_refs: {e}")))?;
    let before = rss_mb();
    heap::reset_peak();
    let heap_before = heap::in_use();
    let started = Instant::now();
    let (lines, bytes) = client.export(ADMIN, "accounts.csv").await?;
    Ok(ExportFigures {
        rows: lines.saturating_sub(1),
        megabytes: bytes as f64 / 1e6,
        seconds: started.elapsed().as_secs_f64(),
        added_rss_mb: peak_rss_mb() - before,
        added_heap_mb: heap::peak().saturating_sub(heap_before) as f64 / 1e6,
    })
}

impl Report {
    /// The figures as a table, for the terminal and docs/performance.md.
    pub fn table(&self) -> String {
        let mut out = format!(
            "cs-kpi-bench: {} accounts, {} months, {}\n\n| scenario | figure |\n|---|---|\n",
            self.accounts, self.months, self.backend
        );
        let i = &self.ingest;
        out.push_str(&format!(
            "| ingest | {:.0} rows/s ({} rows in {:.1} s); re-push of {} unchanged rows: {:.0} rows/s |\n",
            i.rows_per_second, i.rows, i.seconds, i.repush_rows, i.repush_rows_per_second
        ));
        for m in &i.by_mutation {
            out.push_str(&format!(
                "| ingest: {} | {:.0} rows/s ({} rows in {:.1} s) |\n",
                m.mutation, m.rows_per_second, m.rows, m.seconds
            ));
        }
        for s in &self.scenarios {
            out.push_str(&format!(
                "| {} | p50 {:.1} ms, p95 {:.1} ms ({} runs){} |\n",
                s.name,
                s.p50_ms,
                s.p95_ms,
                s.runs,
                cpu_note(s.cpu_ms)
            ));
        }
        let m = &self.mixed_load;
        out.push_str(&format!(
            "| mixed_load | {} clients, {:.0} s: {} requests ({:.1}/s), {} errors, mean {:.1} ms, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms{} |\n",
            m.clients,
            m.seconds,
            m.requests,
            m.requests_per_second,
            m.errors,
            m.mean_ms,
            m.p50_ms,
            m.p95_ms,
            m.p99_ms,
            cpu_note(m.cpu_ms_per_request)
        ));
        for s in &m.by_scenario {
            out.push_str(&format!(
                "| mixed_load: {} | {} requests, p50 {:.1} ms, p99 {:.1} ms |\n",
                s.name, s.requests, s.p50_ms, s.p99_ms
            ));
        }
        out.push_str(&format!(
            "| sql_floor | p50 {:.1} ms, p95 {:.1} ms; portfolio_dashboard / sql_floor = {:.2}; movements match: {} |\n",
            self.sql_floor.p50_ms, self.sql_floor.p95_ms, self.portfolio_to_floor, self.movements_match_floor
        ));
        let e = &self.export;
        out.push_str(&format!(
            "| export | accounts.csv: {} rows, {:.1} MB in {:.1} s; resident memory grew {:.1} MB, live heap at most {:.1} MB |\n",
            e.rows, e.megabytes, e.seconds, e.added_rss_mb, e.added_heap_mb
        ));
        out.push_str(&format!("| peak RSS | {:.0} MB |\n", self.peak_rss_mb));
        if let Some(soak) = &self.soak {
            out.push_str(&format!(
                "\nSoak ({} minutes, {:.1} with the rebuild; ledger equals a rebuild at the end: {})\n\n| minute | reads | errors | p50 ms | p99 ms | rows pushed | RSS MB |\n|---|---|---|---|---|---|---|\n",
                soak.minutes.len(),
                soak.seconds / 60.0,
                soak.ledger_matches_rebuild
            ));
            for m in &soak.minutes {
                out.push_str(&format!(
                    "| {} | {} | {} | {:.1} | {:.1} | {} | {:.0} |\n",
                    m.minute, m.reads, m.errors, m.p50_ms, m.p99_ms, m.rows_pushed, m.rss_mb
                ));
            }
        }
        out.push_str(&format!(
            "\nThe performance issue's targets (set for 100,000 accounts; this run: {} accounts, {:.1} minutes)\n\n| target | measured | met |\n|---|---|---|\n",
            self.accounts,
            self.seconds / 60.0
        ));
        for v in self.targets() {
            out.push_str(&format!("| {} | {} | {} |\n", v.target, v.measured, if v.met { "yes" } else { "no" }));
        }
        out
    }

    /// The performance issue's targets, checked against this run.
    pub fn targets(&self) -> Vec<Verdict> {
        targets::verdicts(self)
    }

    /// The figures and the targets' verdicts.
    pub fn json(&self) -> Value {
        let mut out = serde_json::to_value(self).unwrap_or(Value::Null);
        out["targets"] = serde_json::to_value(self.targets()).unwrap_or(Value::Null);
        out
    }
}

/// "; the machine busy N ms a request", where the processor time was read.
fn cpu_note(cpu_ms: Option<f64>) -> String {
    cpu_ms.map(|ms| format!("; the machine busy {ms:.0} ms a request")).unwrap_or_default()
}

impl Stats {
    fn figures(&self, name: &'static str) -> ScenarioFigures {
        ScenarioFigures {
            name,
            runs: self.len(),
            p50_ms: self.p50(),
            p95_ms: self.percentile(0.95),
            cpu_ms: self.cpu_ms,
        }
    }
}
