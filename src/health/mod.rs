//! Account health scores and the configurable health model (KPIS.md, section 6).
pub mod model;
pub mod score;
pub mod today;

use std::collections::{BTreeMap, HashMap};

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::NaiveDate;
use sea_orm::{DatabaseConnection, Value};

use crate::auth::caller;
use crate::error::{AppError, AppResult};
use crate::loaders::{database, loaders};
use crate::org::Role;
use model::Model;
use score::Components;

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthStatus {
    #[graphql(name = "GREEN")]
    Green,
    #[graphql(name = "YELLOW")]
    Yellow,
    #[graphql(name = "RED")]
    Red,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum HealthComponentKind {
    #[graphql(name = "USAGE")]
    Usage,
    #[graphql(name = "NPS")]
    Nps,
    #[graphql(name = "CSAT")]
    Csat,
    #[graphql(name = "SUPPORT")]
    Support,
    #[graphql(name = "ENGAGEMENT")]
    Engagement,
    #[graphql(name = "REVENUE_TREND")]
    RevenueTrend,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct HealthScore {
    /// 0-100; null when no component is present or their weights sum to 0.
    pub score: Option<f64>,
    pub status: Option<HealthStatus>,
    pub components: Vec<HealthComponent>,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct HealthComponent {
    pub component: HealthComponentKind,
    pub value: f64,
    pub weight: f64,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct HealthModel {
    pub weights: Vec<HealthComponent>,
    pub green_at_least: f64,
    pub yellow_at_least: f64,
}

#[derive(InputObject)]
pub struct HealthModelInput {
    pub weights: Vec<HealthWeightInput>,
    pub green_at_least: f64,
    pub yellow_at_least: f64,
}

#[derive(InputObject)]
pub struct HealthWeightInput {
    pub component: HealthComponentKind,
    pub weight: f64,
}

/// Every component, in the order of a model's weights and of a score's components.
pub const COMPONENTS: [HealthComponentKind; 6] = [
    HealthComponentKind::Usage,
    HealthComponentKind::Nps,
    HealthComponentKind::Csat,
    HealthComponentKind::Support,
    HealthComponentKind::Engagement,
    HealthComponentKind::RevenueTrend,
];

impl HealthScore {
    /// The score of `components` under `model`; only present components are listed, each with
    /// its configured weight.
    pub fn of(model: &Model, components: &Components) -> HealthScore {
        let score = model.score(components);
        HealthScore {
            score,
            status: score.map(|s| model.status(s)),
            components: COMPONENTS
                .iter()
                .filter_map(|c| {
                    components[*c as usize].map(|value| HealthComponent {
                        component: *c,
                        value,
                        weight: model.weight(*c),
                    })
                })
                .collect(),
        }
    }
}

impl HealthModel {
    fn of(model: &Model) -> HealthModel {
        HealthModel {
            weights: COMPONENTS
                .iter()
                .map(|c| HealthComponent { component: *c, value: model.weight(*c), weight: model.weight(*c) })
                .collect(),
            green_at_least: model.green_at_least,
            yellow_at_least: model.yellow_at_least,
        }
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
        let targets = |sql: &mut crate::kpis::sql::Sql| {
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

/// The model in force for this request (read once per request).
pub async fn request_model(ctx: &Context<'_>) -> AppResult<Model> {
    let loaders = loaders(ctx)?;
    let db = database(ctx)?;
    Ok(*loaders.health_model.get_or_try_init(|| model::load(db)).await?)
}

/// An account's health on a day, through the request's loader.
pub async fn health_of(ctx: &Context<'_>, account: i64, on: NaiveDate) -> AppResult<HealthScore> {
    let components = loaders(ctx)?.health_on.load_one((account, on)).await?.unwrap_or([None; 6]);
    Ok(HealthScore::of(&request_model(ctx).await?, &components))
}

#[derive(Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    #[graphql(complexity = "crate::schema::cost::lookup(child_complexity)")]
    async fn health_model(&self, ctx: &Context<'_>) -> async_graphql::Result<HealthModel> {
        crate::auth::scope::Visibility::for_reads(caller(ctx)?)?;
        Ok(HealthModel::of(&request_model(ctx).await?))
    }
}

#[derive(Default)]
pub struct HealthMutation;

#[Object]
impl HealthMutation {
    /// ADMIN only. Components left out keep their weights; the whole call is refused with one
    /// `BAD_USER_INPUT` per bad entry, and nothing changes.
    async fn set_health_model(&self, ctx: &Context<'_>, input: HealthModelInput) -> async_graphql::Result<HealthModel> {
        let who = caller(ctx)?;
        who.require(&[Role::Admin], "set the health model")?;
        let db = database(ctx)?;
        let current = model::load(db).await?;
        let weights: Vec<_> = input.weights.iter().map(|w| (w.component, w.weight)).collect();
        match model::validate(current, &weights, input.green_at_least, input.yellow_at_least) {
            Ok(new) => {
                model::save(db, who, new).await?;
                Ok(HealthModel::of(&new))
            }
            Err(errors) => Err(crate::ingest::report(ctx, errors)),
        }
    }
}

/// The condition "the account's health today has `status`" under the model in force, read
/// from the health of the day ([`today`]), which this brings up to today first.
pub async fn has_status_today(ctx: &Context<'_>, status: HealthStatus) -> AppResult<sea_orm::sea_query::Expr> {
    today::ensure(database(ctx)?, chrono::Utc::now().date_naive()).await?;
    Ok(sea_orm::ColumnTrait::in_subquery(&entity::account::Column::Id, today::with_status(status)))
}
