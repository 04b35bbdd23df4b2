//! A booking and the two people in it, read once for everything told about one of its events.

use sea_orm::{ConnectionTrait, EntityTrait};

use super::users::{users_by_id, User};
use crate::domain::booking::BookingKind;
use crate::domain::notification::messages::{BookingFacts, Party};
use crate::entity::booking;
use crate::error::{AppError, AppResult};

/// The booking and the people a message about it may go to.
pub struct Cast {
    pub booking: booking::Model,
    pub mentor: User,
    pub student: User,
}

impl Cast {
    pub async fn load(conn: &impl ConnectionTrait, booking_id: &str) -> AppResult<Cast> {
        let booking = booking::Entity::find_by_id(booking_id)
            .one(conn)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("booking {booking_id} vanished")))?;
        let mut users = users_by_id(
            conn,
            &[booking.mentor_id.clone(), booking.student_id.clone()],
        )
        .await?;
        let missing = |id: &str| AppError::Internal(anyhow::anyhow!("user {id} vanished"));
        let mentor = users
            .remove(&booking.mentor_id)
            .ok_or_else(|| missing(&booking.mentor_id))?;
        let student = users
            .remove(&booking.student_id)
            .ok_or_else(|| missing(&booking.student_id))?;
        Ok(Cast {
            booking,
            mentor,
            student,
        })
    }

    pub fn facts(&self) -> BookingFacts<'_> {
        BookingFacts {
            booking_id: &self.booking.id,
            subject: &self.booking.subject,
            trial: self.booking.kind == BookingKind::Trial,
            mentor: party(&self.mentor),
            student: party(&self.student),
        }
    }
}

pub fn party(u: &User) -> Party<'_> {
    Party {
        id: &u.id,
        name: &u.name,
        zone: u.time_zone,
    }
}
