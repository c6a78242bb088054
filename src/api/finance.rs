//! `financeSettings` and `setFinanceSettings` (KPIS.md, section 9): the gross margin that `ltv`
//! and `cacPaybackMonths` use, for FINANCE and ADMIN.
use async_graphql::{Context, Object, SimpleObject};
use rust_decimal::prelude::ToPrimitive;

use crate::auth::scope::Scope;
use crate::base::db::WriteAccess;
use crate::base::error::AppError;
use crate::kpis::finance::{self, FINANCE_ROLES};

#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceSettings {
    pub gross_margin: f64,
    /// KPIS.md 10: every money figure is in it.
    pub base_currency: String,
}

impl FinanceSettings {
    fn of(settings: finance::FinanceSettings) -> Self {
        FinanceSettings {
            gross_margin: settings.gross_margin.to_f64().unwrap_or(1.0),
            base_currency: settings.base_currency,
        }
    }
}

#[derive(Default)]
pub struct FinanceQuery;

#[Object]
impl FinanceQuery {
    /// FINANCE and ADMIN.
    #[graphql(complexity = "crate::api::cost::lookup(child_complexity)")]
    async fn finance_settings(&self, ctx: &Context<'_>) -> async_graphql::Result<FinanceSettings> {
        Ok(FinanceSettings::of(finance::read(&Scope::for_reads(ctx)?).await?))
    }
}

#[derive(Default)]
pub struct FinanceMutation;

#[Object]
impl FinanceMutation {
    /// FINANCE and ADMIN. 0 < grossMargin <= 1.
    async fn set_finance_settings(
        &self,
        ctx: &Context<'_>,
        gross_margin: f64,
    ) -> async_graphql::Result<FinanceSettings> {
        let writer = Scope::for_writes(ctx)?;
        writer.caller().require(FINANCE_ROLES, "change the finance settings")?;
        let gross_margin = finance::gross_margin(gross_margin)?;
        let txn = writer.begin_write(WriteAccess::Exclusive).await?;
        let settings = finance::set_gross_margin(&txn, writer.caller(), gross_margin).await?;
        crate::base::db::commit_write(txn).await.map_err(AppError::from)?;
        Ok(FinanceSettings::of(settings))
    }
}
