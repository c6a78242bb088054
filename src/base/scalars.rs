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

#[cfg(test)]
mod tests {
    //! The scalars' parsers are the first code to see client input: whatever arrives, they answer
    //! with a value or an error, never a panic, and what they print they read back unchanged.
    #![allow(clippy::unwrap_used, reason = "a failed expectation is a failed test")]
    use proptest::prelude::*;

    use super::*;

    fn parse<T: ScalarType>(value: Value) -> Option<T> {
        T::parse(value).ok()
    }

    /// Strings shaped like the scalars' inputs, with their usual ways of going wrong.
    fn scalar_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("-".to_owned()),
            Just("+".to_owned()),
            Just(".".to_owned()),
            Just("e".to_owned()),
            Just("E".to_owned()),
            Just("T".to_owned()),
            Just(":".to_owned()),
            Just("Z".to_owned()),
            Just(" ".to_owned()),
            (0u64..u64::MAX).prop_map(|n| n.to_string()),
            (0u32..100).prop_map(|n| format!("{n:02}")),
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn any_string_parses_or_is_refused_without_panic(text in scalar_like()) {
            if let Some(date) = parse::<Date>(Value::String(text.clone())) {
                prop_assert_eq!(parse::<Date>(date.to_value()), Some(date));
            }
            if let Some(time) = parse::<DateTime>(Value::String(text.clone())) {
                prop_assert_eq!(parse::<DateTime>(time.to_value()), Some(time));
            }
            if let Some(amount) = parse::<Decimal>(Value::String(text)) {
                prop_assert_eq!(parse::<Decimal>(amount.to_value()), Some(amount));
            }
        }

        #[test]
        fn any_json_number_is_a_decimal_or_refused(number in any::<f64>()) {
            if let Some(n) = serde_json::Number::from_f64(number) {
                let _ = parse::<Decimal>(Value::Number(n));
            }
        }

        #[test]
        fn dates_round_trip(days in -100_000i64..100_000) {
            let date = Date(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Duration::days(days));
            prop_assert_eq!(parse::<Date>(date.to_value()), Some(date));
        }

        #[test]
        fn instants_round_trip(seconds in -5_000_000_000i64..5_000_000_000, nanos in 0u32..1_000_000_000) {
            let time = DateTime(ChronoDateTime::from_timestamp(seconds, nanos).unwrap());
            prop_assert_eq!(parse::<DateTime>(time.to_value()), Some(time));
        }

        #[test]
        fn decimals_round_trip_exactly(mantissa in any::<i64>(), scale in 0u32..=28) {
            let amount = Decimal(RustDecimal::new(mantissa, scale).normalize());
            prop_assert_eq!(parse::<Decimal>(amount.to_value()), Some(amount));
        }
    }
}
