//! The `KpiSnapshot` fields of the KPI families whose issues have not landed yet (voice of the
//! customer, support, adoption, health, engagement depth, product-led growth): each answers
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
    nps: Option<f64>,
    nps_responses: i32,
    csat: Option<f64>,
    csat_average: Option<f64>,
    ces: Option<f64>,
    tickets_opened: i32,
    first_contact_resolution_rate: Option<f64>,
    median_first_response_hours: Option<f64>,
    median_resolution_hours: Option<f64>,
    median_time_to_first_value_days: Option<f64>,
    onboarding_completion_rate: Option<f64>,
    seat_utilization: Option<f64>,
    engagement_rate: Option<f64>,
    executive_relationships: i32,
    referrals: i32,
    average_health_score: Option<f64>,
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
    data_completeness: Option<f64>,
);
