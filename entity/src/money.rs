//! Exact money for the database.
//!
//! sea-orm reads a SQLite `Decimal` through `f64`, which is not exact. `Money` binds as a decimal
//! rescaled to 4 places: PostgreSQL stores it in `NUMERIC(19,4)`; SQLite, whose money columns are
//! declared `TEXT`, stores the canonical string (`"1921.3100"`), which is exact and lets SQL add
//! amounts as integers (see `cs_kpi::db::money_sum`). Reading tries the text form first (SQLite)
//! and falls back to `NUMERIC` (PostgreSQL).
use std::str::FromStr;

use rust_decimal::Decimal;
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable, Value};
use serde::{Deserialize, Serialize};

/// Decimal places kept for every stored amount.
pub const MONEY_SCALE: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(pub Decimal);

impl Money {
    /// The amount normalised to [`MONEY_SCALE`] places, as stored.
    pub fn stored(self) -> Decimal {
        let mut d = self.0;
        d.rescale(MONEY_SCALE);
        d
    }
}

impl From<Money> for Value {
    fn from(m: Money) -> Self {
        Value::Decimal(Some(m.stored()))
    }
}

impl TryGetable for Money {
    fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
        match String::try_get_by(res, idx) {
            Ok(text) => Decimal::from_str(&text)
                .map(|d| Money(d.normalize()))
                .map_err(|e| TryGetError::DbErr(DbErr::Type(format!("money {text:?}: {e}")))),
            Err(TryGetError::Null(col)) => Err(TryGetError::Null(col)),
            Err(_) => Decimal::try_get_by(res, idx).map(|d| Money(d.normalize())),
        }
    }
}

impl ValueType for Money {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        match v {
            Value::Decimal(Some(d)) => Ok(Money(d.normalize())),
            Value::String(Some(s)) => Decimal::from_str(&s).map(|d| Money(d.normalize())).map_err(|_| ValueTypeErr),
            _ => Err(ValueTypeErr),
        }
    }

    fn type_name() -> String {
        "Money".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::Decimal
    }

    fn column_type() -> ColumnType {
        ColumnType::Decimal(Some((19, 4)))
    }
}

impl Nullable for Money {
    fn null() -> Value {
        Value::Decimal(None)
    }
}

impl sea_orm::sea_query::postgres_array::NotU8 for Money {}
