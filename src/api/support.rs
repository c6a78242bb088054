//! Support: tickets, their first responses and resolutions.
use std::collections::HashMap;

use async_graphql::{Context, ID, InputObject, Object};

use crate::auth::Role;
use crate::base::scalars::DateTime;
use crate::ingest::{
    AccountRecordInput, AccountRef, RowCheck, UpsertResult, account_record_part, record_keys, write_alone,
};
use entity::ticket;

pub struct Ticket(pub ticket::Model);

#[Object]
impl Ticket {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    async fn opened_at(&self) -> DateTime {
        DateTime(self.0.opened_at)
    }

    async fn first_response_at(&self) -> Option<DateTime> {
        self.0.first_response_at.map(DateTime)
    }

    async fn resolved_at(&self) -> Option<DateTime> {
        self.0.resolved_at.map(DateTime)
    }

    async fn contacts_to_resolve(&self) -> Option<i32> {
        self.0.contacts_to_resolve
    }
}

#[derive(InputObject)]
pub struct TicketInput {
    pub external_id: String,
    pub account_external_id: String,
    pub opened_at: DateTime,
    pub first_response_at: Option<DateTime>,
    pub resolved_at: Option<DateTime>,
    /// How many contacts it took to resolve; 1 = first contact resolution.
    pub contacts_to_resolve: Option<i32>,
}

record_keys!(TicketInput);

impl AccountRecordInput for TicketInput {
    type Record = ticket::Model;
    type Extra = ();

    fn build(
        &self,
        check: &mut RowCheck<'_>,
        account: AccountRef,
        _known: &HashMap<String, ticket::Model>,
        _extra: &(),
    ) -> ticket::Model {
        check.not_before("firstResponseAt", self.first_response_at, self.opened_at, "openedAt");
        check.not_before("resolvedAt", self.resolved_at, self.opened_at, "openedAt");
        check.at_least("contactsToResolve", self.contacts_to_resolve, 0);
        ticket::Model {
            id: 0,
            external_id: self.external_id.clone(),
            account_id: account.id,
            opened_at: self.opened_at.0,
            first_response_at: self.first_response_at.map(|d| d.0),
            resolved_at: self.resolved_at.map(|d| d.0),
            contacts_to_resolve: self.contacts_to_resolve,
        }
    }
}

#[derive(Default)]
pub struct SupportMutation;

#[Object]
impl SupportMutation {
    async fn record_tickets(&self, ctx: &Context<'_>, input: Vec<TicketInput>) -> async_graphql::Result<UpsertResult> {
        write_alone(ctx, &input).await
    }
}

account_record_part!(TicketInput => "recordTickets", &[Role::Admin, Role::Integration]);
