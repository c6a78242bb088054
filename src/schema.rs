//! The GraphQL schema: one query and one mutation object per domain, merged.
//!
//! Building the schema is data-free; the server (and the tests) attach the database, and each
//! request its caller and loaders.
use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::accounts::{AccountMutation, AccountQuery};
use crate::adoption::AdoptionMutation;
use crate::engagement::EngagementMutation;
use crate::health::{HealthMutation, HealthQuery};
use crate::kpis::KpiQuery;
use crate::org::{OrgMutation, OrgQuery};
use crate::product::{ProductMutation, ProductQuery};
use crate::revenue::RevenueMutation;
use crate::scorecards::{ScorecardMutation, ScorecardQuery};
use crate::support::SupportMutation;
use crate::voice::VoiceMutation;

#[derive(MergedObject, Default)]
pub struct Query(OrgQuery, AccountQuery, KpiQuery, HealthQuery, ScorecardQuery, ProductQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(
    OrgMutation,
    AccountMutation,
    RevenueMutation,
    VoiceMutation,
    SupportMutation,
    AdoptionMutation,
    EngagementMutation,
    ProductMutation,
    HealthMutation,
    ScorecardMutation,
);

pub type CsKpiSchema = Schema<Query, Mutation, EmptySubscription>;

/// Nesting deeper than this is refused before anything runs.
pub const MAX_DEPTH: usize = 16;
/// The most fields one request may select (lists count once; see the hardening issue).
pub const MAX_COMPLEXITY: usize = 5_000;

pub fn schema_builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
}

/// The schema's SDL, as checked in at `schema.graphql` (`cs-kpi schema`).
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
