//! Account health scores and the configurable health model (KPIS.md, section 6): `health`,
//! `healthModel` and `setHealthModel`.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::NaiveDate;

use crate::auth::scope::Scope;
use crate::auth::{Role, caller};
use crate::base::db::WriteAccess;
use crate::base::error::{AppError, AppResult};
use crate::ingest::report;
use crate::kpis::loaders::loaders;
use crate::ledger::today;
use crate::metrics::health::model::{self, Model};
use crate::metrics::health::score::Components;
use crate::metrics::health::{COMPONENTS, HealthComponentKind, HealthStatus};

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

/// The model in force for this request (read once per request).
pub async fn request_model(ctx: &Context<'_>) -> AppResult<Model> {
    loaders(ctx)?.health_model().await
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
    #[graphql(complexity = "crate::api::cost::lookup(child_complexity)")]
    async fn health_model(&self, ctx: &Context<'_>) -> async_graphql::Result<HealthModel> {
        Scope::for_reads(ctx)?;
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
        let txn = Scope::for_writes(ctx)?.begin_write(WriteAccess::Exclusive).await?;
        let current = model::load(&txn).await.map_err(AppError::from)?;
        let weights: Vec<_> = input.weights.iter().map(|w| (w.component, w.weight)).collect();
        match model::validate(current, &weights, input.green_at_least, input.yellow_at_least) {
            Ok(new) => {
                today::save_model(&txn, who, new).await.map_err(AppError::from)?;
                crate::base::db::commit_write(txn).await.map_err(AppError::from)?;
                Ok(HealthModel::of(&new))
            }
            Err(errors) => Err(report(ctx, errors)),
        }
    }
}
