//! `ingest`: rows of several kinds in one atomic batch, for integrations that sync an account
//! with everything it holds (its subscriptions, responses, tickets, usage...) at once.
//!
//! The kinds are written in dependency order (teams, users, accounts, then what belongs to an
//! account), so a row may name anything an earlier kind of the same call writes; the batch
//! follows the ledger once, at its commit, instead of once per kind: an account's month-end
//! history is recomputed once for all its new records.
use async_graphql::{Context, InputObject, Object, SimpleObject};

use crate::api::accounts::AccountInput;
use crate::api::adoption::UsageInput;
use crate::api::engagement::{AdvocacyInput, TouchpointInput};
use crate::api::org::{TeamInput, UserInput};
use crate::api::product::{FeatureRequestInput, TrafficInput};
use crate::api::revenue::{CostInput, SubscriptionInput};
use crate::api::support::TicketInput;
use crate::api::voice::FeedbackInput;
use crate::base::db::WriteAccess;
use crate::base::error::AppResult;
use crate::ingest::{Batch, Part, UpsertResult, retrying};

/// Declares `IngestInput` and `IngestResult` with one field per kind, in the order the kinds
/// are written, and how a batch writes them.
macro_rules! kinds {
    ($($field:ident ($list:literal): $input:ty),+ $(,)?) => {
        /// Rows of several kinds, written as one batch: teams, users, accounts, subscriptions,
        /// costs, feedback, tickets, usage, touchpoints, advocacy, feature requests, traffic.
        /// At most 5000 rows in all.
        #[derive(InputObject, Default)]
        pub struct IngestInput {
            $(pub $field: Option<Vec<$input>>,)+
        }

        /// The counts of each kind written (`null` for a kind the input did not carry), and
        /// of them all.
        #[derive(SimpleObject, Default)]
        pub struct IngestResult {
            $(pub $field: Option<UpsertResult>,)+
            pub total: UpsertResult,
        }

        impl IngestInput {
            fn rows(&self) -> usize {
                0 $(+ self.$field.as_ref().map_or(0, Vec::len))+
            }

            /// Shared when every kind carried may run beside other writers.
            fn access(&self) -> WriteAccess {
                let mut access = WriteAccess::Shared;
                $(if self.$field.is_some() && <$input as Part>::ACCESS == WriteAccess::Exclusive {
                    access = WriteAccess::Exclusive;
                })+
                access
            }

            /// The roles each kind carried needs, with the mutation that writes it alone.
            fn writes(&self) -> Vec<(&'static [crate::auth::Role], String)> {
                let mut writes = Vec::new();
                $(if self.$field.is_some() {
                    writes.push((<$input as Part>::WRITERS, format!("ingest {} (as {})", $list, <$input as Part>::MUTATION)));
                })+
                writes
            }

            async fn write(&self, batch: &mut Batch<'_>) -> AppResult<IngestResult> {
                let mut result = IngestResult::default();
                $(if let Some(rows) = &self.$field {
                    result.$field = Some(batch.part($list, rows).await?);
                })+
                result.total = batch.counts();
                Ok(result)
            }
        }
    };
}

kinds!(
    teams("teams"): TeamInput,
    users("users"): UserInput,
    accounts("accounts"): AccountInput,
    subscriptions("subscriptions"): SubscriptionInput,
    costs("costs"): CostInput,
    feedback("feedback"): FeedbackInput,
    tickets("tickets"): TicketInput,
    usage("usage"): UsageInput,
    touchpoints("touchpoints"): TouchpointInput,
    advocacy("advocacy"): AdvocacyInput,
    feature_requests("featureRequests"): FeatureRequestInput,
    traffic("traffic"): TrafficInput,
);

#[derive(Default)]
pub struct IngestMutation;

#[Object]
impl IngestMutation {
    /// Rows of several kinds in one atomic batch: one invalid row and nothing is written (each
    /// row error names its list, as in `tickets.openedAt`). The caller needs, for each kind it
    /// sends, a role that may call that kind's own mutation.
    async fn ingest(&self, ctx: &Context<'_>, input: IngestInput) -> async_graphql::Result<IngestResult> {
        let writes = input.writes();
        let writes: Vec<(&[crate::auth::Role], &str)> =
            writes.iter().map(|(roles, what)| (*roles, what.as_str())).collect();
        let (rows, access) = (input.rows(), input.access());
        let (writes, input) = (&writes, &input);
        retrying(ctx, move || async move {
            let mut batch = Batch::begin(ctx, "ingest", writes, rows, access).await?;
            let result = input.write(&mut batch).await?;
            batch.commit().await?;
            Ok(result)
        })
        .await
    }
}
