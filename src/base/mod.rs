//! Layer 1, the base every other layer stands on: errors, the database connection and its
//! write transactions, the SQL builder and dialect helpers, calendar months, stored enums,
//! GraphQL scalars. It imports nothing of the crate.
pub mod calendar;
pub mod db;
pub mod db_enum;
pub mod error;
pub mod rng;
pub mod scalars;
pub mod sql;
pub mod telemetry;
