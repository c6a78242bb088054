//! The `cs-kpi` command line: `serve` (the default), `migrate`, `seed --demo`, `user`, `token`
//! and `schema` (the benchmark is its own binary, `cs-kpi-bench`). Every subcommand honours `DATABASE_URL` and `JWT_SECRET`.
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};

use crate::api::org::{UserInput, upsert_user_directly};
use crate::auth::Role;
use crate::auth::jwks::{KeySetSource, RemoteKeys};
use crate::auth::jwt::JwtKeys;
use crate::base::error::AppError;
use crate::ingest::Batch;
use crate::server::{AppState, Limits, router, serve};

#[derive(Parser)]
#[command(name = "cs-kpi", version, about = "Customer-success KPIs over GraphQL")]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Settings shared by every subcommand, from flags or the environment.
#[derive(Args, Clone, Debug)]
pub struct Config {
    /// `sqlite://...` (embedded) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://cs-kpi.db?mode=rwc", global = true)]
    pub database_url: String,
    /// HS256 secret (at least 32 bytes) for verifying and minting tokens.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,
    /// RS256/ES256 public key: PEM text, or the path of a PEM file.
    #[arg(long, env = "JWT_PUBLIC_KEY", hide_env_values = true, global = true)]
    pub jwt_public_key: Option<String>,
    /// An identity provider's JSON Web Key Set URL: RS256, ES256 and EdDSA tokens by their `kid`.
    #[arg(long, env = "JWT_JWKS_URL", global = true)]
    pub jwt_jwks_url: Option<String>,
    /// An OpenID Connect issuer: its discovery document names the key set, and `iss` must equal it.
    #[arg(long, env = "OIDC_ISSUER", global = true)]
    pub oidc_issuer: Option<String>,
    /// The token claim that holds the user's email (`email` for most identity providers).
    #[arg(long, env = "JWT_IDENTITY_CLAIM", default_value = crate::auth::jwt::DEFAULT_IDENTITY_CLAIM, global = true)]
    pub jwt_identity_claim: String,
    /// Seconds between two scheduled refreshes of the identity provider's key set.
    #[arg(long, env = "JWT_JWKS_REFRESH_SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub jwt_jwks_refresh_seconds: u64,
    /// Required `iss` claim, when set.
    #[arg(long, env = "JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim, when set.
    #[arg(long, env = "JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,
    /// Seconds one SQL statement may run on PostgreSQL before it is cancelled (0: no limit).
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", default_value_t = 30, global = true)]
    pub statement_timeout: u64,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the GraphQL server (the default).
    Serve(ServeArgs),
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Load data: `--demo` loads the generated demo company.
    Seed {
        #[arg(long)]
        demo: bool,
    },
    /// Create or update a user (how the first ADMIN and INTEGRATION users come to exist).
    User {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// ADMIN, MANAGER, CSM, FINANCE or INTEGRATION.
        #[arg(long)]
        role: String,
        /// The name of an existing team.
        #[arg(long)]
        team: Option<String>,
    },
    /// Print a token for a user, signed with JWT_SECRET.
    Token {
        #[arg(long)]
        email: String,
        /// Lifetime: seconds, or a number with s, m, h or d.
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Write a consistent copy of the SQLite database to FILE (a new file), while the server
    /// runs; PostgreSQL: use pg_dump.
    Backup { file: std::path::PathBuf },
    /// Load a CSV file of one kind through the ingest rules, as the user EMAIL (INTEGRATION or
    /// ADMIN), in atomic batches of 1,000 rows; exits 1 when a row was refused.
    Import {
        kind: crate::import::ImportKind,
        file: std::path::PathBuf,
        /// The user the rows are written as.
        #[arg(long = "as", value_name = "EMAIL")]
        actor: String,
        /// Check every row and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `serve`'s flags (also what a bare `cs-kpi` runs with).
#[derive(Parser)]
pub struct ServeArgs {
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: Option<SocketAddr>,
    /// Development mode: generate a secret when none is configured and print a token per role.
    #[arg(long)]
    pub dev: bool,
    /// Load the demo company before serving.
    #[arg(long)]
    pub demo: bool,
    /// Seconds a query may run before it is cut short (`QUERY_TOO_COMPLEX`); mutations run to the end.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,
    /// Queries that run at once (default: twice the cores); the others wait their turn, in order.
    #[arg(long, env = "MAX_CONCURRENT_READS", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_reads: Option<u16>,
    /// Web origins whose pages may call the API from a browser, comma-separated and exact
    /// (`https://app.example.com`); none when unset.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,
    /// Serve `/metrics` (Prometheus text format, no token) on this address; off when unset.
    #[arg(long, env = "METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value_t = 20)]
    pub shutdown_grace: u64,
    /// Fair use: each user's budget of query cost and written rows, by role (`off` on a
    /// trusted network).
    #[arg(long, env = "RATE_LIMIT", default_value = "on")]
    pub rate_limit: RateLimit,
}

/// Whether fair-use budgets apply.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimit {
    On,
    Off,
}

impl Config {
    /// The configured verification keys; `None` when no mode is set, an error naming both when
    /// two are.
    pub fn jwt_keys(&self) -> Result<Option<JwtKeys>, AppError> {
        let (issuer, audience) = (self.jwt_issuer.clone(), self.jwt_audience.clone());
        let modes = [
            ("JWT_SECRET", self.jwt_secret.as_ref()),
            ("JWT_PUBLIC_KEY", self.jwt_public_key.as_ref()),
            ("JWT_JWKS_URL", self.jwt_jwks_url.as_ref()),
            ("OIDC_ISSUER", self.oidc_issuer.as_ref()),
        ];
        let set: Vec<(&str, &String)> = modes.into_iter().filter_map(|(name, value)| Some((name, value?))).collect();
        let keys = match set.as_slice() {
            [] => return Ok(None),
            [("JWT_SECRET", secret)] => JwtKeys::hs256(secret.as_bytes(), issuer, audience)?,
            [("JWT_PUBLIC_KEY", key)] => {
                let pem = if key.trim_start().starts_with("-----BEGIN") {
                    key.as_bytes().to_vec()
                } else {
                    std::fs::read(key)
                        .map_err(|e| AppError::bad_input(format!("cannot read JWT_PUBLIC_KEY file {key}: {e}")))?
                };
                JwtKeys::public_key(&pem, issuer, audience)?
            }
            [(mode, location)] => {
                let source = match *mode {
                    "JWT_JWKS_URL" => KeySetSource::Url((*location).clone()),
                    _ => KeySetSource::Issuer((*location).clone()),
                };
                let refresh = Duration::from_secs(self.jwt_jwks_refresh_seconds);
                JwtKeys::remote(RemoteKeys::new(source, refresh)?, issuer, audience)
            }
            [(first, _), (second, _), ..] => {
                return Err(AppError::bad_input(format!(
                    "{first} and {second} are both set: configure one way of verifying tokens"
                )));
            }
        };
        Ok(Some(keys.with_identity_claim(&self.jwt_identity_claim)))
    }
}

/// Parses a lifetime such as `3600`, `90s`, `30m`, `1h` or `7d` into seconds.
pub fn parse_ttl(text: &str) -> Result<u64, AppError> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().map_err(|_| AppError::bad_input(format!("bad ttl {text:?}")))?;
    let unit = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(AppError::bad_input(format!("bad ttl unit in {text:?}: use s, m, h or d"))),
    };
    Ok(n * unit)
}

