//! Voice of the customer: NPS, CSAT and CES survey responses.
use async_graphql::{Context, ID, InputObject, Object};

use crate::auth::RoleGuard;
use crate::base::db_enum::{db_enum, decode};
use std::collections::HashMap;

use crate::auth::Role;
use crate::base::scalars::DateTime;
use crate::ingest::{
    AccountRecordInput, AccountRef, RowCheck, UpsertResult, account_record_part, record_keys, write_alone,
};
use entity::feedback;

/// Roles that may record customer-facing activity: integrations and admins anywhere, CSMs and
/// managers on the accounts they see.
pub const ACCOUNT_ACTIVITY_WRITERS: &[Role] = &[Role::Admin, Role::Integration, Role::Manager, Role::Csm];

db_enum!(
    FeedbackKind {
        Nps => "NPS",
        Csat => "CSAT",
        Ces => "CES",
    }
);

impl FeedbackKind {
    /// The valid score range: NPS 0-10, CSAT 1-5, CES 1-7.
    pub fn score_range(self) -> (i32, i32) {
        match self {
            FeedbackKind::Nps => (0, 10),
            FeedbackKind::Csat => (1, 5),
            FeedbackKind::Ces => (1, 7),
        }
    }
}

pub struct Feedback(pub feedback::Model);

#[Object]
impl Feedback {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    async fn kind(&self) -> async_graphql::Result<FeedbackKind> {
        Ok(decode(&self.0.kind, FeedbackKind::from_db)?)
    }

    async fn score(&self) -> i32 {
        self.0.score
    }

    /// Free text from the customer; FORBIDDEN for FINANCE.
    #[graphql(guard = "RoleGuard(&[Role::Admin, Role::Manager, Role::Csm])")]
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }

    async fn responded_at(&self) -> DateTime {
        DateTime(self.0.responded_at)
    }
}

#[derive(InputObject)]
pub struct FeedbackInput {
    pub external_id: String,
    pub account_external_id: String,
    pub kind: FeedbackKind,
    /// NPS 0-10, CSAT 1-5, CES 1-7.
    pub score: i32,
    pub comment: Option<String>,
    pub responded_at: DateTime,
}

record_keys!(FeedbackInput);

impl AccountRecordInput for FeedbackInput {
    type Record = feedback::Model;
    type Extra = ();

    fn build(
        &self,
        check: &mut RowCheck<'_>,
        account: AccountRef,
        _known: &HashMap<String, feedback::Model>,
        _extra: &(),
    ) -> feedback::Model {
        let (min, max) = self.kind.score_range();
        check.between("score", self.score, min, max);
        check.comment("comment", self.comment.as_deref());
        feedback::Model {
            id: 0,
            external_id: self.external_id.clone(),
            account_id: account.id,
            kind: self.kind.as_db().to_owned(),
            score: self.score,
            comment: self.comment.clone(),
            responded_at: self.responded_at.0,
        }
    }
}

#[derive(Default)]
pub struct VoiceMutation;

#[Object]
impl VoiceMutation {
    async fn record_feedback(
        &self,
        ctx: &Context<'_>,
        input: Vec<FeedbackInput>,
    ) -> async_graphql::Result<UpsertResult> {
        write_alone(ctx, &input).await
    }
}

account_record_part!(FeedbackInput => "recordFeedback", ACCOUNT_ACTIVITY_WRITERS);
