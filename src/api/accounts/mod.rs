//! Accounts: the `Account` type, `account`, and the filtered, cursor-paginated `accounts`.
mod ingest;

pub use ingest::{AccountInput, AccountMutation};

use std::collections::HashSet;

use async_graphql::{Context, ID, Object};
use chrono::NaiveDate;
use sea_orm::{ColumnTrait, Condition};

use super::engagement::Touchpoint;
use super::health::{HealthScore, health_of};
use super::org::{User, parse_id};
use super::revenue::Subscription;
use super::support::Ticket;
use super::voice::Feedback;
use crate::auth::scope::Scope;
use crate::base::error::{AppError, AppResult};
use crate::base::scalars::{Date, Decimal};
use crate::kpis::loaders::loaders;
use crate::kpis::scope::AccountFilter;
use entity::{account, account_alias};

/// The largest page `accounts` returns, and the page size when `first` is null.
pub const MAX_PAGE: i32 = 500;
pub const DEFAULT_PAGE: i32 = 50;

#[derive(Clone, Debug)]
pub struct Account(pub account::Model);

#[Object]
impl Account {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn segment(&self) -> Option<&str> {
        self.0.segment.as_deref()
    }

    async fn region(&self) -> Option<&str> {
        self.0.region.as_deref()
    }

    async fn csm(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(User::load(ctx, self.0.csm_id).await?)
    }

    async fn started_on(&self) -> Option<Date> {
        self.0.started_on.map(Date)
    }

    async fn onboarding_completed_on(&self) -> Option<Date> {
        self.0.onboarding_completed_on.map(Date)
    }

    async fn first_value_on(&self) -> Option<Date> {
        self.0.first_value_on.map(Date)
    }

    async fn signed_up_on(&self) -> Option<Date> {
        self.0.signed_up_on.map(Date)
    }

    async fn activated_on(&self) -> Option<Date> {
        self.0.activated_on.map(Date)
    }

    /// MRR on the date (default: today).
    async fn mrr(&self, ctx: &Context<'_>, on: Option<Date>) -> async_graphql::Result<Decimal> {
        let mrr = loaders(ctx)?.mrr_on.load_one((self.0.id, mrr_date(on))).await?.unwrap_or_default();
        Ok(mrr.into())
    }

    /// Health on the date (default: today).
    async fn health(&self, ctx: &Context<'_>, on: Option<Date>) -> async_graphql::Result<HealthScore> {
        Ok(health_of(ctx, self.0.id, mrr_date(on)).await?)
    }

    #[graphql(complexity = "crate::api::cost::nested_list(child_complexity)")]
    async fn subscriptions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Subscription>> {
        let rows = loaders(ctx)?.subscriptions.load_one(self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Subscription).collect())
    }

    #[graphql(complexity = "crate::api::cost::nested_list(child_complexity)")]
    async fn feedback(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Feedback>> {
        let rows = loaders(ctx)?.feedback.load_one(self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Feedback).collect())
    }

    #[graphql(complexity = "crate::api::cost::nested_list(child_complexity)")]
    async fn tickets(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Ticket>> {
        let rows = loaders(ctx)?.tickets.load_one(self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Ticket).collect())
    }

    #[graphql(complexity = "crate::api::cost::nested_list(child_complexity)")]
    async fn touchpoints(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Touchpoint>> {
        let rows = loaders(ctx)?.touchpoints.load_one(self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Touchpoint).collect())
    }
}

/// The day `Account.mrr(on:)` reads: `on`, or today.
fn mrr_date(on: Option<Date>) -> NaiveDate {
    on.map_or_else(|| chrono::Utc::now().date_naive(), |d| d.0)
}

/// Loads, for a whole page of accounts, every list and reference the query selects under
/// `edges.node`: one query per kind, and the request's loaders serve the nodes from their cache.
async fn prefetch(ctx: &Context<'_>, page: &[account::Model]) -> AppResult<()> {
    let node = ctx.look_ahead().field("edges").field("node");
    let loaders = loaders(ctx)?;
    let ids: Vec<i64> = page.iter().map(|a| a.id).collect();
    let mut users: HashSet<i64> = HashSet::new();
    if node.field("csm").exists() {
        users.extend(page.iter().filter_map(|a| a.csm_id));
    }
    if node.field("subscriptions").exists() {
        let subscriptions = loaders.subscriptions.load_many(ids.iter().copied()).await?;
        if node.field("subscriptions").field("renewsExternalId").exists() {
            let renewed = subscriptions.values().flatten().filter_map(|s| s.renews_id);
            loaders.subscriptions_by_id.load_many(renewed).await?;
        }
    }
    if node.field("feedback").exists() {
        loaders.feedback.load_many(ids.iter().copied()).await?;
    }
    if node.field("tickets").exists() {
        loaders.tickets.load_many(ids.iter().copied()).await?;
    }
    if node.field("touchpoints").exists() {
        let touchpoints = loaders.touchpoints.load_many(ids.iter().copied()).await?;
        if node.field("touchpoints").field("csm").exists() {
            users.extend(touchpoints.values().flatten().filter_map(|t| t.csm_id));
        }
    }
    if !users.is_empty() {
        loaders.users.load_many(users).await?;
    }
    for field in node.field("mrr").selection_fields() {
        let date = on_argument(&field)?;
        loaders.mrr_on.load_many(ids.iter().map(|id| (*id, date))).await?;
    }
    for field in node.field("health").selection_fields() {
        let date = on_argument(&field)?;
        loaders.health_on.load_many(ids.iter().map(|id| (*id, date))).await?;
    }
    Ok(())
}

