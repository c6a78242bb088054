//! Running GraphQL for an authenticated caller, the same way for every door that does
//! (`/graphql`, `/export`): a reading request takes a turn (at most the server's
//! `max_concurrent_reads` at once, first come first served) and is bounded by the request
//! timeout, its wait included; every error leaves with an `extensions.code`, and is counted by
//! it.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_graphql::{ErrorExtensionValues, ServerError};
use sea_orm::DatabaseConnection;
use tokio::sync::Semaphore;

use crate::base::error::{AppError, code, correlation_id, internal_message};
use crate::base::telemetry;

/// The turns of the reading requests.
pub struct ReadTurns {
    turns: Semaphore,
    /// Reads waiting for a turn (the `/metrics` gauge).
    waiting: AtomicUsize,
}

impl ReadTurns {
    /// `at_once` reads at a time (at least one).
    pub fn new(at_once: usize) -> Self {
        ReadTurns { turns: Semaphore::new(at_once.max(1)), waiting: AtomicUsize::new(0) }
    }

    /// Reads waiting for a turn now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Runs `read` in its turn, or the `QUERY_TOO_COMPLEX` error that says the wait and the read
    /// together took longer than `timeout`.
    pub async fn run<T>(&self, timeout: Duration, read: impl Future<Output = T>) -> Result<T, AppError> {
        let in_turn = async {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            let turn = self.turns.acquire().await;
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            let _turn = turn;
            read.await
        };
        tokio::time::timeout(timeout, in_turn).await.map_err(|_| {
            tracing::warn!(?timeout, "request timed out");
            AppError::TooComplex(format!(
                "the query did not finish within {} ms, its wait behind other queries included; narrow it or retry",
                timeout.as_millis()
            ))
        })
    }
}

/// How async-graphql words a refusal by one of the schema's limits (complexity, depth, recursion
/// in the parser and in fragments, directives per field).
const LIMIT_MESSAGES: &[&str] =
    &["too complex", "nested too deep", "recursion depth", "recursion limit", "number of directives"];

/// Gives every error an `extensions.code` and counts it by code. Errors of ours carry one
/// already; the rest come from parsing and validating the request (`BAD_USER_INPUT`, or
/// `QUERY_TOO_COMPLEX` for the limits), except an uncoded error inside a resolver, which is
/// masked as `INTERNAL`.
pub fn ensure_code(error: &mut ServerError) {
    let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        let message = error.message.to_lowercase();
        if LIMIT_MESSAGES.iter().any(|m| message.contains(m)) {
            extensions.set("code", code::QUERY_TOO_COMPLEX);
        } else if !error.path.is_empty()
            && !message.starts_with("failed to parse")
            && !message.starts_with("invalid value")
        {
            let id = correlation_id();
            tracing::error!(correlation_id = %id, detail = %error.message, "uncoded resolver error");
            error.message = internal_message(&id);
            extensions.set("code", code::INTERNAL);
            extensions.set("correlationId", id);
        } else {
            extensions.set("code", code::BAD_USER_INPUT);
        }
    }
    metrics::counter!(telemetry::GRAPHQL_ERRORS, "code" => error_code(error)).increment(1);
}

/// An error's `extensions.code` (after [`ensure_code`]).
pub fn error_code(error: &ServerError) -> String {
    error
        .extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .map_or_else(|| "NONE".to_owned(), |c| c.to_string().trim_matches('"').to_owned())
}

/// Whether the database answers. Once a request finds it unreachable (`UNAVAILABLE`), the
/// others are answered `UNAVAILABLE` at once instead of each waiting for a connection, and a
/// probe pings it until it answers again; then requests run as before, with no restart.
#[derive(Default)]
pub struct Availability {
    down: AtomicBool,
}

/// How often the probe pings an unreachable database, and how long it waits for an answer.
const PROBE_EVERY: Duration = Duration::from_millis(250);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

impl Availability {
    /// Whether the database is known to be unreachable now.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Records that a request found the database unreachable, and starts the probe (one at a
    /// time) that notices its return.
    pub fn lost(self: &Arc<Self>, db: &DatabaseConnection) {
        if self.down.swap(true, Ordering::Relaxed) {
            return;
        }
        let (availability, db) = (self.clone(), db.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if matches!(tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await, Ok(Ok(()))) {
                    tracing::info!("the database answers again");
                    availability.down.store(false, Ordering::Relaxed);
                    return;
                }
            }
        });
    }

    /// Whether the database answers a ping now (for `/readyz`), bounded by the probe's wait.
    pub async fn answers(self: &Arc<Self>, db: &DatabaseConnection) -> bool {
        if self.is_down() {
            return false;
        }
        let answered = matches!(tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await, Ok(Ok(())));
        if !answered {
            self.lost(db);
        }
        answered
    }
}

/// Seconds a client should wait before retrying while the database is unreachable.
pub const RETRY_AFTER_OUTAGE_SECONDS: u64 = 1;
