//! The contract's scalars: `Date` (ISO 8601 calendar date), `DateTime` (RFC 3339, UTC on output)
//! and `Decimal` (exact money as a string).
use std::str::FromStr;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime as ChronoDateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal as RustDecimal;

/// Calendar date, ISO 8601: 2026-03-31
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("invalid Date {s:?}: expected YYYY-MM-DD"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// Instant, RFC 3339 (UTC offset accepted on input, UTC on output): 2026-03-31T14:05:00Z
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(pub ChronoDateTime<Utc>);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => ChronoDateTime::parse_from_rfc3339(s)
                .map(|t| DateTime(t.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom(format!("invalid DateTime {s:?}: expected RFC 3339"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// Exact decimal money in the base currency, serialized as a string such as 1234.50
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(pub RustDecimal);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    /// Accepts a string (exact) or a JSON number (read through its shortest decimal form).
    fn parse(value: Value) -> InputValueResult<Self> {
        let text = match &value {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            _ => return Err(InputValueError::expected_type(value)),
        };
        RustDecimal::from_str(&text)
            .or_else(|_| RustDecimal::from_scientific(&text))
            .map(|d| Decimal(d.normalize()))
            .map_err(|_| InputValueError::custom(format!("invalid Decimal {text:?}")))
    }

    /// At least two decimal places (`1000.00`), more when the amount has them (`12.3456`).
    fn to_value(&self) -> Value {
        let mut d = self.0.normalize();
        if d.scale() < 2 {
            d.rescale(2);
        }
        Value::String(d.to_string())
    }
}

impl From<entity::Money> for Decimal {
    fn from(m: entity::Money) -> Self {
        Decimal(m.0)
    }
}
