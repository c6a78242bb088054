//! Row validation: each failed rule records one `BAD_USER_INPUT` error with `row` and `field`.
use std::collections::HashMap;

use entity::Money;
use rust_decimal::Decimal;

use crate::base::error::AppError;

/// The longest string accepted, and the longest free-text comment.
pub const MAX_TEXT: usize = 1_000;
pub const MAX_COMMENT: usize = 10_000;
/// Money: at most this many decimal places and integer digits.
pub const MONEY_DECIMALS: u32 = 4;
pub const MONEY_INTEGER_DIGITS: u32 = 15;

pub struct RowCheck<'b> {
    row: usize,
    /// The `ingest` input field whose row this is (see `Batch::part`), named before the field.
    list: Option<&'static str>,
    errors: &'b mut Vec<AppError>,
    failed: bool,
}

impl<'b> RowCheck<'b> {
    pub(super) fn new(row: usize, list: Option<&'static str>, errors: &'b mut Vec<AppError>) -> Self {
        RowCheck { row, list, errors, failed: false }
    }

    /// Whether every check of the row passed so far.
    pub fn ok(&self) -> bool {
        !self.failed
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.refuse(field, message.into(), |row, field, message| AppError::invalid(Some(row), &field, message));
    }

    /// The row names a record the caller may not see: `NOT_FOUND` at the row.
    pub fn not_found(&mut self, field: &str, message: impl Into<String>) {
        self.refuse(field, message.into(), |row, field, message| AppError::NotFoundAt { message, row, field });
    }

    fn refuse(&mut self, field: &str, message: String, error: impl FnOnce(usize, String, String) -> AppError) {
        // One error per row: the first rule it breaks.
        if !self.failed {
            let field = match self.list {
                Some(list) => format!("{list}.{field}"),
                None => field.to_owned(),
            };
            let message = format!("row {}: {field}: {message}", self.row);
            self.errors.push(error(self.row, field, message));
        }
        self.failed = true;
    }

    /// A required identifier or name: not empty, at most [`MAX_TEXT`] characters.
    pub fn key(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.fail(field, "must not be empty");
        } else {
            self.text(field, Some(value));
        }
    }

    /// An optional string of at most [`MAX_TEXT`] characters.
    pub fn text(&mut self, field: &str, value: Option<&str>) {
        self.max_chars(field, value, MAX_TEXT);
    }

    /// Free text of at most [`MAX_COMMENT`] characters.
    pub fn comment(&mut self, field: &str, value: Option<&str>) {
        self.max_chars(field, value, MAX_COMMENT);
    }

    /// At most `max` characters, and no NUL (PostgreSQL text cannot hold one; SQLite would cut
    /// the value short on reading).
    fn max_chars(&mut self, field: &str, value: Option<&str>, max: usize) {
        if value.is_some_and(|v| v.contains('\0')) {
            self.fail(field, "must not contain NUL characters");
        } else if value.is_some_and(|v| v.chars().count() > max) {
            self.fail(field, format!("longer than {max} characters"));
        }
    }

    /// Money: not negative, at most 4 decimal places and 15 integer digits.
    pub fn money(&mut self, field: &str, value: Decimal) -> Money {
        let value = value.normalize();
        if value.is_sign_negative() && !value.is_zero() {
            self.fail(field, "must not be negative");
        } else if value.scale() > MONEY_DECIMALS {
            self.fail(field, format!("at most {MONEY_DECIMALS} decimal places"));
        } else if value.trunc() >= Decimal::from(10_i64.pow(MONEY_INTEGER_DIGITS)) {
            self.fail(field, format!("at most {MONEY_INTEGER_DIGITS} integer digits"));
        }
        Money(value)
    }

    pub fn at_least(&mut self, field: &str, value: Option<i32>, min: i32) {
        if value.is_some_and(|v| v < min) {
            self.fail(field, format!("must be at least {min}"));
        }
    }

    pub fn between(&mut self, field: &str, value: i32, min: i32, max: i32) {
        if !(min..=max).contains(&value) {
            self.fail(field, format!("must be between {min} and {max}"));
        }
    }

    /// `later` (when given) must not come before `earlier`.
    pub fn not_before<T: PartialOrd>(&mut self, field: &str, later: Option<T>, earlier: T, earlier_name: &str) {
        if later.is_some_and(|l| l < earlier) {
            self.fail(field, format!("must not be before {earlier_name}"));
        }
    }

    /// Resolves a reference to a record that exists (or an earlier row wrote).
    pub fn reference<'m, V>(
        &mut self,
        field: &str,
        key: &str,
        known: &'m HashMap<String, V>,
        what: &str,
    ) -> Option<&'m V> {
        let found = known.get(key);
        if found.is_none() {
            self.fail(field, format!("unknown {what} {key:?}"));
        }
        found
    }

    /// Resolves an optional reference.
    pub fn opt_reference<'m, V>(
        &mut self,
        field: &str,
        key: Option<&str>,
        known: &'m HashMap<String, V>,
        what: &str,
    ) -> Option<&'m V> {
        key.and_then(|k| self.reference(field, k, known, what))
    }
}
