//! `cs-kpi-bench`: the benchmark's command line (see the crate's library and docs/performance.md).
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cs_kpi_bench::{BenchConfig, Company, default_writers, run};
use tracing_subscriber::EnvFilter;

/// The server's allocator (see the `cs-kpi` binary), so that the figures are the server's,
/// counting what it holds (see `heap`).
#[global_allocator]
static GLOBAL: cs_kpi_bench::heap::Counting<mimalloc::MiMalloc> = cs_kpi_bench::heap::Counting(mimalloc::MiMalloc);

/// Loads a synthetic company into DATABASE_URL (an empty database) and measures the scenarios
/// of the performance issue; prints a table and writes the figures as JSON.
#[derive(Parser)]
#[command(name = "cs-kpi-bench", version, about = "Benchmark of cs-kpi on a synthetic company")]
struct Args {
    /// `sqlite://...` or `postgres://...`, holding no accounts yet.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://cs-kpi-bench.db?mode=rwc")]
    database_url: String,
    #[arg(long, default_value_t = 100_000)]
    accounts: usize,
    #[arg(long, default_value_t = 36)]
    months: u32,
    /// Timed runs of each scenario, after the warm-up runs.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Concurrent clients of the mixed load, and its duration in seconds.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    #[arg(long, default_value_t = 30)]
    mixed_seconds: u64,
    /// Push the accounts and their records one kind per request (`upsertAccounts`,
    /// `recordTickets`, ...) instead of every kind of a group of accounts per `ingest` request.
    #[arg(long)]
    per_kind: bool,
    /// `ingest` requests under way at once during the load, as integrations pushing at once
    /// (default: 4 on PostgreSQL, 2 on SQLite).
    #[arg(long)]
    writers: Option<usize>,
    /// Where the figures go as JSON.
    /// Minutes of soak after the other scenarios: dashboards read while integrations re-push
    /// changed records, figures per minute, the ledger compared with a rebuild at the end.
    #[arg(long, default_value_t = 0)]
    soak_minutes: u64,
    #[arg(long, default_value = "bench-results.json")]
    out: std::path::PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if args.months < 24 {
        eprintln!("cs-kpi-bench: --months must be at least 24 (the dashboards cover 24 months)");
        return ExitCode::FAILURE;
    }
    let bench = BenchConfig {
        company: Company { accounts: args.accounts, months: args.months },
        runs: args.runs.max(1),
        warmup: args.warmup,
        clients: args.clients.max(1),
        mixed_load: Duration::from_secs(args.mixed_seconds),
        per_kind: args.per_kind,
        writers: args.writers.unwrap_or_else(|| default_writers(&args.database_url)),
        soak: (args.soak_minutes > 0).then(|| Duration::from_secs(60 * args.soak_minutes)),
    };
    let report = match run(&args.database_url, &bench).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("cs-kpi-bench: {}", e.detail());
            return ExitCode::FAILURE;
        }
    };
    println!("{}", report.table());
    let written = serde_json::to_string_pretty(&report.json())
        .map_err(|e| e.to_string())
        .and_then(|json| std::fs::write(&args.out, json).map_err(|e| e.to_string()));
    match written {
        Ok(()) => {
            println!("figures written to {}", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cs-kpi-bench: cannot write {}: {e}", args.out.display());
            ExitCode::FAILURE
        }
    }
}
