//! The finance settings (KPIS.md, section 9): `grossMargin`, used by `ltv` and
//! `cacPaybackMonths`, is the value last set with `setFinanceSettings` (`0 < grossMargin <= 1`),
//! `1.0` until then. It is a setting, not a dated fact: a change applies to every period from the
//! moment it commits. The Float is read as the shortest decimal that gives it back (`0.78` is
//! 78/100), so the KPIs built on it stay exact.
use std::str::FromStr;

use chrono::Utc;
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, Set};

use crate::auth::scope::Scope;
use crate::auth::{Caller, Role};
use crate::base::error::{AppError, AppResult};
use entity::finance_settings;

/// The settings' single row.
const ROW_ID: i64 = 1;

/// Who may read and change the finance settings.
pub const FINANCE_ROLES: &[Role] = &[Role::Admin, Role::Finance];

/// The currency every money figure is in, until currencies are configured (KPIS.md, section 10).
const DEFAULT_BASE_CURRENCY: &str = "USD";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinanceSettings {
    /// `0 < grossMargin <= 1`, exactly as given.
    pub gross_margin: Decimal,
    pub base_currency: String,
}

impl Default for FinanceSettings {
    fn default() -> Self {
        FinanceSettings { gross_margin: Decimal::ONE, base_currency: DEFAULT_BASE_CURRENCY.to_owned() }
    }
}

impl FinanceSettings {
    fn describe(&self) -> String {
        serde_json::json!({ "grossMargin": self.gross_margin.to_string(), "baseCurrency": self.base_currency })
            .to_string()
    }
}

/// The settings in force, for a caller who may read them (FINANCE and ADMIN; else `FORBIDDEN`).
pub async fn read(reader: &Scope<'_>) -> AppResult<FinanceSettings> {
    reader.caller().require(FINANCE_ROLES, "read the finance settings")?;
    load(reader.connection()).await
}

/// The settings in force: the stored ones, or the defaults.
pub async fn load(db: &impl ConnectionTrait) -> AppResult<FinanceSettings> {
    let Some(row) = finance_settings::Entity::find_by_id(ROW_ID).one(db).await? else {
        return Ok(FinanceSettings::default());
    };
    let gross_margin = Decimal::from_str(&row.gross_margin)
        .map_err(|e| AppError::internal(format!("stored gross margin {:?}: {e}", row.gross_margin)))?;
    Ok(FinanceSettings { gross_margin, base_currency: row.base_currency })
}

/// `grossMargin` as the exact decimal it stands for: the shortest decimal that reads back as
/// the same Float (Rust's `Display` of an `f64`). `BAD_USER_INPUT` naming the argument unless
/// `0 < grossMargin <= 1`.
pub fn gross_margin(value: f64) -> AppResult<Decimal> {
    let refuse = || AppError::invalid(None, "grossMargin", "grossMargin must be a number above 0 and at most 1");
    if !value.is_finite() || value <= 0.0 || value > 1.0 {
        return Err(refuse());
    }
    let exact = Decimal::from_str(&value.to_string()).map_err(|_| refuse())?;
    if exact.is_zero() { Err(refuse()) } else { Ok(exact.normalize()) }
}

/// Stores `gross_margin` and audits the change, in `txn` (the caller commits).
pub async fn set_gross_margin(
    txn: &DatabaseTransaction,
    actor: &Caller,
    gross_margin: Decimal,
) -> AppResult<FinanceSettings> {
    let before = load(txn).await?;
    let after = FinanceSettings { gross_margin, ..before.clone() };
    let row = finance_settings::ActiveModel {
        id: Set(ROW_ID),
        gross_margin: Set(gross_margin.to_string()),
        base_currency: Set(after.base_currency.clone()),
        updated_at: Set(Utc::now()),
    };
    let stored = finance_settings::Entity::find_by_id(ROW_ID).one(txn).await?.is_some();
    if stored {
        row.update(txn).await?
    } else {
        row.insert(txn).await?
    };
    actor
        .audit_row("setFinanceSettings", "finance_settings", ROW_ID, before.describe(), after.describe())
        .insert(txn)
        .await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_float_is_read_as_the_shortest_decimal_that_gives_it_back() {
        assert_eq!(gross_margin(0.78).ok(), Decimal::from_str("0.78").ok());
        assert_eq!(gross_margin(1.0).ok(), Some(Decimal::ONE));
        assert_eq!(gross_margin(0.1 + 0.2).ok(), Decimal::from_str("0.30000000000000004").ok());
        for refused in [0.0, -0.5, 1.000_000_1, f64::NAN, f64::INFINITY, 1e-300] {
            assert!(gross_margin(refused).is_err(), "{refused}");
        }
    }
}
