//! The renewals list (KPIS.md, section 9): the subscriptions of the accounts S of the scope
//! *due* in `[from, to]` as section 1's renewals count them (their last active day,
//! `endDate - 1 day`, in `[from, to]`, both included), so the list for a quarter holds exactly
//! what that quarter's `renewalRate` counts; ordered by `endDate`, then `externalId` (code
//! points); `renewed` when some subscription's `renewsExternalId` names one.
use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::scope::KpiScope;
use crate::base::error::{AppError, AppResult};
use crate::base::sql::{Sql, count, money};
use entity::subscription;

/// Where a page starts: after the renewal of this `endDate` and subscription `externalId`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenewalCursor {
    pub end_date: NaiveDate,
    pub external_id: String,
}

const CURSOR_PREFIX: &str = "renewal:";

impl RenewalCursor {
    pub fn of(renewal: &DueRenewal) -> RenewalCursor {
        RenewalCursor { end_date: renewal.end_date, external_id: renewal.subscription.external_id.clone() }
    }

    /// `renewal:<endDate>:<externalId>` (an externalId may hold `:` itself).
    pub fn encode(&self) -> String {
        format!("{CURSOR_PREFIX}{}:{}", self.end_date, self.external_id)
    }

    pub fn decode(cursor: &str) -> AppResult<RenewalCursor> {
        let refuse = || AppError::invalid(None, "after", "not a cursor this API returned");
        let rest = cursor.strip_prefix(CURSOR_PREFIX).ok_or_else(refuse)?;
        let (date, external_id) = rest.split_once(':').ok_or_else(refuse)?;
        let end_date = date.parse::<NaiveDate>().map_err(|_| refuse())?;
        Ok(RenewalCursor { end_date, external_id: external_id.to_owned() })
    }
}

/// The subscriptions of S due in `[from, to]`.
pub struct DueRenewals<'s, 'a> {
    scope: &'s KpiScope<'a>,
    /// The range of `endDate`: `from + 1 ..= to + 1`.
    first_end: NaiveDate,
    last_end: NaiveDate,
}

/// One renewal of a page.
pub struct DueRenewal {
    pub subscription: subscription::Model,
    /// The subscription's `endDate` (a due subscription has one).
    pub end_date: NaiveDate,
    pub renewed: bool,
}

impl<'s, 'a> DueRenewals<'s, 'a> {
    pub fn new(scope: &'s KpiScope<'a>, from: NaiveDate, to: NaiveDate) -> AppResult<Self> {
        let next = |day: NaiveDate| {
            day.checked_add_days(Days::new(1)).ok_or_else(|| AppError::invalid(None, "to", "to is out of range"))
        };
        Ok(DueRenewals { scope, first_end: next(from)?, last_end: next(to)? })
    }

    /// `FROM subscriptions s WHERE` the subscription is due and its account in S.
    fn push_due(&self, sql: &mut Sql) {
        sql.push(" FROM subscriptions s WHERE s.end_date BETWEEN ")
            .bind(self.first_end)
            .push(" AND ")
            .bind(self.last_end)
            .push(" AND s.account_id IN (")
            .select(&self.scope.accounts)
            .push(")");
    }

    /// Up to `limit` renewals in order, after `after`.
    pub async fn page(&self, after: Option<&RenewalCursor>, limit: u64) -> AppResult<Vec<DueRenewal>> {
        let db = self.scope.connection();
        let mut sql = Sql::new(db.get_database_backend());
        let external_id = sql.code_points("s.external_id");
        sql.push("SELECT s.*");
        self.push_due(&mut sql);
        if let Some(after) = after {
            sql.push(" AND (s.end_date > ")
                .bind(after.end_date)
                .push(" OR (s.end_date = ")
                .bind(after.end_date)
                .push(&format!(" AND {external_id} > "))
                .bind(after.external_id.clone())
                .push("))");
        }
        sql.push(&format!(" ORDER BY s.end_date, {external_id} LIMIT ")).bind(limit as i64);
        let page = subscription::Entity::find().from_raw_sql(sql.statement()).all(db).await?;
        let ids: Vec<i64> = page.iter().map(|s| s.id).collect();
        let renewing = subscription::Entity::find()
            .filter(subscription::Column::RenewsId.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .filter_map(|s| s.renews_id)
            .collect::<std::collections::HashSet<i64>>();
        Ok(page
            .into_iter()
            .filter_map(|s| {
                Some(DueRenewal { end_date: s.end_date?, renewed: renewing.contains(&s.id), subscription: s })
            })
            .collect())
    }

    /// How many renewals are due, and the sum of their MRR, over every page.
    pub async fn totals(&self) -> AppResult<(i64, Decimal)> {
        let db = self.scope.connection();
        let backend = db.get_database_backend();
        let mut sql = Sql::new(backend);
        let mrr = sql.money("s.mrr");
        sql.push(&format!("SELECT COUNT(*) AS renewals, SUM({mrr}) AS mrr"));
        self.push_due(&mut sql);
        let row = db.query_one_raw(sql.statement()).await?.ok_or_else(|| AppError::internal("no totals row"))?;
        Ok((count(&row, "renewals")?, money(backend, &row, "mrr")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_even_with_a_colon_in_the_external_id() {
        let cursor = RenewalCursor {
            end_date: NaiveDate::from_ymd_opt(2026, 5, 11).unwrap_or_default(),
            external_id: "SUB:46".into(),
        };
        assert_eq!(RenewalCursor::decode(&cursor.encode()).ok(), Some(cursor));
        for bad in ["", "renewal:", "renewal:2026-13-01:SUB", "account:4", "renewal:2026-05-11"] {
            assert!(RenewalCursor::decode(bad).is_err(), "{bad}");
        }
    }
}
