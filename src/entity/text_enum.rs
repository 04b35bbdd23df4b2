//! Enums stored as text columns: the entities' fields are the domain's own enums, so a status is
//! compared and set as a value (`session.status == SessionStatus::Scheduled`,
//! `Column::Status.eq(SessionStatus::Scheduled)`), never as a string. The domain knows nothing of
//! the database (SeaORM's `DeriveActiveEnum` would have to sit on the domain enum), so the column
//! traits are implemented here, through each enum's `as_str` and `FromStr`. A stored name that no
//! longer parses fails the read with a type error naming it.

use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryFromU64, TryGetError, TryGetable, Value};

use crate::auth::Role;
use crate::domain::booking::{BookingKind, BookingStatus, Frequency, PaymentStatus, SessionStatus};
use crate::domain::calendar::{
    CalendarProvider, ConflictKind, ConflictPolicy, ConflictResolution, SyncState,
};
use crate::domain::email::EmailStatus;
use crate::domain::meeting::{MeetingProvider, MeetingStatus};
use crate::domain::notification::{Channel, NotificationKind};
use crate::domain::sms::SmsStatus;

macro_rules! text_enum {
    ($($ty:ident),* $(,)?) => {$(
        impl From<$ty> for Value {
            fn from(v: $ty) -> Self {
                Value::String(Some(Box::new(v.as_str().to_owned())))
            }
        }

        impl TryGetable for $ty {
            fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
                let text = String::try_get_by(res, index)?;
                text.parse()
                    .map_err(|e: String| TryGetError::DbErr(DbErr::Type(e)))
            }
        }

        impl ValueType for $ty {
            fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
                let text = <String as ValueType>::try_from(v)?;
                text.parse().map_err(|_| ValueTypeErr)
            }

            fn type_name() -> String {
                stringify!($ty).to_owned()
            }

            fn array_type() -> ArrayType {
                ArrayType::String
            }

            fn column_type() -> ColumnType {
                ColumnType::Text
            }
        }

        // Composite primary keys holding one of these (a preference's channel) need it; no value
        // of these comes from an auto-increment.
        impl TryFromU64 for $ty {
            fn try_from_u64(_: u64) -> Result<Self, DbErr> {
                Err(DbErr::ConvertFromU64(stringify!($ty)))
            }
        }

        impl Nullable for $ty {
            fn null() -> Value {
                Value::String(None)
            }
        }
    )*};
}

text_enum!(
    BookingKind,
    CalendarProvider,
    ConflictPolicy,
    ConflictKind,
    ConflictResolution,
    SyncState,
    BookingStatus,
    Frequency,
    PaymentStatus,
    SessionStatus,
    EmailStatus,
    MeetingProvider,
    MeetingStatus,
    Channel,
    NotificationKind,
    Role,
    SmsStatus,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_unknown_names_are_refused() {
        let stored: Value = SessionStatus::Cancelled.into();
        assert_eq!(stored, Value::String(Some(Box::new("CANCELLED".into()))));
        assert_eq!(
            <SessionStatus as ValueType>::try_from(stored).unwrap(),
            SessionStatus::Cancelled
        );
        let role: Value = Role::Mentor.into();
        assert_eq!(<Role as ValueType>::try_from(role).unwrap(), Role::Mentor);
        let unknown = Value::String(Some(Box::new("PAUSED".into())));
        assert!(<BookingStatus as ValueType>::try_from(unknown).is_err());
    }
}
