//! Per-request DataLoaders: lists and references under a page of parents cost one query per
//! kind of child, not one per parent. A fresh set is made for every request, so nothing cached
//! crosses callers.
use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::NaiveDate;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Order, QueryFilter, QueryOrder, Value};

use crate::base::error::{AppError, AppResult};
use crate::ingest::Record;
use crate::ledger::today;
use crate::metrics::health::model::{self, Model};
use crate::metrics::health::score::{self, Components};
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
                .expr_as(Expr::cust(crate::base::db::money_sum(backend, "mrr")), Alias::new("mrr"))
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
                out.insert((account, date), crate::base::db::money_sum_value(backend, &row, "mrr")?);
            }
        }
        Ok(out)
    }
}

/// Health components of accounts on days, one query per component for all keys.
pub struct HealthOn {
    pub db: DatabaseConnection,
}

impl Loader<(i64, NaiveDate)> for HealthOn {
    type Value = Components;
    type Error = AppError;

    /// Keys on the day `health_today` holds are read from it; the others are computed.
    async fn load(&self, keys: &[(i64, NaiveDate)]) -> Result<HashMap<(i64, NaiveDate), Components>, AppError> {
        let mut out = HashMap::with_capacity(keys.len());
        let mut by_day: BTreeMap<NaiveDate, Vec<i64>> = BTreeMap::new();
        for (account, day) in keys {
            by_day.entry(*day).or_default().push(*account);
        }
        for (day, accounts) in by_day {
            if let Some(stored) = today::stored_components(&self.db, &accounts, day).await? {
                out.extend(stored.into_iter().map(|(account, components)| ((account, day), components)));
            }
        }
        let missing: Vec<(i64, NaiveDate)> = keys.iter().filter(|key| !out.contains_key(*key)).copied().collect();
        let targets = |sql: &mut crate::base::sql::Sql| {
            sql.push("targets(tkey, account_id, day) AS (VALUES ");
            sql.values_rows(missing.iter().enumerate(), |(i, (account, day))| {
                vec![Value::from(i as i64), Value::from(*account), Value::from(*day)]
            });
            sql.push(")");
        };
        if !missing.is_empty() {
            let found = score::components(&self.db, &targets).await?;
            out.extend(
                missing
                    .iter()
                    .enumerate()
                    .map(|(i, key)| (*key, found.get(&(i as i64, key.0)).copied().unwrap_or([None; 6]))),
            );
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
    health_model: tokio::sync::OnceCell<Model>,
    db: DatabaseConnection,
}

impl LoaderSet {
    /// The health model in force, read at most once per request.
    pub async fn health_model(&self) -> AppResult<Model> {
        Ok(*self.health_model.get_or_try_init(|| model::load(&self.db)).await?)
    }
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
            db: db.clone(),
        }))
    }
}

/// The request's loaders.
pub fn loaders<'a>(ctx: &Context<'a>) -> AppResult<&'a Loaders> {
    ctx.data::<Loaders>().map_err(|_| AppError::internal("no loaders in context"))
}
