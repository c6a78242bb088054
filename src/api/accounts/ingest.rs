//! `upsertAccounts`.
use async_graphql::{Context, InputObject, Object};

use crate::auth::Role;
use crate::base::error::AppResult;
use crate::base::scalars::Date;
use crate::ingest::{Batch, Lookups, Part, UpsertResult, Writing, aliases_of, fetch_to_change, write_alone};
use entity::account;

#[derive(InputObject)]
pub struct AccountInput {
    pub external_id: String,
    pub name: String,
    pub segment: Option<String>,
    pub region: Option<String>,
    /// Email of an existing user with role CSM.
    pub csm_email: Option<String>,
    pub started_on: Option<Date>,
    pub onboarding_completed_on: Option<Date>,
    pub first_value_on: Option<Date>,
    pub referred_by_external_id: Option<String>,
    /// Product-led funnel: the day the account signed up (trial or free plan).
    pub signed_up_on: Option<Date>,
    /// Product-led funnel: the day it first reached the activation event.
    pub activated_on: Option<Date>,
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    async fn upsert_accounts(
        &self,
        ctx: &Context<'_>,
        input: Vec<AccountInput>,
    ) -> async_graphql::Result<UpsertResult> {
        write_alone(ctx, &input).await
    }
}

impl Part for AccountInput {
    const MUTATION: &'static str = "upsertAccounts";
    const WRITERS: &'static [Role] = &[Role::Admin, Role::Integration];
    fn write<'b>(batch: &'b mut Batch<'_>, input: &'b [Self]) -> Writing<'b> {
        Box::pin(apply(batch, input))
    }
}

async fn apply(batch: &mut Batch<'_>, input: &[AccountInput]) -> AppResult<()> {
    let users = Lookups::default().users(batch.txn(), input.iter().filter_map(|a| a.csm_email.clone())).await?.users;
    let mut referrers = batch.accounts(input.iter().filter_map(|a| a.referred_by_external_id.clone())).await?;
    let mut existing = fetch_to_change::<account::Entity, String>(
        batch.txn(),
        account::Column::ExternalId,
        input.iter().map(|a| a.external_id.clone()),
        |a| a.external_id.clone(),
    )
    .await?;
    let aliases = aliases_of(batch.txn(), input.iter().map(|a| a.external_id.clone())).await?;
    for (row, a) in input.iter().enumerate() {
        let mut check = batch.row(row);
        check.key("externalId", &a.external_id);
        if let Some(target) = aliases.get(&a.external_id) {
            check.fail("externalId", format!("was merged into {target:?}: write that account instead"));
        }
        check.key("name", &a.name);
        check.text("segment", a.segment.as_deref());
        check.text("region", a.region.as_deref());
        let csm = check.opt_reference("csmEmail", a.csm_email.as_deref(), &users, "user");
        if csm.is_some_and(|u| u.role != Role::Csm.as_db()) {
            check.fail("csmEmail", "must name a user with role CSM");
        }
        if a.referred_by_external_id.as_deref() == Some(a.external_id.as_str()) {
            check.fail("referredByExternalId", "an account cannot refer itself");
        }
        let referrer =
            check.opt_reference("referredByExternalId", a.referred_by_external_id.as_deref(), &referrers, "account");
        if !check.ok() {
            continue;
        }
        let model = account::Model {
            id: 0,
            external_id: a.external_id.clone(),
            name: a.name.clone(),
            segment: a.segment.clone(),
            region: a.region.clone(),
            csm_id: csm.map(|u| u.id),
            started_on: a.started_on.map(|d| d.0),
            onboarding_completed_on: a.onboarding_completed_on.map(|d| d.0),
            first_value_on: a.first_value_on.map(|d| d.0),
            referred_by_id: referrer.map(|r| r.id),
            signed_up_on: a.signed_up_on.map(|d| d.0),
            activated_on: a.activated_on.map(|d| d.0),
        };
        let saved = batch.upsert(&a.external_id, existing.get(&a.external_id), model).await?;
        referrers.insert(saved.external_id.clone(), batch.wrote_account(&saved));
        existing.insert(saved.external_id.clone(), saved);
    }
    Ok(())
}
