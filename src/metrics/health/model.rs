//! The health model: a weight per component (0 switches it off) and the status thresholds.
//! An ADMIN may change it (`setHealthModel`); a change applies to every later query.
use chrono::Utc;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use super::{COMPONENTS, HealthComponentKind, HealthStatus};
use crate::base::error::AppError;
use entity::health_model;

/// The model's single row.
pub const ROW_ID: i64 = 1;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Model {
    /// Weights in [`COMPONENTS`] order.
    pub weights: [f64; 6],
    pub green_at_least: f64,
    pub yellow_at_least: f64,
}

/// KPIS.md, section 6: USAGE 30, NPS 20, CSAT 10, SUPPORT 15, ENGAGEMENT 15, REVENUE_TREND 10;
/// GREEN from 70, YELLOW from 40.
pub const DEFAULT: Model =
    Model { weights: [30.0, 20.0, 10.0, 15.0, 15.0, 10.0], green_at_least: 70.0, yellow_at_least: 40.0 };

/// Scores this close under a threshold count as reaching it (sums of floats).
const THRESHOLD_TOLERANCE: f64 = 1e-9;

impl Model {
    pub fn weight(&self, component: HealthComponentKind) -> f64 {
        self.weights[component as usize]
    }

    pub fn status(&self, score: f64) -> HealthStatus {
        if score + THRESHOLD_TOLERANCE >= self.green_at_least {
            HealthStatus::Green
        } else if score + THRESHOLD_TOLERANCE >= self.yellow_at_least {
            HealthStatus::Yellow
        } else {
            HealthStatus::Red
        }
    }

    /// `score = sum(w_i * c_i) / sum(w_i)` over the present components; `None` when none is
    /// present or their weights sum to 0.
    pub fn score(&self, values: &[Option<f64>; 6]) -> Option<f64> {
        let (mut weighted, mut total) = (0.0, 0.0);
        for component in COMPONENTS {
            if let Some(value) = values[component as usize] {
                weighted += self.weight(component) * value;
                total += self.weight(component);
            }
        }
        (total > 0.0).then(|| weighted / total)
    }

    fn from_row(row: health_model::Model) -> Model {
        Model {
            weights: [
                row.usage_weight,
                row.nps_weight,
                row.csat_weight,
                row.support_weight,
                row.engagement_weight,
                row.revenue_trend_weight,
            ],
            green_at_least: row.green_at_least,
            yellow_at_least: row.yellow_at_least,
        }
    }

    pub fn to_row(self) -> health_model::ActiveModel {
        let [usage, nps, csat, support, engagement, revenue_trend] = self.weights;
        health_model::ActiveModel {
            id: Set(ROW_ID),
            usage_weight: Set(usage),
            nps_weight: Set(nps),
            csat_weight: Set(csat),
            support_weight: Set(support),
            engagement_weight: Set(engagement),
            revenue_trend_weight: Set(revenue_trend),
            green_at_least: Set(self.green_at_least),
            yellow_at_least: Set(self.yellow_at_least),
            updated_at: Set(Utc::now()),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{{\"weights\":{:?},\"greenAtLeast\":{},\"yellowAtLeast\":{}}}",
            self.weights, self.green_at_least, self.yellow_at_least
        )
    }
}

/// The model in force: the stored one, or the default.
pub async fn load(db: &impl ConnectionTrait) -> Result<Model, sea_orm::DbErr> {
    Ok(health_model::Entity::find_by_id(ROW_ID).one(db).await?.map_or(DEFAULT, Model::from_row))
}

/// Validates a new model: weights >= 0, each component at most once, `yellowAtLeast <= greenAtLeast`.
/// One `BAD_USER_INPUT` per bad entry (`row` = its index in `weights`).
pub fn validate(
    current: Model,
    weights: &[(HealthComponentKind, f64)],
    green: f64,
    yellow: f64,
) -> Result<Model, Vec<AppError>> {
    let mut model = Model { green_at_least: green, yellow_at_least: yellow, ..current };
    let mut errors = Vec::new();
    let mut seen = [false; 6];
    for (row, (component, weight)) in weights.iter().enumerate() {
        if !weight.is_finite() || *weight < 0.0 {
            errors.push(AppError::invalid(Some(row), "weight", format!("row {row}: weight must be a number >= 0")));
        } else if std::mem::replace(&mut seen[*component as usize], true) {
            errors.push(AppError::invalid(Some(row), "component", format!("row {row}: {component:?} is given twice")));
        } else {
            model.weights[*component as usize] = *weight;
        }
    }
    if !green.is_finite() || !yellow.is_finite() || yellow > green {
        errors.push(AppError::invalid(None, "yellowAtLeast", "yellowAtLeast must not be above greenAtLeast"));
    }
    if errors.is_empty() { Ok(model) } else { Err(errors) }
}
