//! Engagement: CSM touchpoints with accounts, and customer advocacy.
use std::collections::HashMap;

use async_graphql::{Context, ID, InputObject, Object};

use crate::api::org::User;
use crate::api::voice::ACCOUNT_ACTIVITY_WRITERS;
use crate::auth::Role;
use crate::base::db_enum::{db_enum, decode};
use crate::base::scalars::{Date, DateTime};
use crate::ingest::{
    AccountRecordInput, AccountRef, Batch, Lookups, Part, RowCheck, UpsertResult, Writing, account_record_part,
    record_keys, write_alone,
};
use entity::{advocacy, touchpoint};

db_enum!(
    TouchpointKind {
        Call => "CALL",
        Meeting => "MEETING",
        Email => "EMAIL",
        Qbr => "QBR",
        Onboarding => "ONBOARDING",
        Training => "TRAINING",
    }
);

db_enum!(
    AdvocacyKind {
        Testimonial => "TESTIMONIAL",
        CaseStudy => "CASE_STUDY",
        ReferenceCall => "REFERENCE_CALL",
        Review => "REVIEW",
    }
);

pub struct Touchpoint(pub touchpoint::Model);

#[Object]
impl Touchpoint {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    async fn kind(&self) -> async_graphql::Result<TouchpointKind> {
        Ok(decode(&self.0.kind, TouchpointKind::from_db)?)
    }

    async fn occurred_at(&self) -> DateTime {
        DateTime(self.0.occurred_at)
    }

    async fn with_executive(&self) -> bool {
        self.0.with_executive
    }

    async fn csm(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(User::load(ctx, self.0.csm_id).await?)
    }
}

#[derive(InputObject)]
pub struct TouchpointInput {
    pub external_id: String,
    pub account_external_id: String,
    pub kind: TouchpointKind,
    pub occurred_at: DateTime,
    #[graphql(default = false)]
    pub with_executive: bool,
    /// Defaults to the account's CSM.
    pub csm_email: Option<String>,
}

record_keys!(TouchpointInput);

impl AccountRecordInput for TouchpointInput {
    type Record = touchpoint::Model;
    type Extra = HashMap<String, entity::user::Model>;

    fn build(
        &self,
        check: &mut RowCheck<'_>,
        account: AccountRef,
        _known: &HashMap<String, touchpoint::Model>,
        users: &HashMap<String, entity::user::Model>,
    ) -> touchpoint::Model {
        let csm = check.opt_reference("csmEmail", self.csm_email.as_deref(), users, "user");
        if csm.is_some_and(|u| u.role != Role::Csm.as_db()) {
            check.fail("csmEmail", "must name a user with role CSM");
        }
        touchpoint::Model {
            id: 0,
            external_id: self.external_id.clone(),
            account_id: account.id,
            kind: self.kind.as_db().to_owned(),
            occurred_at: self.occurred_at.0,
            with_executive: self.with_executive,
            csm_id: csm.map_or(account.csm_id, |u| Some(u.id)),
        }
    }
}

#[derive(InputObject)]
pub struct AdvocacyInput {
    pub external_id: String,
    pub account_external_id: String,
    pub kind: AdvocacyKind,
    pub occurred_on: Date,
}

record_keys!(AdvocacyInput);

impl AccountRecordInput for AdvocacyInput {
    type Record = advocacy::Model;
    type Extra = ();

    fn build(
        &self,
        _check: &mut RowCheck<'_>,
        account: AccountRef,
        _known: &HashMap<String, advocacy::Model>,
        _extra: &(),
    ) -> advocacy::Model {
        advocacy::Model {
            id: 0,
            external_id: self.external_id.clone(),
            account_id: account.id,
            kind: self.kind.as_db().to_owned(),
            occurred_on: self.occurred_on.0,
        }
    }
}

#[derive(Default)]
pub struct EngagementMutation;

#[Object]
impl EngagementMutation {
    async fn record_touchpoints(
        &self,
        ctx: &Context<'_>,
        input: Vec<TouchpointInput>,
    ) -> async_graphql::Result<UpsertResult> {
        write_alone(ctx, &input).await
    }

    async fn record_advocacy(
        &self,
        ctx: &Context<'_>,
        input: Vec<AdvocacyInput>,
    ) -> async_graphql::Result<UpsertResult> {
        write_alone(ctx, &input).await
    }
}

impl Part for TouchpointInput {
    const MUTATION: &'static str = "recordTouchpoints";
    const WRITERS: &'static [Role] = ACCOUNT_ACTIVITY_WRITERS;
    fn write<'b>(batch: &'b mut Batch<'_>, input: &'b [Self]) -> Writing<'b> {
        Box::pin(async move {
            let users =
                Lookups::default().users(batch.txn(), input.iter().filter_map(|t| t.csm_email.clone())).await?.users;
            batch.account_records(input, &users).await?;
            Ok(())
        })
    }
}

account_record_part!(AdvocacyInput => "recordAdvocacy", ACCOUNT_ACTIVITY_WRITERS);
