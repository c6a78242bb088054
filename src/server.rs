//! The HTTP surface: `POST /graphql` (authenticated, JSON only), `GET /graphql` (queries only;
//! GraphiQL in development), `/healthz` and `/readyz`.
//!
//! Before a request reaches the schema it passes, in order: the CSRF rules (mutations only by
//! POST; POST only as `application/json`), authentication, the body-size limit, and the cap on
//! operations per batch. The schema then applies its own limits (depth, complexity, recursion,
//! directives) before any resolver runs, and the whole execution is bounded by a timeout.
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse};
use axum::body::Body;
use axum::extract::{MatchedPath, Path, Query, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::api::schema::{CsKpiSchema, schema_builder};
use crate::auth::Caller;
use crate::auth::budget::{Budgets, default_budget};
use crate::auth::jwt::JwtKeys;
use crate::auth::scope::Database;
use crate::base::error::{AppError, code, correlation_id, internal_message};
use crate::base::telemetry;
use crate::execution::{Availability, RETRY_AFTER_OUTAGE_SECONDS, ReadTurns, ensure_code};
use crate::export::Exporter;
use crate::kpis::loaders::Loaders;

/// What one request may cost before any of it runs.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest request body (a batch of 5,000 ingest rows fits comfortably).
    pub max_body_bytes: usize,
    /// The most operations one batched request may carry.
    pub max_batch_operations: usize,
    /// How long a reading request (every operation of a batch) may run, its wait for a turn
    /// included; writes are not cut short.
    pub request_timeout: Duration,
    /// Reading requests that run at once; the others wait their turn, first come first served.
    /// KPI requests are CPU-bound in the database: past about twice the cores, more at once only
    /// share them (and the connection pool) more thinly, so every request takes longer.
    pub max_concurrent_reads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            max_batch_operations: 20,
            request_timeout: Duration::from_secs(30),
            max_concurrent_reads: default_concurrent_reads(),
        }
    }
}

/// Twice this machine's cores.
pub fn default_concurrent_reads() -> usize {
    2 * std::thread::available_parallelism().map_or(1, usize::from)
}

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: CsKpiSchema,
    pub keys: Arc<JwtKeys>,
    pub limits: Arc<Limits>,
    /// Development mode: GraphiQL is served without a token.
    pub dev: bool,
    /// Turns of [`Limits::max_concurrent_reads`].
    pub turns: Arc<ReadTurns>,
    /// The web origins whose pages may call the API (`CORS_ALLOWED_ORIGINS`); none by default.
    cors_origins: Arc<Vec<HeaderValue>>,
    /// Every user's fair-use buckets; `None` with `--rate-limit off`.
    pub budgets: Option<Arc<Budgets>>,
    /// Whether the database answers (see `execution::Availability`).
    pub availability: Arc<Availability>,
}

impl AppState {
    /// The production posture with the default limits.
    pub fn new(db: DatabaseConnection, keys: JwtKeys) -> Self {
        Self::with_limits(db, keys, Limits::default(), false)
    }

    /// With an identity provider's keys, starts the task that loads and refreshes them (it
    /// ends when the state is dropped).
    pub fn with_limits(db: DatabaseConnection, keys: JwtKeys, limits: Limits, dev: bool) -> Self {
        if let Some(remote) = keys.remote_keys() {
            crate::auth::jwks::RemoteKeys::keep_fresh(remote);
        }
        let schema = schema_builder().data(Database::new(db.clone())).finish();
        let turns = Arc::new(ReadTurns::new(limits.max_concurrent_reads));
        let cors_origins = Arc::default();
        let budgets = Some(Arc::new(Budgets::new(default_budget)));
        let availability = Arc::default();
        AppState {
            db,
            schema,
            keys: Arc::new(keys),
            limits: Arc::new(limits),
            dev,
            turns,
            cors_origins,
            budgets,
            availability,
        }
    }

    /// Fair use with these buckets (`Some`), or none at all (`--rate-limit off`).
    pub fn with_budgets(mut self, budgets: Option<Budgets>) -> Self {
        self.budgets = budgets.map(Arc::new);
        self
    }