fn user_error(e: impl std::fmt::Display) -> AppError {
    AppError::bad_input(e.to_string())
}

/// How far a subcommand brings the database before it runs.
#[derive(Clone, Copy)]
enum Preparation {
    /// Connects, nothing more (`token`).
    Connect,
    /// Connects and applies the migrations, so that a fresh database takes its first users
    /// (`user`); the ledger is left for `serve` or `migrate`.
    Migrate,
    /// Connects, migrates and brings the ledger up to date (`serve`, `migrate`, `seed`).
    Open,
}

async fn connect(config: &Config, preparation: Preparation) -> Result<DatabaseConnection, AppError> {
    let statement_timeout = Some(Duration::from_secs(config.statement_timeout)).filter(|t| !t.is_zero());
    let url = &config.database_url;
    let connected = match preparation {
        Preparation::Connect => crate::base::db::connect(url, statement_timeout).await,
        Preparation::Migrate => match crate::base::db::connect(url, statement_timeout).await {
            Ok(db) => crate::base::db::migrate(&db).await.map(|()| db),
            Err(e) => Err(e),
        },
        Preparation::Open => crate::startup::open_with(url, statement_timeout).await,
    };
    connected.map_err(|e| AppError::internal(format!("database {}: {e}", redact(url))))
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

pub async fn run(cli: Cli) -> Result<(), AppError> {
    let config = cli.config;
    match cli.command {
        None => run_server(&config, ServeArgs::parse_from(["serve"])).await,
        Some(Command::Serve(args)) => run_server(&config, args).await,
        Some(Command::Migrate) => {
            connect(&config, Preparation::Open).await?;
            println!("migrations applied; the ledger is up to date");
            Ok(())
        }
        Some(Command::Seed { demo }) => {
            if !demo {
                return Err(AppError::bad_input("nothing to seed: pass --demo"));
            }
            let db = connect(&config, Preparation::Open).await?;
            let summary = crate::demo::seed(&db).await?;
            println!("{summary}");
            Ok(())
        }
        Some(Command::User { email, name, role, team }) => {
            let role =
                Role::from_db(&role.to_uppercase()).ok_or_else(|| user_error(format!("unknown role {role:?}")))?;
            let db = connect(&config, Preparation::Migrate).await?;
            let result = upsert_user_directly(
                Batch::command_line(&db, "cli user").await?,
                UserInput { email: email.clone(), name, role, team_name: team },
            )
            .await?;
            let outcome = if result.created > 0 {
                "created"
            } else if result.updated > 0 {
                "updated"
            } else {
                "unchanged"
            };
            println!("user {email}: {outcome}");
            Ok(())
        }
        Some(Command::Token { email, ttl }) => {
            let keys = config.jwt_keys()?.ok_or_else(|| user_error("JWT_SECRET is not set"))?;
            let db = connect(&config, Preparation::Connect).await?;
            crate::auth::Caller::load(&db, &email).await.map_err(|_| user_error(format!("no user {email}")))?;
            println!("{}", keys.mint(&email, parse_ttl(&ttl)?)?);
            Ok(())
        }
        Some(Command::Schema) => {
            print!("{}", crate::api::schema::sdl());
            Ok(())
        }
        Some(Command::Backup { file }) => {
            let db = connect(&config, Preparation::Connect).await?;
            crate::backup::backup(&db, &file).await?;
            println!("{}: a copy of the database", file.display());
            Ok(())
        }
        Some(Command::Import { kind, file, actor, dry_run }) => {
            let db = connect(&config, Preparation::Open).await?;
            let caller =
                crate::auth::Caller::load(&db, &actor).await.map_err(|_| user_error(format!("no user {actor}")))?;
            caller.require(&[Role::Integration, Role::Admin], "import files")?;
            let report = crate::import::import(&db, kind, &file, &actor, dry_run).await?;
            for refused in &report.refused {
                eprintln!("{refused}");
            }
            let verb = if dry_run { "checked (nothing written)" } else { "imported" };
            println!(
                "{}: {} rows {verb}: {} created, {} updated, {} unchanged; {} refused",
                file.display(),
                report.rows,
                report.created,
                report.updated,
                report.unchanged,
                report.refused.len()
            );
            match report.refused.is_empty() {
                true => Ok(()),
                false => Err(user_error(format!("{} rows of {} were refused", report.refused.len(), file.display()))),
            }
        }
    }
}

async fn run_server(config: &Config, args: ServeArgs) -> Result<(), AppError> {
    let keys = match (config.jwt_keys()?, args.dev) {
        (Some(keys), _) => keys,
        (None, true) => {
            let secret: String = (0..48).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
            JwtKeys::hs256(secret.as_bytes(), config.jwt_issuer.clone(), config.jwt_audience.clone())?
        }
        (None, false) => {
            return Err(user_error("set JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL or OIDC_ISSUER (or pass --dev)"));
        }
    };
    let db = connect(config, Preparation::Open).await?;
    if args.demo {
        let summary = crate::demo::seed(&db).await?;
        tracing::info!("{summary}");
    }
    if args.dev {
        print_dev_tokens(&db, &keys).await?;
    }
    let listen = args.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| user_error(format!("cannot listen on {listen}: {e}")))?;
    tracing::info!("cs-kpi listening on http://{listen}/graphql");
    let limits = Limits {
        request_timeout: Duration::from_secs(args.request_timeout),
        max_concurrent_reads: args
            .max_concurrent_reads
            .map_or_else(crate::server::default_concurrent_reads, usize::from),
        ..Limits::default()
    };
    let budgets = match args.rate_limit {
        RateLimit::On => Some(crate::auth::budget::Budgets::new(crate::auth::budget::default_budget)),
        RateLimit::Off => None,
    };
    let state = AppState::with_limits(db.clone(), keys, limits, args.dev)
        .with_cors_origins(&args.cors_allowed_origins)?
        .with_budgets(budgets);
    if let Some(address) = args.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| user_error(format!("cannot listen on {address} for metrics: {e}")))?;
        let router = crate::server::metrics_router(state.clone())?;
        tracing::info!("metrics on http://{address}/metrics");
        tokio::spawn(async move { axum::serve(metrics, router).await });
    }
    let served = serve(listener, router(state), Duration::from_secs(args.shutdown_grace)).await;
    db.close().await?;
    tracing::info!("database pool closed; bye");
    served.map_err(AppError::internal)
}

/// Prints a ready-to-paste token (12 hours) for the first user of each role.
async fn print_dev_tokens(db: &DatabaseConnection, keys: &JwtKeys) -> Result<(), AppError> {
    let users = entity::user::Entity::find().order_by_asc(entity::user::Column::Email).all(db).await?;
    println!("Development tokens (valid 12 hours; header `Authorization: Bearer <token>`):");
    for role in [Role::Admin, Role::Manager, Role::Csm, Role::Finance, Role::Integration] {
        match users.iter().find(|u| u.role == role.as_db()) {
            Some(user) => println!("  {:<11} {:<28} {}", role.as_db(), user.email, keys.mint(&user.email, 12 * 3600)?),
            None => {
                println!("  {:<11} (no user with this role: add one with `cs-kpi user` or use --demo)", role.as_db())
            }
        }
    }
    Ok(())
}
