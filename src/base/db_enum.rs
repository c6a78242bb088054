//! GraphQL enums that are stored as their names in text columns.

/// Declares a GraphQL enum whose values are stored in the database as their GraphQL names:
/// each variant's name is written once, and sea-orm's `DeriveActiveEnum` does the storing.
macro_rules! db_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            async_graphql::Enum,
            sea_orm::EnumIter,
            sea_orm::DeriveActiveEnum,
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            Hash,
        )]
        #[sea_orm(rs_type = "String", db_type = "Text")]
        pub enum $name {
            $(#[graphql(name = $text)] #[sea_orm(string_value = $text)] $variant),+
        }

        impl $name {
            /// The stored (and GraphQL) name.
            pub fn as_db(self) -> String {
                sea_orm::ActiveEnum::to_value(&self)
            }

            pub fn from_db(text: &str) -> Option<Self> {
                <Self as sea_orm::ActiveEnum>::try_from_value(&text.to_owned()).ok()
            }
        }
    };
}

pub(crate) use db_enum;

/// Decodes a stored enum value; a value no enum knows means the database was edited by hand.
pub fn decode<T>(text: &str, from_db: fn(&str) -> Option<T>) -> Result<T, crate::base::error::AppError> {
    from_db(text).ok_or_else(|| crate::base::error::AppError::internal(format!("unknown stored enum value {text:?}")))
}