    /// Lets pages of `origins` (each exactly `scheme://host[:port]`) call the API from a
    /// browser; `BAD_USER_INPUT` naming an origin that is not one.
    pub fn with_cors_origins(mut self, origins: &[String]) -> Result<Self, AppError> {
        let parsed = origins
            .iter()
            .map(|origin| {
                let refuse = || {
                    AppError::bad_input(format!(
                        "CORS_ALLOWED_ORIGINS: {origin:?} is not an origin such as https://app.example.com"
                    ))
                };
                let (scheme, rest) = origin.split_once("://").ok_or_else(refuse)?;
                let exact =
                    matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(['/', '*', '?', '#', ' ']);
                if !exact {
                    return Err(refuse());
                }
                HeaderValue::from_str(origin).map_err(|_| refuse())
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.cors_origins = Arc::new(parsed);
        Ok(self)
    }
}

pub fn router(state: AppState) -> Router {
    let cors = cors(&state.cors_origins);
    let router = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/export/{file}", get(export))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route_layer(from_fn(observe))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
        .with_state(state);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// How long a browser may cache a preflight's answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS rules (PRODUCT.md, "Browsers"): pages of the allowed origins, exactly, may send
/// GraphQL requests with a bearer token and read `x-request-id`; a preflight from another
/// origin gets no CORS header, so its browser blocks the call. No cookies are involved (the
/// token travels in `Authorization`), so credentials stay off.
fn cors(origins: &[HeaderValue]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let request_id = header::HeaderName::from_static("x-request-id");
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT, request_id.clone()])
            .expose_headers([request_id])
            .max_age(CORS_MAX_AGE),
    )
}

/// The request's id (its `x-request-id`, or a new one), returned on the response and used as
/// the correlation id of its log lines and `INTERNAL` errors; and its count and duration by
/// route, method and status.
async fn observe(request: Request, next: Next) -> Response {
    let id = telemetry::request_id_from(request.headers().get("x-request-id").and_then(|v| v.to_str().ok()));
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = request.method().to_string();
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %id);
    let mut response =
        telemetry::REQUEST_ID.scope(id.clone(), tracing::Instrument::instrument(next.run(request), span)).await;
    let labels = [("route", route), ("method", method), ("status", response.status().as_u16().to_string())];
    metrics::counter!(telemetry::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(telemetry::HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The router of the metrics listener (`--metrics-listen`): `GET /metrics` in the Prometheus
/// text format, the pool's connections and the waiting reads read at each scrape.
pub fn metrics_router(state: AppState) -> Result<Router, AppError> {
    let handle = telemetry::prometheus().map_err(|e| AppError::internal(format!("metrics recorder: {e}")))?;
    let scrape = move |State(state): State<AppState>| {
        let handle = handle.clone();
        async move {
            let (in_use, idle) = pool_connections(&state.db);
            metrics::gauge!(telemetry::DB_CONNECTIONS, "state" => "in_use").set(in_use as f64);
            metrics::gauge!(telemetry::DB_CONNECTIONS, "state" => "idle").set(idle as f64);
            metrics::gauge!(telemetry::READS_WAITING).set(state.turns.waiting() as f64);
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
        }
    };
    Ok(Router::new().route("/metrics", get(scrape)).with_state(state))
}

/// The pool's connections in use and idle.
fn pool_connections(db: &DatabaseConnection) -> (usize, usize) {
    let (size, idle) = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size() as usize, pool.num_idle())
        }
        sea_orm::DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size() as usize, pool.num_idle())
        }
        _ => (0, 0),
    };
    (size.saturating_sub(idle), idle)
}

/// A bug that panics in a request answers that request `INTERNAL` (the detail goes to the log)
/// instead of dropping the connection; the server carries on.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    let id = correlation_id();
    tracing::error!(correlation_id = %id, %detail, "request panicked");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL, &internal_message(&id))
}

async fn readyz(State(state): State<AppState>) -> Response {
    if !state.keys.is_ready().await {
        return (StatusCode::SERVICE_UNAVAILABLE, "the identity provider's key set is not loaded yet").into_response();
    }
    if state.availability.answers(&state.db).await {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database not reachable").into_response()
    }
}

/// An error response outside GraphQL execution.
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] }))).into_response()
}

/// The response for a request refused before it ran.
fn refusal(status: StatusCode, error: &AppError) -> Response {
    error_response(status, error.code(), &error.message())
}

/// The answer while the database is unreachable: 503 `UNAVAILABLE`, retry in a moment.
fn outage() -> Response {
    let mut response = refusal(StatusCode::SERVICE_UNAVAILABLE, &AppError::unavailable());
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_OUTAGE_SECONDS));
    response
}

