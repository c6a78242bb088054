//! The GraphQL schema: one query and one mutation object per domain, merged.
//!
//! Building the schema is data-free; the server (and the tests) attach the database, and each
//! request its caller and loaders.
use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::api::accounts::{AccountMutation, AccountQuery};
use crate::api::adoption::AdoptionMutation;
use crate::api::bulk::IngestMutation;
use crate::api::cohorts::CohortQuery;
use crate::api::engagement::EngagementMutation;
use crate::api::finance::{FinanceMutation, FinanceQuery};
use crate::api::health::{HealthMutation, HealthQuery};
use crate::api::kpis::KpiQuery;
use crate::api::org::{OrgMutation, OrgQuery};
use crate::api::product::{ProductMutation, ProductQuery};
use crate::api::renewals::RenewalQuery;
use crate::api::revenue::RevenueMutation;
use crate::api::scorecards::{ScorecardMutation, ScorecardQuery};
use crate::api::support::SupportMutation;
use crate::api::sync::SyncMutation;
use crate::api::voice::VoiceMutation;

#[derive(MergedObject, Default)]
pub struct Query(
    OrgQuery,
    AccountQuery,
    KpiQuery,
    HealthQuery,
    ScorecardQuery,
    ProductQuery,
    CohortQuery,
    RenewalQuery,
    FinanceQuery,
);

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
    IngestMutation,
    ScorecardMutation,
    FinanceMutation,
    SyncMutation,
);

pub type CsKpiSchema = Schema<Query, Mutation, EmptySubscription>;

/// Nesting deeper than this is refused before anything runs.
pub const MAX_DEPTH: usize = 16;
/// The most a request may cost: a field costs 1, a list its page size (or a fixed estimate)
/// times its selection, and the expensive reports a fixed surcharge (see `api::cost`).
pub const MAX_COMPLEXITY: usize = 50_000;
/// Fragment spreads and selections nested deeper than this are refused while parsing.
pub const MAX_RECURSIVE_DEPTH: usize = 24;
/// The most directives one field may carry.
pub const MAX_DIRECTIVES: usize = 4;

/// Every limit is checked before any resolver runs, so a refused request touches no table.
/// Field suggestions ("Did you mean ...?") are off: they would map the schema for a prober.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(MAX_RECURSIVE_DEPTH)
        .limit_directives(MAX_DIRECTIVES)
        .disable_suggestions()
        .extension(crate::api::fair_use::FairUse)
}

/// The schema's SDL, as checked in at `schema.graphql` (`cs-kpi schema`).
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