/// The day an `on: Date` argument names (default: today).
fn on_argument(field: &async_graphql::SelectionField<'_>) -> AppResult<NaiveDate> {
    let arguments = field.arguments().map_err(|e| AppError::invalid(None, "on", e.message))?;
    let on = match arguments.into_iter().find(|(name, _)| name.as_str() == "on") {
        Some((_, value)) => Some(
            <Date as async_graphql::ScalarType>::parse(value)
                .map_err(|_| AppError::invalid(None, "on", "not a Date"))?,
        ),
        None => None,
    };
    Ok(mrr_date(on))
}

const CURSOR_PREFIX: &str = "account:";

fn cursor_of(id: i64) -> String {
    format!("{CURSOR_PREFIX}{id}")
}

fn parse_cursor(cursor: &str) -> AppResult<i64> {
    cursor
        .strip_prefix(CURSOR_PREFIX)
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| AppError::invalid(None, "after", "not a cursor this API returned"))
}

pub struct AccountConnection {
    condition: Condition,
    page: Vec<account::Model>,
    has_next_page: bool,
}

pub struct AccountEdge(account::Model);

#[Object]
impl AccountEdge {
    async fn cursor(&self) -> String {
        cursor_of(self.0.id)
    }

    async fn node(&self) -> Account {
        Account(self.0.clone())
    }
}

#[derive(async_graphql::SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[Object]
impl AccountConnection {
    async fn edges(&self) -> Vec<AccountEdge> {
        self.page.iter().cloned().map(AccountEdge).collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo { has_next_page: self.has_next_page, end_cursor: self.page.last().map(|a| cursor_of(a.id)) }
    }

    /// Accounts matching the filter, over all pages (computed only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let count = Scope::for_reads(ctx)?.accounts().filter(self.condition.clone()).count().await?;
        Ok(count as i64)
    }
}

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// One visible account, by id or externalId; NOT_FOUND when it does not exist or is not visible.
    #[graphql(complexity = "crate::api::cost::lookup(child_complexity)")]
    async fn account(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        external_id: Option<String>,
    ) -> async_graphql::Result<Option<Account>> {
        let query = Scope::for_reads(ctx)?.accounts();
        let query = match (id, external_id) {
            (Some(id), None) => query.filter(account::Column::Id.eq(parse_id(&id).unwrap_or(-1))),
            (None, Some(external_id)) => query.filter(named_by(external_id)),
            _ => return Err(AppError::bad_input("give exactly one of id and externalId").into()),
        };
        let found = query.one().await?;
        found.map(|a| Some(Account(a))).ok_or_else(|| AppError::not_found("no such account").into())
    }

    #[graphql(complexity = "crate::api::cost::QUERY + crate::api::cost::page(first, child_complexity)")]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        filter: Option<AccountFilter>,
        #[graphql(default = 50)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<AccountConnection> {
        let scope = Scope::for_reads(ctx)?;
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(0..=MAX_PAGE).contains(&first) {
            return Err(AppError::invalid(None, "first", format!("first must be between 0 and {MAX_PAGE}")).into());
        }
        let condition = filter.unwrap_or_default().condition(&scope).await?;
        let mut page_query = scope.accounts().filter(condition.clone());
        if let Some(after) = after {
            page_query = page_query.filter(account::Column::Id.gt(parse_cursor(&after)?));
        }
        let mut page = page_query.order_by_asc(account::Column::Id).limit(first as u64 + 1).all().await?;
        let has_next_page = page.len() > first as usize;
        page.truncate(first as usize);
        prefetch(ctx, &page).await?;
        Ok(AccountConnection { condition, page, has_next_page })
    }
}

/// The account `external_id` names: its own, or the one it is an alias of (after a merge).
fn named_by(external_id: String) -> Condition {
    let aliased = sea_orm::sea_query::Query::select()
        .column(account_alias::Column::AccountId)
        .from(account_alias::Entity)
        .and_where(account_alias::Column::ExternalId.eq(external_id.clone()))
        .to_owned();
    Condition::any().add(account::Column::ExternalId.eq(external_id)).add(account::Column::Id.in_subquery(aliased))
}
