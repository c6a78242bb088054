//! What the service tells an operator (PRODUCT.md, "Running it"): the request id that ties a
//! request's log lines and `INTERNAL` errors together, and the metrics `/metrics` shows in the
//! Prometheus text format (through the `metrics` facade and `metrics-exporter-prometheus`).
//!
//! Metrics are recorded only once [`prometheus`] installed the recorder (`--metrics-listen`);
//! before, the `metrics` macros do nothing.
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Requests by `route`, `method` and `status`.
pub const HTTP_REQUESTS: &str = "http_requests_total";
/// Request durations (histogram) by `route`, `method` and `status`.
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
/// GraphQL operations by `type` (query, mutation) and `name` (see [`operation_name`]).
pub const GRAPHQL_OPERATIONS: &str = "graphql_operations_total";
/// GraphQL errors by `code`.
pub const GRAPHQL_ERRORS: &str = "graphql_errors_total";
/// Ingested rows by `kind` (the table) and `outcome` (created, updated, unchanged).
pub const INGESTED_ROWS: &str = "ingested_rows_total";
/// How long bringing the ledger up to date takes in a batch's transaction (histogram).
pub const LEDGER_APPLY: &str = "ledger_apply_seconds";
/// The database pool's connections by `state` (in_use, idle), read at each scrape.
pub const DB_CONNECTIONS: &str = "db_pool_connections";
/// Reading requests waiting for a turn (`MAX_CONCURRENT_READS`), read at each scrape.
pub const READS_WAITING: &str = "graphql_reads_waiting";

/// The buckets of the duration histograms, in seconds.
const DURATION_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The most distinct operation names labelled by name; later ones are `other`, so that clients
/// cannot grow the metrics without bound.
pub const MAX_OPERATION_NAMES: usize = 100;

tokio::task_local! {
    /// The id of the request being served (its `x-request-id`).
    pub static REQUEST_ID: String;
}

/// The id of the request this task serves, if any.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A client's `x-request-id` when it is one (1 to 128 visible ASCII characters), else a new one.
pub fn request_id_from(header: Option<&str>) -> String {
    match header {
        Some(id) if (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) => id.to_owned(),
        _ => format!("{:016x}", rand::random::<u64>()),
    }
}

/// The label of an operation name: the name among the first [`MAX_OPERATION_NAMES`] seen,
/// `anonymous` without one, `other` past the cap.
pub fn operation_name(name: Option<&str>) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let Some(name) = name else { return "anonymous".to_owned() };
    let mut seen = SEEN.get_or_init(Mutex::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen.contains(name) || (seen.len() < MAX_OPERATION_NAMES && seen.insert(name.to_owned())) {
        name.to_owned()
    } else {
        "other".to_owned()
    }
}

/// The process's Prometheus recorder, installed the first time it is asked for (one per
/// process: every server of a test process shares it).
pub fn prometheus() -> Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&DURATION_BUCKETS)
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())
        })
        .clone()
}
