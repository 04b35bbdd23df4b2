//! Reading bookings and sessions from the caller's side, a page at a time, and in batches for
//! GraphQL's data loaders.
//!
//! Bookings are listed newest first (ids are time-ordered); sessions by start time. Cursors are
//! opaque to clients: hex of the last item's sort key.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{ensure_party, is_party, no_such, Booking, BookingService, Session};
use crate::auth::{Principal, Role};
use crate::entity::{booking, session};
use crate::error::{AppError, AppResult};
use crate::service::page::{decode_cursor, page_of, page_size, Page};

/// Which sessions to list: those starting in `[from, to)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The rows of `id`/`mentor_id`/`student_id` tables the caller may see.
fn visible_to(p: &Principal, mentor: impl ColumnTrait, student: impl ColumnTrait) -> Condition {
    match p.role {
        Role::Admin => Condition::all(),
        Role::Mentor => Condition::all().add(mentor.eq(p.user_id.as_str())),
        Role::Student => Condition::all().add(student.eq(p.user_id.as_str())),
    }
}

impl BookingService {
    /// One booking, if the caller is a party to it (or an admin); `None` when there is none.
    pub async fn booking(&self, p: &Principal, id: &str) -> AppResult<Option<Booking>> {
        let Some(row) = booking::Entity::find_by_id(id).one(self.db.conn()).await? else {
            return Ok(None);
        };
        if !is_party(p, &row.mentor_id, &row.student_id) {
            return Ok(None);
        }
        row.try_into().map(Some)
    }

    /// The caller's bookings, newest first.
    pub async fn bookings(
        &self,
        p: &Principal,
        first: i32,
        after: Option<&str>,
    ) -> AppResult<Page<Booking>> {
        let size = page_size(first)?;
        let mut query = booking::Entity::find().filter(visible_to(
            p,
            booking::Column::MentorId,
            booking::Column::StudentId,
        ));
        if let Some(after) = after {
            query = query.filter(booking::Column::Id.lt(decode_cursor(after)?));
        }
        let rows = query
            .order_by_desc(booking::Column::Id)
            .limit(size + 1)
            .all(self.db.conn())
            .await?;
        page_of(rows, size, |m| m.id.clone())
    }

    /// The caller's sessions (every status) by start time.
    pub async fn sessions(
        &self,
        p: &Principal,
        filter: SessionFilter,
        first: i32,
        after: Option<&str>,
    ) -> AppResult<Page<Session>> {
        let size = page_size(first)?;
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if to <= from {
                return Err(AppError::bad_input("to", "must be after from"));
            }
        }
        let mut query = session::Entity::find().filter(visible_to(
            p,
            session::Column::MentorId,
            session::Column::StudentId,
        ));
        if let Some(from) = filter.from {
            query = query.filter(session::Column::StartAt.gte(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(session::Column::StartAt.lt(to));
        }
        if let Some(after) = after {
            let key = decode_cursor(after)?;
            let (start, id) = key
                .split_once('|')
                .and_then(|(s, id)| Some((s.parse::<DateTime<Utc>>().ok()?, id.to_string())))
                .ok_or_else(|| AppError::bad_input("after", "not a cursor this API gave out"))?;
            query = query.filter(
                Condition::any()
                    .add(session::Column::StartAt.gt(start))
                    .add(
                        Condition::all()
                            .add(session::Column::StartAt.eq(start))
                            .add(session::Column::Id.gt(id)),
                    ),
            );
        }
        let rows = query
            .order_by_asc(session::Column::StartAt)
            .order_by_asc(session::Column::Id)
            .limit(size + 1)
            .all(self.db.conn())
            .await?;
        page_of(rows, size, |m| {
            format!("{}|{}", m.start_at.to_rfc3339(), m.id)
        })
    }

    /// One session, if the caller is a party to it (or an admin).
    pub async fn session(&self, p: &Principal, id: &str) -> AppResult<Session> {
        let row = session::Entity::find_by_id(id)
            .one(self.db.conn())
            .await?
            .ok_or_else(|| no_such("session"))?;
        ensure_party(p, &row.mentor_id, &row.student_id, "session")?;
        row.try_into()
    }

    /// Bookings by id, for a data loader. Visibility was checked on the way to the ids.
    pub async fn bookings_by_id(&self, ids: &[String]) -> AppResult<HashMap<String, Booking>> {
        booking::Entity::find()
            .filter(booking::Column::Id.is_in(ids.iter().cloned()))
            .all(self.db.conn())
            .await?
            .into_iter()
            .map(|m| Booking::try_from(m).map(|b| (b.id.clone(), b)))
            .collect()
    }

    /// Every session of each booking, by start time, for a data loader.
    pub async fn sessions_by_booking(
        &self,
        booking_ids: &[String],
    ) -> AppResult<HashMap<String, Vec<Session>>> {
        let rows = session::Entity::find()
            .filter(session::Column::BookingId.is_in(booking_ids.iter().cloned()))
            .order_by_asc(session::Column::StartAt)
            .all(self.db.conn())
            .await?;
        let mut out: HashMap<String, Vec<Session>> = HashMap::new();
        for row in rows {
            let s = Session::try_from(row)?;
            out.entry(s.booking_id.clone()).or_default().push(s);
        }
        Ok(out)
    }

    /// Any session by id, without an access check (the `/join` route checks the participant).
    pub async fn session_unchecked(&self, id: &str) -> AppResult<Option<Session>> {
        session::Entity::find_by_id(id)
            .one(self.db.conn())
            .await?
            .map(Session::try_from)
            .transpose()
    }
}
