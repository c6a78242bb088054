//! The GraphQL schema: one query and one mutation object per domain, merged.
//!
//! Building the schema is data-free; the server (and the tests) attach the database, and each
//! request its caller and loaders.
use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::accounts::{AccountMutation, AccountQuery};
use crate::adoption::AdoptionMutation;
use crate::engagement::EngagementMutation;
use crate::health::{HealthMutation, HealthQuery};
use crate::ingest::IngestMutation;
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
    IngestMutation,
    ScorecardMutation,
);

pub type CsKpiSchema = Schema<Query, Mutation, EmptySubscription>;

/// Nesting deeper than this is refused before anything runs.
pub const MAX_DEPTH: usize = 16;
/// The most a request may cost: a field costs 1, a list its page size (or a fixed estimate)
/// times its selection, and the expensive reports a fixed surcharge (see [`cost`]).
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
}

/// What the costed fields of the schema charge, for [`MAX_COMPLEXITY`].
pub mod cost {
    /// The surcharge of a report computed by SQL over many rows (`kpis`, `mrrMovements`,
    /// `csmScorecards`, `featureRequests`): fifty of them in one request reach the limit, while a
    /// page of 500 accounts with all their lists stays well within it.
    pub const REPORT: usize = 1_000;
    /// The surcharge of a root field that queries the database itself (`account`, `accounts`,
    /// `users`, `teams`, `healthModel`): at most 250 of them in one request.
    pub const QUERY: usize = 200;
    /// The rows assumed for a list without a page size (periods of a report, a team's members).
    pub const LIST: usize = 10;

    /// A page of `first` items, each costing `child`; `first` is clamped so that an absurd value
    /// is refused by its own validation (`BAD_USER_INPUT`) rather than overflowing.
    pub fn page(first: Option<i32>, child: usize) -> usize {
        usize::try_from(first.unwrap_or(0).clamp(1, 500)).unwrap_or(1).saturating_mul(child)
    }

    /// A report of about [`LIST`] rows, each costing `child`.
    pub fn report(child: usize) -> usize {
        REPORT.saturating_add(nested_list(child))
    }

    /// A root field reading one record.
    pub fn lookup(child: usize) -> usize {
        QUERY.saturating_add(child)
    }

    /// A root field listing records (about [`LIST`] of them).
    pub fn listing(child: usize) -> usize {
        QUERY.saturating_add(nested_list(child))
    }

    /// A list below a record, loaded in one batch for all its parents (about [`LIST`] items).
    pub fn nested_list(child: usize) -> usize {
        LIST.saturating_mul(child)
    }
}

/// The schema's SDL, as checked in at `schema.graphql` (`cs-kpi schema`).
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
