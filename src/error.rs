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
    pub const INTERNAL: &str = "INTERNAL";
}

/// Deliberately not `Display`: async-graphql converts any `Display` error into an error without
/// a code, so `?` must go through the `From` impl below.
#[derive(Debug, Clone)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    NotFound(String),
    BadInput { message: String, row: Option<usize>, field: Option<String> },
    Conflict(String),
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
            AppError::Forbidden(m) | AppError::NotFound(m) | AppError::Conflict(m) => m.clone(),
            AppError::BadInput { message, .. } => message.clone(),
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
            AppError::NotFound(_) => code::NOT_FOUND,
            AppError::BadInput { .. } => code::BAD_USER_INPUT,
            AppError::Conflict(_) => code::CONFLICT,
            AppError::Internal(_) => code::INTERNAL,
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        AppError::Internal(format!("database: {e}"))
    }
}

/// A fresh id that ties a client-facing `INTERNAL` error to its log line.
pub fn correlation_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        let code = e.code();
        match e {
            AppError::Internal(detail) => {
                let id = correlation_id();
                tracing::error!(correlation_id = %id, %detail, "internal error");
                async_graphql::Error::new(format!("internal error (correlation id {id})")).extend_with(|_, ext| {
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
            other => async_graphql::Error::new(other.message()).extend_with(|_, ext| ext.set("code", code)),
        }
    }
}
