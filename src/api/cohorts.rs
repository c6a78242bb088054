//! `cohorts`: retention by cohort of first paid month (KPIS.md, section 9; see
//! [`crate::kpis::cohorts`]), over the caller's scope as `kpis`.
use async_graphql::{Context, Object, SimpleObject};

use crate::auth::scope::Scope;
use crate::base::calendar::{month_index, month_start};
use crate::base::scalars::{Date, Decimal};
use crate::kpis::ScopeInput;
use crate::kpis::cohorts::{self, CohortMetric};
use crate::kpis::scope::KpiScope;

#[derive(SimpleObject, Clone, Debug)]
pub struct CohortRow {
    /// First day of the cohort month.
    pub cohort: Date,
    pub size: i32,
    pub start_mrr: Decimal,
    /// retention[k] for the month cohort + k, k = 0..months; null for a month after the current one.
    pub retention: Vec<Option<f64>>,
}

#[derive(Default)]
pub struct CohortQuery;

#[Object]
impl CohortQuery {
    /// Retention by cohort of first paid month (KPIS.md 9). One row per cohort month from..to, oldest first.
    #[graphql(complexity = "crate::api::cost::report(child_complexity)")]
    async fn cohorts(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        metric: CohortMetric,
        scope: Option<ScopeInput>,
        #[graphql(default = 12)] months: Option<i32>,
    ) -> async_graphql::Result<Vec<CohortRow>> {
        let cohort_months = cohorts::cohort_months(from, to)?;
        let months = cohorts::followed_months(months)?;
        let scope = KpiScope::resolve(&Scope::for_reads(ctx)?, scope, None).await?;
        let current = month_index(chrono::Utc::now().date_naive());
        let rows = cohorts::cohorts(&scope, cohort_months, months, metric, current).await?;
        Ok(rows
            .into_iter()
            .map(|row| CohortRow {
                cohort: Date(month_start(row.cohort)),
                size: i32::try_from(row.size).unwrap_or(i32::MAX),
                start_mrr: Decimal(row.start_mrr),
                retention: row.retention,
            })
            .collect())
    }
}
