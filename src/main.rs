use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system's allocator: a request allocates and frees many small values
/// (GraphQL values, rows, SQL values), and glibc's allocator was about a third of the server's
/// CPU in a bulk load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cs_kpi::cli::run(cs_kpi::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cs-kpi: {}", e.detail());
            std::process::ExitCode::FAILURE
        }
    }
}
