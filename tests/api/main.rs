//! Integration tests: the real router over HTTP, real signed JWTs, a fresh database per test
//! (SQLite by default; PostgreSQL when `TEST_DATABASE_URL` names one).
mod accounts;
mod auth;
mod helpers;
mod ingest;
mod schema;
mod visibility;
