//! Shared test helpers: spawning the app on its own database, minting tokens, loading fixtures.
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use cs_kpi::api::org::{UserInput, upsert_user_directly};
use cs_kpi::auth::Role;
use cs_kpi::auth::jwt::JwtKeys;
use cs_kpi::ingest::Batch;
use cs_kpi::server::{AppState, Limits, router};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

pub const SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";

/// The sample company the tests load (a copy of shared/data/sample).
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn rows(name: &str) -> Vec<Value> {
    fixture(name).as_array().cloned().unwrap_or_else(|| panic!("{name} is not a list"))
}

/// The URL of a fresh database for one test: a new SQLite file, or a new PostgreSQL database on
/// the server `TEST_DATABASE_URL` points at.
pub async fn fresh_database_url() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let unique = format!("cskpi_t{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), rand_suffix());
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if base.starts_with("postgres") => {
            let admin = Database::connect(&base).await.expect("connect to TEST_DATABASE_URL");
            admin.execute_unprepared(&format!("CREATE DATABASE {unique}")).await.expect("create test database");
            admin.close().await.expect("close admin connection");
            let (server, _) = base.rsplit_once('/').expect("database url with a path");
            format!("{server}/{unique}")
        }
        _ => {
            let path = std::env::temp_dir().join(format!("{unique}.db"));
            format!("sqlite://{}?mode=rwc", path.display())
        }
    }
}

async fn fresh_database() -> DatabaseConnection {
    cs_kpi::startup::open(&fresh_database_url().await).await.expect("connect and migrate")
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}

pub struct TestApp {
    pub address: String,
    pub db: DatabaseConnection,
    /// SQL statements the app has run (sea-orm's metric callback).
    statements: Arc<AtomicU64>,
    pub keys: JwtKeys,
    /// The served state (for a metrics listener of a test's own).
    pub state: AppState,
    client: reqwest::Client,
}

/// The outcome of one GraphQL call.
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// `data`, after asserting there were no errors.
    pub fn data(&self) -> &Value {
        assert!(self.body.get("errors").is_none(), "unexpected errors: {}", self.body);
        &self.body["data"]
    }

    pub fn errors(&self) -> Vec<Value> {
        self.body["errors"].as_array().cloned().unwrap_or_default()
    }

    /// The codes of the errors, in order.
    pub fn codes(&self) -> Vec<String> {
        self.errors().iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("<none>").to_owned()).collect()
    }
}

