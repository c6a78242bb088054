//! The shared path of every record that belongs to an account and has an externalId (feedback,
//! tickets, touchpoints, subscriptions, advocacy, feature requests).
use std::collections::HashMap;

use sea_orm::EntityTrait;

use super::{AccountRef, Batch, Record, RowCheck, fetch_to_change, hidden_accounts};
use crate::base::error::AppResult;

/// A record owned by an account, keyed by its externalId.
pub trait AccountRecord: Record {
    fn external_id(&self) -> &str;
    fn account_id(&self) -> i64;
    /// The column holding the externalId.
    fn external_id_column() -> <Self::Entity as EntityTrait>::Column;
}

macro_rules! account_record {
    ($($module:ident),+) => {$(
        impl AccountRecord for entity::$module::Model {
            fn external_id(&self) -> &str {
                &self.external_id
            }
            fn account_id(&self) -> i64 {
                self.account_id
            }
            fn external_id_column() -> entity::$module::Column {
                entity::$module::Column::ExternalId
            }
        }
    )+};
}

account_record!(subscription, feedback, ticket, touchpoint, advocacy, feature_request);

/// The keys every account-record input row carries.
pub trait RecordKeys {
    fn external_id(&self) -> &str;
    fn account_external_id(&self) -> &str;
}

/// Implements [`RecordKeys`] for input objects with `external_id` and `account_external_id`.
macro_rules! record_keys {
    ($($input:ty),+) => {$(
        impl $crate::ingest::RecordKeys for $input {
            fn external_id(&self) -> &str {
                &self.external_id
            }
            fn account_external_id(&self) -> &str {
                &self.account_external_id
            }
        }
    )+};
}

pub(crate) use record_keys;

/// Implements [`Part`](super::Part) for input rows of account records that
/// [`Batch::account_records`] writes without further look-ups: `Input => "mutation", writers`.
macro_rules! account_record_part {
    ($($input:ty => $mutation:literal, $writers:expr);+ $(;)?) => {$(
        impl $crate::ingest::Part for $input {
            const MUTATION: &'static str = $mutation;
            const WRITERS: &'static [$crate::auth::Role] = $writers;
            fn write<'b>(
                batch: &'b mut $crate::ingest::Batch<'_>,
                input: &'b [Self],
            ) -> $crate::ingest::Writing<'b> {
                Box::pin(batch.account_records(input, &()))
            }
        }
    )+};
}

pub(crate) use account_record_part;

/// An input row of such a record, which knows how to check and build its record.
pub trait AccountRecordInput: RecordKeys + Sync {
    type Record: AccountRecord;
    /// Look-ups beyond the account that building needs (users by email for touchpoints).
    type Extra: Sync;

    /// The externalId of another record of the same kind this row refers to (a renewal's
    /// renewed subscription), fetched along with the batch's own records.
    fn same_kind_reference(&self) -> Option<&str> {
        None
    }

    /// Checks the row's own fields (failures go to `check`) and makes its record. `known` holds
    /// the records of the kind stored or written by earlier rows, by externalId.
    fn build(
        &self,
        check: &mut RowCheck<'_>,
        account: AccountRef,
        known: &HashMap<String, Self::Record>,
        extra: &Self::Extra,
    ) -> Self::Record;
}

impl Batch<'_> {
    /// Upserts account records: checks each row's externalId and account (which must be one the
    /// caller may write), lets the row check the rest and build its record, and writes it. A
    /// record that exists under an account the caller may not write is refused.
    pub async fn account_records<I: AccountRecordInput>(&mut self, input: &[I], extra: &I::Extra) -> AppResult<()> {
        let account_keys: Vec<String> = input.iter().map(|r| r.account_external_id().to_owned()).collect();
        let accounts = self.accounts(account_keys).await?;
        let keys: Vec<String> = input
            .iter()
            .flat_map(|r| std::iter::once(r.external_id()).chain(r.same_kind_reference()))
            .map(str::to_owned)
            .collect();
        let mut known = fetch_to_change::<<I::Record as Record>::Entity, String>(
            self.txn(),
            I::Record::external_id_column(),
            keys,
            |m| m.external_id().to_owned(),
        )
        .await?;
        let hidden = hidden_accounts(
            self.txn(),
            self.visibility,
            known.values().map(AccountRecord::account_id).collect::<Vec<_>>(),
        )
        .await?;
        for (row, r) in input.iter().enumerate() {
            let mut check = self.row(row);
            check.key("externalId", r.external_id());
            if known.get(r.external_id()).is_some_and(|e| hidden.contains(&e.account_id())) {
                check.fail("externalId", "is used by a record of an account you may not write");
            }
            let Some(account) =
                check.reference("accountExternalId", r.account_external_id(), &accounts, "account").copied()
            else {
                continue;
            };
            let model = r.build(&mut check, account, &known, extra);
            if !check.ok() {
                continue;
            }
            let saved = self.upsert(r.external_id(), known.get(r.external_id()), model).await?;
            known.insert(r.external_id().to_owned(), saved);
        }
        Ok(())
    }
}