/// The caller a bearer token names, or the 401 (or masked 500) response that says why not.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
    let verified = async {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(|| AppError::Unauthenticated("a bearer token is required".into()))?;
        let email = state.keys.verify(token.trim()).await?;
        Caller::load(&state.db, &email).await
    };
    if state.availability.is_down() {
        return Err(outage());
    }
    verified.await.map_err(|error| match error {
        AppError::Unauthenticated(reason) => {
            tracing::debug!(%reason, "unauthenticated request");
            refusal(StatusCode::UNAUTHORIZED, &AppError::Unauthenticated(reason))
        }
        AppError::Unavailable(_) => {
            state.availability.lost(&state.db);
            outage()
        }
        other => {
            let id = correlation_id();
            tracing::error!(correlation_id = %id, error = %other.detail(), "authentication failed");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL, &internal_message(&id))
        }
    })
}

/// Whether a `Content-Type` header names JSON (`application/json`, any parameters).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// `POST /graphql`: one operation or a batch, as JSON.
///
/// Only `application/json` is accepted: a browser can send `text/plain`, form and multipart
/// bodies cross-site without a preflight, so refusing them closes that CSRF route.
async fn graphql_post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if !is_json(&headers) {
        let error = AppError::bad_input("POST /graphql takes a JSON body (Content-Type: application/json)");
        return refusal(StatusCode::UNSUPPORTED_MEDIA_TYPE, &error);
    }
    let caller = match authenticate(&state, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let limit = state.limits.max_body_bytes;
    let too_large = || {
        refusal(StatusCode::PAYLOAD_TOO_LARGE, &AppError::bad_input(format!("the request body exceeds {limit} bytes")))
    };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return too_large();
    }
    // A client trickling its body in is held to the request timeout as well.
    let bytes = match tokio::time::timeout(state.limits.request_timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body not read");
            return too_large();
        }
        Err(_) => {
            let error = AppError::bad_input("the request body did not arrive within the request timeout");
            return refusal(StatusCode::REQUEST_TIMEOUT, &error);
        }
    };
    // serde_json refuses nesting deeper than 128 levels, so deeply nested variables are refused here.
    let request: BatchRequest = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(e) => {
            let error = AppError::bad_input(format!("the body is not a GraphQL request: {e}"));
            return refusal(StatusCode::BAD_REQUEST, &error);
        }
    };
    execute(&state, caller, request, MediaType::of(&headers)).await
}

