//! cs-kpi: the customer-success KPI service. See README.md.
//!
//! The layers, each importing only those listed before it:
//! [`base`] -> [`auth`] -> [`metrics`] -> [`ledger`] -> [`ingest`] -> [`kpis`] -> [`api`] ->
//! [`execution`] -> [`export`], [`import`], [`backup`] -> [`server`], [`startup`], [`demo`],
//! [`cli`].
pub mod api;
pub mod auth;
pub mod backup;
pub mod base;
pub mod cli;
pub mod demo;
pub mod execution;
pub mod export;
pub mod import;
pub mod ingest;
pub mod kpis;
pub mod ledger;
pub mod metrics;
pub mod server;
pub mod startup;
