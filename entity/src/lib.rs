//! sea-orm entities of cs-kpi: one module per table. Money columns use [`money::Money`],
//! which is stored exactly on both backends (NUMERIC(19,4) in PostgreSQL, canonical TEXT in SQLite).

pub mod money;

pub mod account;
pub mod account_alias;
pub mod advocacy;
pub mod audit_log;
pub mod cost;
pub mod csm_goal;
pub mod feature_request;
pub mod feedback;
pub mod finance_settings;
pub mod health_model;
pub mod subscription;
pub mod team;
pub mod ticket;
pub mod touchpoint;
pub mod traffic;
pub mod usage_record;
pub mod user;

pub use money::Money;