impl TestApp {
    /// Starts the app with an HS256 secret on a fresh database.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(JwtKeys::hs256(SECRET.as_bytes(), None, None).expect("keys")).await
    }

    pub async fn spawn_with(keys: JwtKeys) -> TestApp {
        Self::spawn_configured(keys, Limits::default(), false).await
    }

    /// Starts the app letting pages of `origins` call it from a browser.
    pub async fn spawn_with_cors(keys: JwtKeys, origins: &[String]) -> TestApp {
        let allow = |state: AppState| state.with_cors_origins(origins).expect("origins");
        Self::spawn_shaped(keys, Limits::default(), false, allow).await
    }

    /// Starts the app with these fair-use buckets (none: `--rate-limit off`).
    pub async fn spawn_with_budgets(budgets: Option<cs_kpi::auth::budget::Budgets>) -> TestApp {
        let keys = JwtKeys::hs256(SECRET.as_bytes(), None, None).expect("keys");
        Self::spawn_shaped(keys, Limits::default(), false, |state| state.with_budgets(budgets)).await
    }

    /// Starts the app with its own limits and, with `dev`, in development mode.
    pub async fn spawn_configured(keys: JwtKeys, limits: Limits, dev: bool) -> TestApp {
        Self::spawn_shaped(keys, limits, dev, |state| state).await
    }

    /// Starts the app with an HS256 secret on the database at `url` (a restored backup).
    pub async fn spawn_on(url: &str) -> TestApp {
        let db = cs_kpi::startup::open(url).await.expect("open the database");
        let keys = JwtKeys::hs256(SECRET.as_bytes(), None, None).expect("keys");
        Self::serve(db, keys, Limits::default(), false, |state| state).await
    }

    /// Starts the app with the state `shape` makes of the default one.
    async fn spawn_shaped(
        keys: JwtKeys,
        limits: Limits,
        dev: bool,
        shape: impl FnOnce(AppState) -> AppState,
    ) -> TestApp {
        Self::serve(fresh_database().await, keys, limits, dev, shape).await
    }

    async fn serve(
        mut db: DatabaseConnection,
        keys: JwtKeys,
        limits: Limits,
        dev: bool,
        shape: impl FnOnce(AppState) -> AppState,
    ) -> TestApp {
        // The server's errors (an INTERNAL answer's detail) in the output of a failing test.
        let _ = tracing_subscriber::fmt().with_env_filter("error").with_test_writer().try_init();
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        let state = shape(AppState::with_limits(db.clone(), keys.clone(), limits, dev));
        let app = router(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        TestApp { address, db, statements, keys, state, client: reqwest::Client::new() }
    }

    /// Creates or updates a user through the command line's path.
    pub async fn user(&self, email: &str, role: Role, team: Option<&str>) {
        let input =
            UserInput { email: email.into(), name: format!("User {email}"), role, team_name: team.map(str::to_owned) };
        upsert_user_directly(Batch::command_line(&self.db, "cli user").await.expect("a batch"), input)
            .await
            .unwrap_or_else(|e| panic!("create {email}: {}", e.detail()));
    }

    /// How many SQL statements the app has run so far.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::SeqCst)
    }

    /// A token for `email`, valid for an hour.
    pub fn token(&self, email: &str) -> String {
        self.keys.mint(email, 3600).expect("mint")
    }

    pub async fn post(&self, token: Option<&str>, body: Value) -> Reply {
        let mut request = self.client.post(self.url("/graphql")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = self.send(request).await;
        assert!(!reply.body.is_string(), "a JSON body: {}", reply.body);
        reply
    }

    /// The app's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request to the app, for the tests that shape their own.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Sends a request; a body that is not JSON is kept as a JSON string.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body }
    }

    /// Asserts that `email` still gets a normal answer: the server survived what came before.
    pub async fn assert_still_answers(&self, email: &str) {
        let reply = self.gql(email, "{ me { email } }", json!({})).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.data()["me"]["email"], email);
    }

    /// Sends `body` as `email` and asserts it ran no SQL beyond authenticating the caller
    /// (measured against `{ __typename }`, which needs nothing else).
    pub async fn send_touching_no_table(&self, email: &str, body: Value) -> Reply {
        let token = self.token(email);
        let before = self.statements();
        self.post(Some(&token), json!({ "query": "{ __typename }" })).await.data();
        let authentication = self.statements() - before;
        let before = self.statements();
        let reply = self.post(Some(&token), body).await;
        assert_eq!(self.statements() - before, authentication, "statements beyond authentication: {}", reply.body);
        reply
    }

    /// Sends `query` as `email`: the status, headers and JSON body, for the tests that read
    /// the headers too.
    pub async fn ask(&self, email: &str, query: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let request = self.request(reqwest::Method::POST, "/graphql").bearer_auth(self.token(email));
        let response = request.json(&json!({ "query": query })).send().await.expect("the server answers");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, headers, response.json().await.expect("a JSON body"))
    }

    /// Runs `query` with `variables` as the user `email`.
    pub async fn gql(&self, email: &str, query: &str, variables: Value) -> Reply {
        self.post(Some(&self.token(email)), json!({ "query": query, "variables": variables })).await
    }

    /// Runs one ingest mutation as `email` and returns the reply.
    pub async fn ingest(&self, email: &str, mutation: &str, input_type: &str, rows: &[Value]) -> Reply {
        let query = format!(
            "mutation($input: [{input_type}!]!) {{ {mutation}(input: $input) {{ created updated unchanged }} }}"
        );
        self.gql(email, &query, json!({ "input": rows })).await
    }

    /// Runs one ingest mutation that must succeed, returning (created, updated, unchanged).
    pub async fn ingest_ok(&self, email: &str, mutation: &str, input_type: &str, rows: &[Value]) -> (i64, i64, i64) {
        let reply = self.ingest(email, mutation, input_type, rows).await;
        let counts = &reply.data()[mutation];
        (
            counts["created"].as_i64().unwrap_or(-1),
            counts["updated"].as_i64().unwrap_or(-1),
            counts["unchanged"].as_i64().unwrap_or(-1),
        )
    }

    /// Counts the rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("n")
    }
}

