//! The `KpiSnapshot` fields of the KPI families whose issues have not landed yet (engagement
//! depth, advocacy, feature requests, product-led growth): each answers
//! `NOT_IMPLEMENTED` at its path.
use async_graphql::Object;

use crate::error::AppError;

pub struct PendingKpis;

macro_rules! pending_fields {
    ($($field:ident: $ty:ty),+ $(,)?) => {
        #[Object]
        impl PendingKpis {
            $(
                async fn $field(&self) -> async_graphql::Result<$ty> {
                    Err(AppError::NotImplemented(concat!("KpiSnapshot.", stringify!($field))).into())
                }
            )+
        }
    };
}

pending_fields!(
    logins_per_active_user: Option<f64>,
    average_session_minutes: Option<f64>,
    feature_adoption_rate: Option<f64>,
    advocacy_activities: i32,
    advocates: i32,
    feature_requests_opened: i32,
    feature_requests_shipped: i32,
    signups: i32,
    visitor_conversion_rate: Option<f64>,
    activation_rate: Option<f64>,
    trial_conversion_rate: Option<f64>,
    viral_coefficient: Option<f64>,
);
