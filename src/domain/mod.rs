//! Pure scheduling logic: zones, wall-clock times, weekly patterns and slot computation. No I/O.

/// Declares a domain enum once. The enum gets its stored (and API) name per variant in `$case`
/// (`as_str`, `FromStr`), every variant in declaration order (`ALL`), serde in the same names, and a
/// macro `$list!` that hands the variant list to another macro, so that another layer can mirror the
/// enum (the API's GraphQL enums do) without listing the variants again. Adding a variant is one edit.
///
/// Written `listed_enum! { $ /// docs \n pub enum Name, name_list, "SCREAMING_SNAKE_CASE" { A, B } }`:
/// the leading `$` lets this macro write the list macro's own `$` variables.
macro_rules! listed_enum {
    ($d:tt $(#[$meta:meta])* $vis:vis enum $name:ident, $list:ident, $case:literal {
        $($(#[$vmeta:meta])* $variant:ident),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, strum::IntoStaticStr, strum::VariantArray,
        )]
        #[serde(rename_all = $case)]
        #[strum(serialize_all = $case)]
        $vis enum $name { $($(#[$vmeta])* $variant),* }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

            /// The stored name (also the API's).
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!("unknown {} {s:?}", stringify!($name)))
            }
        }

        /// Hands this enum's variants to the macro `$then`: `$list!(then args...)` expands to
        /// `then! { args... Name { A, B, ... } }`.
        #[allow(unused_macros)]
        macro_rules! $list {
            ($d then:ident $d ($d args:tt)*) => {
                $d then! { $d ($d args)* $name { $($variant),* } }
            };
        }
        #[allow(unused_imports)]
        pub(crate) use $list;
    };
}

pub mod booking;
pub mod calendar;
pub mod email;
pub mod error;
pub mod event;
pub mod interval;
pub mod join;
pub mod meeting;
pub mod money;
pub mod notification;
pub mod recurrence;
pub mod settings;
pub mod slots;
pub mod sms;
pub mod time;
pub mod timeline;
pub mod wallclock;
pub mod weekly;

pub use error::{DomainError, DomainResult};