/// `GET /graphql`: a query in the URL (`?query=...&variables=...`), never a mutation; without
/// one, GraphiQL (for authenticated callers, or anyone in development mode).
async fn graphql_get(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let request = match query.as_deref().filter(|q| !q.is_empty()) {
        None => None,
        Some(query) => match async_graphql::http::parse_query_string(query) {
            Ok(request) if !request.query.is_empty() => Some(request),
            Ok(_) => None,
            Err(e) => return refusal(StatusCode::BAD_REQUEST, &AppError::bad_input(format!("bad query string: {e}"))),
        },
    };
    let Some(mut request) = request else {
        if !state.dev
            && let Err(response) = authenticate(&state, &headers).await
        {
            return response;
        }
        return Html(GraphiQLSource::build().endpoint("/graphql").title("cs-kpi").finish()).into_response();
    };
    if is_mutation(&mut request) {
        let error = AppError::bad_input("mutations must be sent with POST");
        let mut response = refusal(StatusCode::METHOD_NOT_ALLOWED, &error);
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    match authenticate(&state, &headers).await {
        Ok(caller) => execute(&state, caller, BatchRequest::Single(request), MediaType::of(&headers)).await,
        Err(response) => response,
    }
}

/// `GET /export/DATASET.FORMAT` (see the `export` module): the bearer token as for `/graphql`.
async fn export(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let caller = match authenticate(&state, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let exporter = Exporter {
        schema: state.schema.clone(),
        db: state.db.clone(),
        turns: state.turns.clone(),
        page_timeout: state.limits.request_timeout,
        budgets: state.budgets.clone(),
        availability: state.availability.clone(),
    };
    crate::export::export(exporter, caller, &file, params, &headers).await
}

/// Whether a request carries U+0000 in its document (raw or as a `\u0000` escape) or in a
/// variable: no stored text can hold one (PostgreSQL refuses it), so it is refused up front
/// rather than failing deep inside a resolver.
fn carries_nul(request: &async_graphql::Request) -> bool {
    fn in_value(value: &async_graphql::Value) -> bool {
        match value {
            async_graphql::Value::String(s) => s.contains('\0'),
            async_graphql::Value::List(items) => items.iter().any(in_value),
            async_graphql::Value::Object(fields) => fields.iter().any(|(name, v)| name.contains('\0') || in_value(v)),
            _ => false,
        }
    }
    request.query.contains('\0') || request.query.contains("\\u0000") || request.variables.values().any(in_value)
}

/// Whether a request's document holds a mutation. The parsed document stays in the request, so
/// execution does not parse it again; one that does not parse is left to execution, which
/// reports why.
/// Counts an operation by type and (bounded) name.
fn count_operation(request: &mut async_graphql::Request) {
    let wanted = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else { return };
    let operation =
        document.operations.iter().find(|(name, _)| wanted.is_none() || name.map(|n| n.as_str()) == wanted.as_deref());
    let Some((name, operation)) = operation else { return };
    let kind = match operation.node.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    let name = telemetry::operation_name(name.map(|n| n.as_str()));
    metrics::counter!(telemetry::GRAPHQL_OPERATIONS, "type" => kind, "name" => name).increment(1);
}

fn is_mutation(request: &mut async_graphql::Request) -> bool {
    request.parsed_query().is_ok_and(|doc| doc.operations.iter().any(|(_, op)| op.node.ty == OperationType::Mutation))
}

/// Runs an authenticated request within the batch cap and, unless it writes, the request
/// timeout. A write is never cut short: dropped while its COMMIT is in flight, it could have
/// committed after all, and the client would be told otherwise; its batch size (5,000 rows) and
/// the statement timeout bound it instead.
async fn execute(state: &AppState, caller: Caller, mut request: BatchRequest, media: MediaType) -> Response {
    let limits = &state.limits;
    if let BatchRequest::Batch(operations) = &request
        && operations.len() > limits.max_batch_operations
    {
        let error = AppError::TooComplex(format!(
            "a batch may carry at most {} operations, got {}",
            limits.max_batch_operations,
            operations.len()
        ));
        return refusal(StatusCode::BAD_REQUEST, &error);
    }
    if request.iter().any(carries_nul) {
        return refusal(StatusCode::BAD_REQUEST, &AppError::bad_input("text must not contain NUL characters (U+0000)"));
    }
    let writes = request.iter_mut().any(is_mutation);
    request.iter_mut().for_each(count_operation);
    let mut request = request.data(caller).data(Loaders::new(&state.db));
    if let Some(budgets) = &state.budgets {
        request = request.data(budgets.clone());
    }
    let run = state.schema.execute_batch(request);
    let mut response = if writes {
        run.await
    } else {
        match state.turns.run(limits.request_timeout, run).await {
            Ok(response) => response,
            Err(timed_out) => return refusal(StatusCode::OK, &timed_out),
        }
    };
    match &mut response {
        BatchResponse::Single(r) => r.errors.iter_mut().for_each(ensure_code),
        BatchResponse::Batch(rs) => rs.iter_mut().flat_map(|r| r.errors.iter_mut()).for_each(ensure_code),
    }
    let mut answer = media.respond(&response);
    retry_headers(state, &response, &mut answer);
    answer
}

/// What an answer tells a client about retrying: the fair-use headers (`RateLimit-Limit`,
/// `-Remaining`, `-Reset`: seconds until the bucket is full) from the charge it reports; 429
/// with `Retry-After` for a request over budget; 503 with `Retry-After` when the database was
/// out of reach (which the server then watches for its return).
fn retry_headers(state: &AppState, response: &BatchResponse, answer: &mut Response) {
    let responses: Vec<&async_graphql::Response> = match response {
        BatchResponse::Single(r) => vec![r],
        BatchResponse::Batch(rs) => rs.iter().collect(),
    };
    let errors = || responses.iter().flat_map(|r| &r.errors);
    let over_budget = errors()
        .filter(|e| crate::execution::error_code(e) == code::RATE_LIMITED)
        .filter_map(|e| e.extensions.as_ref()?.get("retryAfter")?.to_string().parse::<u64>().ok())
        .max();
    let outage = errors().any(|e| crate::execution::error_code(e) == code::UNAVAILABLE);
    let charged = responses.iter().rev().find_map(|r| {
        let extensions = serde_json::to_value(&r.extensions).ok()?;
        crate::api::fair_use::reported(extensions.get("cost")?)
    });
    let headers = answer.headers_mut();
    if let Some((limit, remaining, reset)) = charged {
        for (name, value) in
            [("ratelimit-limit", limit), ("ratelimit-remaining", remaining), ("ratelimit-reset", reset)]
        {
            headers.insert(name, HeaderValue::from(value));
        }
    }
    let retry = match (outage, over_budget) {
        (true, _) => {
            state.availability.lost(&state.db);
            Some((StatusCode::SERVICE_UNAVAILABLE, RETRY_AFTER_OUTAGE_SECONDS))
        }
        (false, Some(seconds)) => Some((StatusCode::TOO_MANY_REQUESTS, seconds)),
        (false, None) => None,
    };
    if let Some((status, seconds)) = retry {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        *answer.status_mut() = status;
    }
}

/// The media type of a GraphQL response (GraphQL over HTTP): what the request's `Accept` asks
/// for; `application/json` when it names neither type (or is missing, or `*/*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MediaType {
    Json,
    GraphqlResponse,
}

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

impl MediaType {
    /// The first of the two JSON types `Accept` lists (an item with `q=0` refuses its type).
    fn of(headers: &HeaderMap) -> MediaType {
        let items = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
        for item in items {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            if parts.any(|p| p.trim().replace(' ', "") == "q=0") {
                continue;
            }
            match name.as_str() {
                GRAPHQL_RESPONSE_JSON => return MediaType::GraphqlResponse,
                "application/json" => return MediaType::Json,
                _ => {}
            }
        }
        MediaType::Json
    }

    /// The response in this media type. Under `application/graphql-response+json`, a request
    /// that never ran (it did not parse or validate, or its variables did not coerce: every
    /// error without a path, no data) is a 400 without `data`; under `application/json` every
    /// answer is a 200, as clients of that type expect.
    fn respond(self, response: &BatchResponse) -> Response {
        let mut body = serde_json::to_value(response).unwrap_or_else(|_| json!({ "data": null }));
        match &mut body {
            serde_json::Value::Array(responses) => responses.iter_mut().for_each(null_at_error_paths),
            single => null_at_error_paths(single),
        }
        let not_run = match response {
            BatchResponse::Single(r) => {
                r.data == async_graphql::Value::Null
                    && !r.errors.is_empty()
                    && r.errors.iter().all(|e| e.path.is_empty())
            }
            BatchResponse::Batch(_) => false,
        };
        let (status, content_type) = match self {
            MediaType::GraphqlResponse if not_run => {
                if let Some(object) = body.as_object_mut() {
                    object.remove("data");
                }
                (StatusCode::BAD_REQUEST, GRAPHQL_RESPONSE_JSON)
            }
            MediaType::GraphqlResponse => (StatusCode::OK, GRAPHQL_RESPONSE_JSON),
            MediaType::Json => (StatusCode::OK, "application/json"),
        };
        (status, [(header::CONTENT_TYPE, content_type)], Json(body)).into_response()
    }
}

/// Puts `null` at the path of every field error whose field the response leaves out (a field
/// refused by its role guard inside a flattened object), so that `data` has the shape of the
/// query, as typed clients and their caches (Apollo, Relay) require.
fn null_at_error_paths(response: &mut serde_json::Value) {
    let paths: Vec<Vec<serde_json::Value>> =
        response["errors"].as_array().into_iter().flatten().filter_map(|e| e["path"].as_array().cloned()).collect();
    for path in paths {
        let Some((serde_json::Value::String(last), parents)) = path.split_last() else { continue };
        if let Some(serde_json::Value::Object(object)) = value_at(&mut response["data"], parents) {
            object.entry(last.clone()).or_insert(serde_json::Value::Null);
        }
    }
}

/// The value at `path` (object keys and list indexes) below `value`, if there is one.
fn value_at<'v>(value: &'v mut serde_json::Value, path: &[serde_json::Value]) -> Option<&'v mut serde_json::Value> {
    let Some((step, rest)) = path.split_first() else { return Some(value) };
    let next = match (step, value) {
        (serde_json::Value::String(key), serde_json::Value::Object(object)) => object.get_mut(key)?,
        (serde_json::Value::Number(index), serde_json::Value::Array(items)) => {
            items.get_mut(usize::try_from(index.as_u64()?).ok()?)?
        }
        _ => return None,
    };
    value_at(next, rest)
}

/// Serves `router` on `listener` until Ctrl-C or SIGTERM. Then it stops accepting connections
/// and lets the requests in flight finish, for at most `grace`; the caller closes the pool.
pub async fn serve(listener: tokio::net::TcpListener, router: Router, grace: Duration) -> std::io::Result<()> {
    let (stopping, mut stop) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown_signal().await;
        // The receiver lives as long as this function; nothing to do if it is gone.
        let _ = stopping.send(true);
    });
    let deadline = async move {
        if stop.wait_for(|stopping| *stopping).await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = server.into_future() => served,
        () = deadline => {
            tracing::warn!(?grace, "requests still in flight after the grace period; stopping anyway");
            Ok(())
        }
    }
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
