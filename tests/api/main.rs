//! Integration tests: the real router over HTTP, real signed JWTs, a fresh database per test
//! (SQLite by default; PostgreSQL when `TEST_DATABASE_URL` names one).
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "a failed expectation is a failed test")]
mod accounts;
mod activity;
mod auth;
mod backup;
mod browser;
mod cli;
mod cohorts;
mod concurrency;
mod crash;
mod demo;
mod errors;
mod export;
mod fair_use;
mod growth;
mod health;
mod helpers;
mod http;
mod identity;
mod import;
mod ingest;
mod kpis;
mod layers;
mod ledger;
mod limits;
mod outage;
mod properties;
mod references;
mod schema;
mod scorecards;
mod shutdown;
mod sync;
mod telemetry;
mod transport;
mod visibility;
