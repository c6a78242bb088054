//! The HTTP surface: `POST /graphql` (authenticated), GraphiQL on `GET /graphql`, `/healthz`
//! and `/readyz`.
use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql::{BatchResponse, ErrorExtensionValues, ServerError};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::auth::Caller;
use crate::auth::jwt::JwtKeys;
use crate::error::{AppError, code, correlation_id};
use crate::loaders::Loaders;
use crate::schema::{CsKpiSchema, schema_builder};

/// The largest request body accepted (a batch of 5,000 rows fits comfortably).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: CsKpiSchema,
    pub keys: Arc<JwtKeys>,
}

impl AppState {
    pub fn new(db: DatabaseConnection, keys: JwtKeys) -> Self {
        let schema = schema_builder().data(db.clone()).finish();
        AppState { db, schema, keys: Arc::new(keys) }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").title("cs-kpi").finish())
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database not reachable").into_response()
        }
    }
}

/// An error response outside GraphQL execution (authentication).
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] }))).into_response()
}

/// The caller a bearer token names, or why there is none.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, AppError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| AppError::Unauthenticated("a bearer token is required".into()))?;
    let email = state.keys.verify(token.trim())?;
    Caller::load(&state.db, &email).await
}

async fn graphql(State(state): State<AppState>, headers: HeaderMap, request: GraphQLBatchRequest) -> Response {
    let caller = match authenticate(&state, &headers).await {
        Ok(caller) => caller,
        Err(AppError::Unauthenticated(reason)) => {
            tracing::debug!(%reason, "unauthenticated request");
            return error_response(
                StatusCode::UNAUTHORIZED,
                code::UNAUTHENTICATED,
                &format!("authentication required: {reason}"),
            );
        }
        Err(other) => {
            let id = correlation_id();
            tracing::error!(correlation_id = %id, error = %other.detail(), "authentication failed");
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                &format!("internal error (correlation id {id})"),
            );
        }
    };
    let request = request.into_inner().data(caller).data(Loaders::new(&state.db));
    let mut response = state.schema.execute_batch(request).await;
    match &mut response {
        BatchResponse::Single(r) => r.errors.iter_mut().for_each(ensure_code),
        BatchResponse::Batch(rs) => rs.iter_mut().flat_map(|r| r.errors.iter_mut()).for_each(ensure_code),
    }
    GraphQLResponse::from(response).into_response()
}

/// Gives every error an `extensions.code`. Errors of ours carry one already; the rest come from
/// parsing and validating the request (`BAD_USER_INPUT`, or `QUERY_TOO_COMPLEX` for the limits),
/// except an uncoded error inside a resolver, which is masked as `INTERNAL`.
fn ensure_code(error: &mut ServerError) {
    let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_some() {
        return;
    }
    let message = error.message.to_lowercase();
    let code = if message.contains("too complex") || message.contains("nested too deep") || message.contains("too deep")
    {
        code::QUERY_TOO_COMPLEX
    } else if !error.path.is_empty() && !message.starts_with("failed to parse") && !message.starts_with("invalid value")
    {
        let id = correlation_id();
        tracing::error!(correlation_id = %id, detail = %error.message, "uncoded resolver error");
        error.message = format!("internal error (correlation id {id})");
        code::INTERNAL
    } else {
        code::BAD_USER_INPUT
    };
    if let Some(extensions) = error.extensions.as_mut() {
        extensions.set("code", code);
    }
}

/// Serves `router` on `listener` until Ctrl-C or SIGTERM, letting in-flight requests finish.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
