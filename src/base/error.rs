//! One error type for the whole service, mapped to a stable `extensions.code`.
//!
//! Internal errors are logged with their detail and a correlation id; the client gets only
//! `INTERNAL` and that id.
use async_graphql::ErrorExtensions;

/// The `extensions.code` values of PRODUCT.md ("Errors").
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const CONFLICT: &str = "CONFLICT";
    pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    pub const INTERNAL: &str = "INTERNAL";
}

/// Deliberately not `Display`: async-graphql converts any `Display` error into an error without
/// a code, so `?` must go through the `From` impl below.
#[derive(Debug, Clone)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    NotFound(String),
    /// A row of a batch names a record the caller may not see.
    NotFoundAt {
        message: String,
        row: usize,
        field: String,
    },
    BadInput {
        message: String,
        row: Option<usize>,
        field: Option<String>,
    },
    Conflict(String),
    /// Refused for its cost: too large, too deep, or over a time limit.
    TooComplex(String),
    /// The database cannot be reached (stopped, or the connection cut): retry shortly.
    Unavailable(String),
    /// Over the caller's budget (see `auth::budget`); it would pass after `retry_after_seconds`.
    RateLimited {
        message: String,
        retry_after_seconds: u64,
    },
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn forbidden(msg: impl Into<String>) -> Self {
        AppError::Forbidden(msg.into())
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        AppError::NotFound(msg.into())
    }

    /// The database cannot be reached.
    pub fn unavailable() -> Self {
        AppError::Unavailable("the database is unavailable; retry in a moment".into())
    }

    pub fn bad_input(msg: impl Into<String>) -> Self {
        AppError::BadInput { message: msg.into(), row: None, field: None }
    }

    /// An invalid value of `field`, at `row` of a batch when it comes from one.
    pub fn invalid(row: Option<usize>, field: &str, msg: impl Into<String>) -> Self {
        AppError::BadInput { message: msg.into(), row, field: Some(field.to_owned()) }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        AppError::Internal(detail.to_string())
    }

    /// The message a client (or the command line) sees; an internal error shows no detail.
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated(reason) => format!("authentication required: {reason}"),
            AppError::Forbidden(m)
            | AppError::NotFound(m)
            | AppError::Conflict(m)
            | AppError::TooComplex(m)
            | AppError::Unavailable(m) => m.clone(),
            AppError::BadInput { message, .. }
            | AppError::NotFoundAt { message, .. }
            | AppError::RateLimited { message, .. } => message.clone(),
            AppError::Internal(_) => "internal error".to_owned(),
        }
    }

    /// The message with the internal detail, for logs and the command line only.
    pub fn detail(&self) -> String {
        match self {
            AppError::Internal(detail) => format!("internal error: {detail}"),
            other => other.message(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => code::UNAUTHENTICATED,
            AppError::Forbidden(_) => code::FORBIDDEN,
            AppError::NotFound(_) | AppError::NotFoundAt { .. } => code::NOT_FOUND,
            AppError::BadInput { .. } => code::BAD_USER_INPUT,
            AppError::Conflict(_) => code::CONFLICT,
            AppError::TooComplex(_) => code::QUERY_TOO_COMPLEX,
            AppError::RateLimited { .. } => code::RATE_LIMITED,
            AppError::Unavailable(_) => code::UNAVAILABLE,
            AppError::Internal(_) => code::INTERNAL,
        }
    }
}

/// What a database error means for the client. Only the outcome of a race (a concurrent writer,
/// a lock wait that gave up) or of a time limit is the client's business; anything else is
/// `INTERNAL`, its detail for the log only.
impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        if connection_lost(&e) {
            tracing::warn!(error = %e, "the database is unreachable");
            return AppError::unavailable();
        }
        match database_error_code(&e).as_deref() {
            // Unique violations (PostgreSQL; SQLite primary key and unique index), serialization
            // failures and deadlocks (PostgreSQL), busy or locked database (SQLite).
            Some("23505" | "1555" | "2067" | "40001" | "40P01" | "5" | "6" | "261" | "517") => {
                tracing::warn!(error = %e, "write conflict");
                AppError::Conflict("a concurrent request changed the same data; retry the request".into())
            }
            // PostgreSQL `query_canceled`: the statement timeout.
            Some("57014") => {
                tracing::warn!(error = %e, "statement timeout");
                AppError::TooComplex("the query took longer than the database allows; narrow it".into())
            }
            _ => AppError::Internal(format!("database: {e}")),
        }
    }
}

/// Whether an error says the database cannot be reached, rather than anything about the
/// statement: no connection within the pool's wait, a connection lost (I/O), or PostgreSQL
/// shutting down or refusing connections (SQLSTATE class 08, 57P01-57P03).
fn connection_lost(e: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error;
    use sea_orm::{DbErr, RuntimeErr};
    match e {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => match &**e {
            Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
            Error::Database(db) => {
                db.code().is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03"))
            }
            _ => false,
        },
        _ => false,
    }
}

/// The SQLSTATE (PostgreSQL) or extended result code (SQLite) of a database error.
fn database_error_code(e: &sea_orm::DbErr) -> Option<String> {
    use sea_orm::{DbErr, RuntimeErr};
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => match &**e {
            sea_orm::sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// The id that ties a client-facing `INTERNAL` error to its log line: the request's
/// `x-request-id` (see `telemetry`), or a fresh one outside a request.
pub fn correlation_id() -> String {
    super::telemetry::request_id().unwrap_or_else(|| super::telemetry::request_id_from(None))
}

/// All a client learns of an internal error: that it happened, and the id of its log line.
pub fn internal_message(correlation_id: &str) -> String {
    format!("internal error (correlation id {correlation_id})")
}

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        let code = e.code();
        match e {
            AppError::Internal(detail) => {
                let id = correlation_id();
                tracing::error!(correlation_id = %id, %detail, "internal error");
                async_graphql::Error::new(internal_message(&id)).extend_with(|_, ext| {
                    ext.set("code", code);
                    ext.set("correlationId", id.clone());
                })
            }
            AppError::BadInput { message, row, field } => async_graphql::Error::new(message).extend_with(|_, ext| {
                ext.set("code", code);
                if let Some(row) = row {
                    ext.set("row", row as u64);
                }
                if let Some(field) = &field {
                    ext.set("field", field.as_str());
                }
            }),
            AppError::RateLimited { message, retry_after_seconds } => {
                async_graphql::Error::new(message).extend_with(|_, ext| {
                    ext.set("code", code);
                    ext.set("retryAfter", retry_after_seconds);
                })
            }
            AppError::NotFoundAt { message, row, field } => async_graphql::Error::new(message).extend_with(|_, ext| {
                ext.set("code", code);
                ext.set("row", row as u64);
                ext.set("field", field.as_str());
            }),
            other => async_graphql::Error::new(other.message()).extend_with(|_, ext| ext.set("code", code)),
        }
    }
}
