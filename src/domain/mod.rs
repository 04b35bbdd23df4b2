//! Pure scheduling logic: zones, wall-clock times, weekly patterns and slot computation. No I/O.

/// Stored names of domain enums, the same words the API uses: `as_str` and `FromStr`.
macro_rules! stored_enum {
    ($name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)*
                    other => Err(format!("unknown {} {other:?}", stringify!($name))),
                }
            }
        }
    };
}

pub mod booking;
pub mod email;
pub mod error;
pub mod interval;
pub mod join;
pub mod notification;
pub mod recurrence;
pub mod settings;
pub mod slots;
pub mod time;
pub mod timeline;
pub mod wallclock;
pub mod weekly;

pub use error::{DomainError, DomainResult};
