//! Per-request DataLoaders: lists and references under a page of parents cost one query per
//! kind of child, not one per parent. A fresh set is made for every request, so nothing cached
//! crosses callers.
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::NaiveDate;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Order, QueryFilter, QueryOrder};

use crate::error::{AppError, AppResult};
use crate::health::HealthOn;
use crate::ingest::Record;
use entity::{Money, account, feedback, subscription, team, ticket, touchpoint, user};

/// Records by id.
pub struct ById<E> {
    db: DatabaseConnection,
    entity: PhantomData<E>,
}

impl<E: EntityTrait> Loader<i64> for ById<E>
where
    E::Model: Record,
{
    type Value = E::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, E::Model>, AppError> {
        let rows = E::find().filter(Expr::col(Alias::new("id")).is_in(keys.iter().copied())).all(&self.db).await?;
        Ok(rows.into_iter().map(|m| (m.id(), m)).collect())
    }
}

/// The records of `E` whose `parent` column is the key, ordered by `order` then id.
pub struct Children<E: EntityTrait> {
    db: DatabaseConnection,
    parent: &'static str,
    order: &'static str,
    parent_of: fn(&E::Model) -> Option<i64>,
}

impl<E: EntityTrait> Loader<i64> for Children<E>
where
    E::Model: Record,
{
    type Value = Vec<E::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<E::Model>>, AppError> {
        let rows = E::find()
            .filter(Expr::col(Alias::new(self.parent)).is_in(keys.iter().copied()))
            .order_by(Expr::col(Alias::new(self.order)), Order::Asc)
            .order_by(Expr::col(Alias::new("id")), Order::Asc)
            .all(&self.db)
            .await?;
        let mut by_parent: HashMap<i64, Vec<E::Model>> = HashMap::new();
        for row in rows {
            if let Some(parent) = (self.parent_of)(&row) {
                by_parent.entry(parent).or_default().push(row);
            }
        }
        Ok(by_parent)
    }
}

/// An account's MRR on a date: `MRR(a, d) = sum(s.mrr)` over its subscriptions with
/// `s.startDate <= d` and (`s.endDate` is null or `d < s.endDate`) (KPIS.md, section 1).
pub struct MrrOn {
    db: DatabaseConnection,
}

impl Loader<(i64, NaiveDate)> for MrrOn {
    type Value = Money;
    type Error = AppError;

    async fn load(&self, keys: &[(i64, NaiveDate)]) -> Result<HashMap<(i64, NaiveDate), Money>, AppError> {
        let backend = self.db.get_database_backend();
        let mut by_date: HashMap<NaiveDate, Vec<i64>> = HashMap::new();
        for (account, date) in keys {
            by_date.entry(*date).or_default().push(*account);
        }
        let mut out: HashMap<(i64, NaiveDate), Money> = keys.iter().map(|k| (*k, Money::default())).collect();
        for (date, accounts) in by_date {
            let select = Query::select()
                .column(subscription::Column::AccountId)
                .expr_as(Expr::cust(crate::db::money_sum(backend, "mrr")), Alias::new("mrr"))
                .from(subscription::Entity)
                .and_where(Expr::col(subscription::Column::AccountId).is_in(accounts))
                .and_where(Expr::col(subscription::Column::StartDate).lte(date))
                .and_where(
                    Expr::col(subscription::Column::EndDate)
                        .is_null()
                        .or(Expr::col(subscription::Column::EndDate).gt(date)),
                )
                .group_by_col(subscription::Column::AccountId)
                .to_owned();
            for row in self.db.query_all(&select).await? {
                let account: i64 = row.try_get("", "account_id")?;
                out.insert((account, date), crate::db::money_sum_value(backend, &row, "mrr")?);
            }
        }
        Ok(out)
    }
}

/// The DataLoaders of one request (shared by the operations of a batched request).
#[derive(Clone)]
pub struct Loaders(Arc<LoaderSet>);

impl std::ops::Deref for Loaders {
    type Target = LoaderSet;
    fn deref(&self) -> &LoaderSet {
        &self.0
    }
}

pub struct LoaderSet {
    pub users: DataLoader<ById<user::Entity>, HashMapCache>,
    pub teams: DataLoader<ById<team::Entity>, HashMapCache>,
    pub accounts: DataLoader<ById<account::Entity>, HashMapCache>,
    pub subscriptions_by_id: DataLoader<ById<subscription::Entity>, HashMapCache>,
    pub team_members: DataLoader<Children<user::Entity>, HashMapCache>,
    pub subscriptions: DataLoader<Children<subscription::Entity>, HashMapCache>,
    pub feedback: DataLoader<Children<feedback::Entity>, HashMapCache>,
    pub tickets: DataLoader<Children<ticket::Entity>, HashMapCache>,
    pub touchpoints: DataLoader<Children<touchpoint::Entity>, HashMapCache>,
    pub mrr_on: DataLoader<MrrOn, HashMapCache>,
    pub health_on: DataLoader<HealthOn, HashMapCache>,
    /// The health model in force, read at most once per request.
    pub health_model: tokio::sync::OnceCell<crate::health::model::Model>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        fn by_id<E: EntityTrait>(db: &DatabaseConnection) -> DataLoader<ById<E>, HashMapCache>
        where
            E::Model: Record,
        {
            DataLoader::with_cache(ById { db: db.clone(), entity: PhantomData }, tokio::spawn, HashMapCache::default())
        }
        fn children<E: EntityTrait>(
            db: &DatabaseConnection,
            parent: &'static str,
            order: &'static str,
            parent_of: fn(&E::Model) -> Option<i64>,
        ) -> DataLoader<Children<E>, HashMapCache>
        where
            E::Model: Record,
        {
            DataLoader::with_cache(
                Children { db: db.clone(), parent, order, parent_of },
                tokio::spawn,
                HashMapCache::default(),
            )
        }
        Loaders(Arc::new(LoaderSet {
            users: by_id(db),
            teams: by_id(db),
            accounts: by_id(db),
            subscriptions_by_id: by_id(db),
            team_members: children(db, "team_id", "email", |u: &user::Model| u.team_id),
            subscriptions: children(db, "account_id", "start_date", |s: &subscription::Model| Some(s.account_id)),
            feedback: children(db, "account_id", "responded_at", |f: &feedback::Model| Some(f.account_id)),
            tickets: children(db, "account_id", "opened_at", |t: &ticket::Model| Some(t.account_id)),
            touchpoints: children(db, "account_id", "occurred_at", |t: &touchpoint::Model| Some(t.account_id)),
            mrr_on: DataLoader::with_cache(MrrOn { db: db.clone() }, tokio::spawn, HashMapCache::default()),
            health_on: DataLoader::with_cache(HealthOn { db: db.clone() }, tokio::spawn, HashMapCache::default()),
            health_model: tokio::sync::OnceCell::new(),
        }))
    }
}

/// The request's loaders.
pub fn loaders<'a>(ctx: &Context<'a>) -> AppResult<&'a Loaders> {
    ctx.data::<Loaders>().map_err(|_| AppError::internal("no loaders in context"))
}

/// The request's database connection.
pub fn database<'a>(ctx: &Context<'a>) -> AppResult<&'a DatabaseConnection> {
    ctx.data::<DatabaseConnection>().map_err(|_| AppError::internal("no database in context"))
}
