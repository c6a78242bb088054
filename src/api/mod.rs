//! Layer 7, the GraphQL API: one module per domain (its types, queries and mutations), the
//! per-request loaders, and the schema that merges them. Resolvers reach the database only
//! through the caller's [`Scope`](crate::auth::scope::Scope).
pub mod accounts;
pub mod adoption;
pub mod bulk;
pub mod cohorts;
pub mod cost;
pub mod engagement;
pub mod fair_use;
pub mod finance;
pub mod health;
pub mod kpis;
pub mod org;
pub mod product;
pub mod renewals;
pub mod revenue;
pub mod schema;
pub mod scorecards;
pub mod support;
pub mod sync;
pub mod voice;