pub const ADMIN: &str = "admin@acme.example";
pub const INTEGRATION: &str = "integration@acme.example";

/// The ingest calls that load the sample, in the order PRODUCT.md prescribes (after the teams
/// and users): (file, mutation, input type, field of `IngestInput`).
pub const SAMPLE_RECORDS: &[(&str, &str, &str, &str)] = &[
    ("subscriptions.json", "upsertSubscriptions", "SubscriptionInput", "subscriptions"),
    ("feedback.json", "recordFeedback", "FeedbackInput", "feedback"),
    ("tickets.json", "recordTickets", "TicketInput", "tickets"),
    ("usage.json", "recordUsage", "UsageInput", "usage"),
    ("touchpoints.json", "recordTouchpoints", "TouchpointInput", "touchpoints"),
    ("costs.json", "recordCosts", "CostInput", "costs"),
    ("advocacy.json", "recordAdvocacy", "AdvocacyInput", "advocacy"),
    ("feature_requests.json", "recordFeatureRequests", "FeatureRequestInput", "featureRequests"),
    ("traffic.json", "recordTraffic", "TrafficInput", "traffic"),
];

/// The fields of `IngestInput` (and `IngestResult`).
pub const INGEST_KINDS: [&str; 12] = [
    "teams",
    "users",
    "accounts",
    "subscriptions",
    "costs",
    "feedback",
    "tickets",
    "usage",
    "touchpoints",
    "advocacy",
    "featureRequests",
    "traffic",
];

/// accounts.json with every referrer moved before the accounts naming it.
pub fn accounts_in_reference_order() -> Vec<Value> {
    let accounts = rows("accounts.json");
    let mut ordered: Vec<Value> = Vec::new();
    fn visit(account: &Value, all: &[Value], ordered: &mut Vec<Value>) {
        let id = &account["externalId"];
        if ordered.iter().any(|a| &a["externalId"] == id) {
            return;
        }
        if let Some(referrer) = account["referredByExternalId"].as_str()
            && let Some(r) = all.iter().find(|a| a["externalId"] == referrer)
        {
            visit(r, all, ordered);
        }
        ordered.push(account.clone());
    }
    for account in &accounts {
        visit(account, &accounts, &mut ordered);
    }
    ordered
}

impl TestApp {
    /// The app with the sample's ADMIN and INTEGRATION users (created at the command line, as
    /// an operator would) and nothing else.
    pub async fn with_operators() -> TestApp {
        let app = TestApp::spawn().await;
        let users = rows("users.json");
        for email in [ADMIN, INTEGRATION] {
            let user = users.iter().find(|u| u["email"] == email).expect("operator in users.json");
            let input = UserInput {
                email: email.into(),
                name: user["name"].as_str().unwrap_or_default().into(),
                role: Role::from_db(user["role"].as_str().unwrap_or_default()).expect("role"),
                team_name: None,
            };
            upsert_user_directly(Batch::command_line(&app.db, "cli user").await.expect("a batch"), input)
                .await
                .unwrap_or_else(|e| panic!("{}", e.detail()));
        }
        app
    }

    /// Loads the whole sample as INTEGRATION; returns the counts of every call, in order.
    pub async fn load_sample(&self) -> Vec<(String, (i64, i64, i64))> {
        self.load_sample_edited(|_, rows| rows).await
    }

