//! GraphQL enums that are stored as their names in text columns.

/// Declares a GraphQL enum whose values are stored in the database as their GraphQL names.
macro_rules! db_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[graphql(name = $text)] $variant),+
        }

        impl $name {
            /// The stored (and GraphQL) name.
            pub fn as_db(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn from_db(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

pub(crate) use db_enum;

/// Decodes a stored enum value; a value no enum knows means the database was edited by hand.
pub fn decode<T>(text: &str, from_db: fn(&str) -> Option<T>) -> Result<T, crate::base::error::AppError> {
    from_db(text).ok_or_else(|| crate::base::error::AppError::internal(format!("unknown stored enum value {text:?}")))
}
