//! Fair use in the schema: every operation is charged its cost (the complexity the schema
//! computes while validating, before any resolver runs) from the caller's reading bucket, and a
//! request over budget is refused there, `RATE_LIMITED`; every answer reports its cost in
//! `extensions.cost`, as Shopify's API does, so that an integration can pace itself: `requested`
//! and `actual` (the same here: the schema's cost of a query is known before it runs, and
//! charged in full), `remaining`, and the bucket (`throttleStatus`). Writes are charged their
//! rows as well, when their batch begins (`ingest::Batch::begin`).
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextValidation};
use async_graphql::{Pos, Response, ServerError, ValidationResult};
use serde_json::json;

use crate::auth::Caller;
use crate::auth::budget::{Budgets, Charge};

/// Request data that exempts a request from the charge: the pages of an export after its
/// first, which the export's request paid for.
pub struct Unmetered;

/// The extension's factory, installed on the schema.
pub struct FairUse;

impl ExtensionFactory for FairUse {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Metered::default())
    }
}

/// One request's charge.
#[derive(Default)]
struct Metered {
    charge: Mutex<Option<Charge>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for Metered {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let (Some(budgets), Some(caller)) = (ctx.data_opt::<Arc<Budgets>>(), ctx.data_opt::<Caller>()) else {
            return Ok(result);
        };
        if ctx.data_opt::<Unmetered>().is_some() {
            return Ok(result);
        }
        match budgets.charge_reads(caller, result.complexity) {
            Ok(charge) => {
                if let Ok(mut slot) = self.charge.lock() {
                    *slot = Some(charge);
                }
                Ok(result)
            }
            Err(refused) => Err(vec![async_graphql::Error::from(refused).into_server_error(Pos::default())]),
        }
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let charge = self.charge.lock().ok().and_then(|slot| *slot);
        if let Some(charge) = charge {
            let cost = json!({
                "requested": charge.requested,
                "actual": charge.requested,
                "remaining": charge.remaining,
                "throttleStatus": {
                    "maximumAvailable": charge.limit,
                    "currentlyAvailable": charge.remaining,
                    "restoreRate": charge.per_second,
                },
            });
            if let Ok(value) = async_graphql::Value::from_json(cost) {
                response.extensions.insert("cost".into(), value);
            }
        }
        response
    }
}

/// The charge an answer's `extensions.cost` reports, for the `RateLimit-*` headers: the
/// bucket's size, what remains, and the seconds until it is full again.
pub fn reported(cost: &serde_json::Value) -> Option<(u64, u64, u64)> {
    let status = &cost["throttleStatus"];
    let limit = status["maximumAvailable"].as_u64()?;
    let remaining = status["currentlyAvailable"].as_u64()?;
    let rate = status["restoreRate"].as_u64()?.max(1);
    Some((limit, remaining, (limit.saturating_sub(remaining)).div_ceil(rate)))
}