    /// Loads the sample as INTEGRATION with the rows of each file (`accounts.json`,
    /// `subscriptions.json`, ...) as `edit` makes them.
    pub async fn load_sample_edited(
        &self,
        edit: impl Fn(&str, Vec<Value>) -> Vec<Value>,
    ) -> Vec<(String, (i64, i64, i64))> {
        let mut outcomes = Vec::new();
        let teams = rows("teams.json");
        let bare_teams: Vec<Value> = teams.iter().map(|t| json!({ "name": t["name"] })).collect();
        let mut steps: Vec<(&str, &str, Vec<Value>)> = vec![
            ("upsertTeams", "TeamInput", bare_teams),
            ("upsertUsers", "UserInput", rows("users.json")),
            ("upsertTeams", "TeamInput", teams),
            ("upsertAccounts", "AccountInput", edit("accounts.json", accounts_in_reference_order())),
        ];
        steps.extend(
            SAMPLE_RECORDS.iter().map(|(file, mutation, input, _)| (*mutation, *input, edit(file, rows(file)))),
        );
        for (mutation, input, batch) in steps {
            let counts = self.ingest_ok(INTEGRATION, mutation, input, &batch).await;
            outcomes.push((mutation.to_owned(), counts));
        }
        outcomes
    }

    /// Runs `ingest` with `input` as `email` and returns the reply.
    pub async fn ingest_kinds(&self, email: &str, input: &Value) -> Reply {
        let counts = "created updated unchanged";
        let kinds = INGEST_KINDS.iter().map(|k| format!("{k} {{ {counts} }}")).collect::<Vec<_>>().join(" ");
        let query =
            format!("mutation($input: IngestInput!) {{ ingest(input: $input) {{ {kinds} total {{ {counts} }} }} }}");
        self.gql(email, &query, json!({ "input": input })).await
    }

    /// Loads the whole sample as INTEGRATION through `ingest`: the organisation, then
    /// `per_request` accounts a request, each with every record that names it (the costs and
    /// traffic with the first). Returns the `total` counts of each request.
    pub async fn load_sample_by_account(&self, per_request: usize) -> Vec<Value> {
        let teams = rows("teams.json");
        let bare_teams: Vec<Value> = teams.iter().map(|t| json!({ "name": t["name"] })).collect();
        let mut inputs = vec![json!({ "teams": bare_teams, "users": rows("users.json") }), json!({ "teams": teams })];
        let accounts = accounts_in_reference_order();
        for (i, group) in accounts.chunks(per_request).enumerate() {
            let mut input = json!({ "accounts": group });
            for (file, _, _, field) in SAMPLE_RECORDS {
                let ours: Vec<Value> = rows(file)
                    .into_iter()
                    .filter(|r| match r.get("accountExternalId") {
                        Some(account) => group.iter().any(|a| &a["externalId"] == account),
                        None => i == 0,
                    })
                    .collect();
                if !ours.is_empty() {
                    input[*field] = json!(ours);
                }
            }
            inputs.push(input);
        }
        let mut totals = Vec::new();
        for input in inputs {
            let reply = self.ingest_kinds(INTEGRATION, &input).await;
            assert!(reply.errors().is_empty(), "{}", reply.body);
            totals.push(reply.data()["ingest"]["total"].clone());
        }
        totals
    }

    /// The app with the whole sample loaded.
    pub async fn with_sample() -> TestApp {
        let app = TestApp::with_operators().await;
        app.load_sample().await;
        app
    }
}

/// Whether the npm `package` of `tests/browser` (and each of `programs`) is installed, for the
/// tests that drive an outside client (a browser, the GraphQL over HTTP audit). `.ci/run`
/// installs them, so under CI their absence fails; elsewhere the test says what is missing and
/// passes.
pub fn outside_client_ready(package: &str, programs: &[&str]) -> bool {
    let modules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/node_modules").join(package);
    let ready = modules.exists() && programs.iter().all(|p| PathBuf::from(p).exists());
    if !ready {
        assert!(std::env::var_os("CI").is_none(), "CI installs chromium and tests/browser's packages (.ci/run)");
        eprintln!("skipping: install {programs:?} and run `npm ci --prefix tests/browser` ({package})");
    }
    ready
}
