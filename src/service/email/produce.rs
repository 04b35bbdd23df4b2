//! Which emails each happening calls for, and what they say, in each recipient's own time zone:
//! - a new booking: a confirmation with the invite to the student (the free-trial email for a
//!   trial), the news with the invite to the mentor, a note to every admin;
//! - a cancellation, a move: both participants, with a `CANCEL` or an updated `REQUEST` so their
//!   calendars follow (whoever acted included: their calendar needs it too);
//! - reminders 24 hours and 1 hour ahead, to both;
//! - the feedback request when a session ends, to the student;
//! - platform notifications (`sendNotification`) with a template of their own.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
};

use super::{queue, NewEmail, Outbox, Recipient};
use crate::auth::Role;
use crate::domain::booking::Frequency;
use crate::domain::email::invite::{Invite, InviteMethod, Person, SessionEvent};
use crate::domain::email::EmailTemplate;
use crate::domain::event::DomainEvent;
use crate::domain::notification::{local_time, messages, Message};
use crate::domain::timeline::Phase;
use crate::email::EmailView;
use crate::entity::session;
use crate::error::AppResult;
use crate::service::after_commit::Changes;
use crate::service::events::{EventConsumer, Happened};
use crate::service::store::cast::Cast;
use crate::service::store::prices::stored_money as money;
use crate::service::store::users::admins;
use crate::service::store::users::User;

fn recipient(u: &User) -> Recipient {
    Recipient {
        user_id: u.id.clone(),
        name: u.name.clone(),
        email: u.email.clone(),
    }
}

fn frequency(frequency: Frequency) -> String {
    match frequency {
        Frequency::OnceWeekly => "once a week",
        Frequency::TwiceWeekly => "twice a week",
        Frequency::ThriceWeekly => "three times a week",
    }
    .to_string()
}

async fn sessions(conn: &impl ConnectionTrait, ids: &[String]) -> AppResult<Vec<session::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(session::Entity::find()
        .filter(session::Column::Id.is_in(ids.iter().cloned()))
        .order_by_asc(session::Column::StartAt)
        .all(conn)
        .await?)
}

/// Builds emails about one booking for its participants.
struct Writer<'a> {
    outbox: &'a Outbox,
    cast: &'a Cast,
    now: DateTime<Utc>,
}

impl Writer<'_> {
    fn other(&self, of: &User) -> &User {
        if of.id == self.cast.mentor.id {
            &self.cast.student
        } else {
            &self.cast.mentor
        }
    }

    /// The view for `to` about `sessions` (the first is "when").
    fn view(&self, to: &User, sessions: &[session::Model]) -> EmailView {
        let cast = self.cast;
        let first = sessions.first();
        EmailView {
            recipient_name: to.name.clone(),
            mentor_name: cast.mentor.name.clone(),
            student_name: cast.student.name.clone(),
            other_name: self.other(to).name.clone(),
            topic: cast.booking.subject.clone(),
            frequency: Some(frequency(cast.booking.frequency)),
            when: first.map(|s| local_time(s.start_at, to.time_zone)),
            sessions: sessions
                .iter()
                .map(|s| local_time(s.start_at, to.time_zone))
                .collect(),
            join_url: first
                .filter(|_| to.role != Role::Admin)
                .map(|s| self.outbox.join_links.url(&s.id, &to.id, s.end_at)),
            action_url: Some(format!("/bookings/{}", cast.booking.id)),
            action_label: Some("View the booking".into()),
            ..EmailView::default()
        }
    }

    fn invite(&self, to: &User, method: InviteMethod, sessions: &[session::Model]) -> Invite {
        let cast = self.cast;
        let person = |u: &User| Person {
            name: u.name.clone(),
            email: u.email.clone(),
        };
        let brand = &self.outbox.brand;
        Invite {
            method,
            domain: self.outbox.domain.clone(),
            product: format!("-//{}//Scheduler//EN", brand.name),
            organizer: Person {
                name: brand.name.clone(),
                email: self.outbox.from.email.to_string(),
            },
            attendees: [&cast.mentor, &cast.student]
                .into_iter()
                .filter(|u| !u.email.is_empty())
                .map(person)
                .collect(),
            events: sessions
                .iter()
                .map(|s| {
                    let join = self.outbox.join_links.url(&s.id, &to.id, s.end_at);
                    SessionEvent {
                        session_id: s.id.clone(),
                        sequence: s.sequence,
                        start: s.start_at,
                        end: s.end_at,
                        summary: format!(
                            "{}: {} with {}",
                            cast.booking.subject, cast.student.name, cast.mentor.name
                        ),
                        description: format!(
                            "Join: {join}\nBooking: {}",
                            brand.link(&format!("/bookings/{}", cast.booking.id))
                        ),
                        join_url: Some(join),
                    }
                })
                .collect(),
            stamp: self.now,
        }
    }

    fn email(
        &self,
        to: &User,
        template: EmailTemplate,
        view: EmailView,
        invite: Option<Invite>,
        dedupe_key: Option<String>,
    ) -> NewEmail {
        NewEmail {
            to: recipient(to),
            template,
            view,
            invite,
            dedupe_key,
            invoice_id: None,
        }
    }

    fn both(&self) -> [&User; 2] {
        [&self.cast.student, &self.cast.mentor]
    }
}

/// Emails for every booking event, queued in the outbox with the event (sent by the `email.send` job
/// once it commits).
pub struct ByEmail {
    outbox: Arc<Outbox>,
}

impl ByEmail {
    pub fn new(outbox: Arc<Outbox>) -> Self {
        ByEmail { outbox }
    }
}

#[async_trait]
impl EventConsumer for ByEmail {
    async fn consume(
        &self,
        txn: &DatabaseTransaction,
        happened: &Happened<'_>,
        _changes: &mut Changes,
    ) -> AppResult<()> {
        let emails = for_event(
            txn,
            &self.outbox,
            happened.cast,
            happened.event,
            happened.now,
        )
        .await?;
        queue(txn, &self.outbox, emails, happened.now).await?;
        Ok(())
    }
}

/// The emails `event` (about `cast`'s booking) calls for.
async fn for_event(
    conn: &impl ConnectionTrait,
    outbox: &Outbox,
    cast: &Cast,
    event: &DomainEvent,
    now: DateTime<Utc>,
) -> AppResult<Vec<NewEmail>> {
    if let Some(emails) = payment_emails(conn, cast, event).await? {
        return Ok(emails);
    }
    let ids: Vec<String> = match event {
        DomainEvent::BookingCreated { session_ids, .. } => session_ids.clone(),
        DomainEvent::BookingCancelled {
            cancelled_session_ids,
            ..
        } => cancelled_session_ids.clone(),
        DomainEvent::SessionCancelled { session_id, .. }
        | DomainEvent::SessionRescheduled { session_id, .. }
        | DomainEvent::SessionCompleted { session_id, .. } => vec![session_id.clone()],
        // Sessions added to an ongoing booking, and a week that could not be booked, are told in
        // the app only.
        DomainEvent::SessionsAdded { .. }
        | DomainEvent::OccurrenceSkipped { .. }
        | DomainEvent::BookingHeld { .. }
        | DomainEvent::HoldReleased { .. }
        | DomainEvent::PaymentReceived { .. }
        | DomainEvent::PaymentFailed { .. }
        | DomainEvent::Refunded { .. } => return Ok(Vec::new()),
    };
    let sessions = sessions(conn, &ids).await?;
    if sessions.is_empty() {
        return Ok(Vec::new());
    }
    let w = Writer { outbox, cast, now };
    let mut out = Vec::new();
    match event {
        DomainEvent::BookingCreated { .. } => {
            let trial = cast.booking.kind == crate::domain::booking::BookingKind::Trial;
            let student = &cast.student;
            let template = if trial {
                EmailTemplate::TrialBooking
            } else {
                EmailTemplate::BookingConfirmationStudent
            };
            let invite = w.invite(student, InviteMethod::Request, &sessions);
            out.push(w.email(
                student,
                template,
                w.view(student, &sessions),
                Some(invite),
                None,
            ));
            let mentor = &cast.mentor;
            let invite = w.invite(mentor, InviteMethod::Request, &sessions);
            out.push(w.email(
                mentor,
                EmailTemplate::BookingConfirmationMentor,
                w.view(mentor, &sessions),
                Some(invite),
                None,
            ));
            for admin in admins(conn).await? {
                let mut view = w.view(&admin, &sessions);
                view.details = vec![
                    ("Booking".into(), cast.booking.id.clone()),
                    ("Student".into(), cast.student.email.clone()),
                    ("Mentor".into(), cast.mentor.email.clone()),
                ];
                out.push(w.email(
                    &admin,
                    EmailTemplate::BookingConfirmationAdmin,
                    view,
                    None,
                    None,
                ));
            }
        }
        DomainEvent::BookingCancelled { reason, .. }
        | DomainEvent::SessionCancelled { reason, .. } => {
            for to in w.both() {
                let mut view = w.view(to, &sessions);
                view.reason = reason.clone();
                view.join_url = None;
                let invite = w.invite(to, InviteMethod::Cancel, &sessions);
                out.push(w.email(to, EmailTemplate::Cancellation, view, Some(invite), None));
            }
        }
        DomainEvent::SessionRescheduled { from, sequence, .. } => {
            for to in w.both() {
                let mut view = w.view(to, &sessions);
                view.previous_when = Some(local_time(*from, to.time_zone));
                let invite = w.invite(to, InviteMethod::Request, &sessions);
                let key = format!("reschedule:{}:{sequence}", sessions[0].id);
                out.push(w.email(to, EmailTemplate::Reschedule, view, Some(invite), Some(key)));
            }
        }
        DomainEvent::SessionCompleted { .. } => {
            let student = &cast.student;
            let mut view = w.view(student, &sessions);
            view.join_url = None;
            view.action_url = Some(format!("/sessions/{}/feedback", sessions[0].id));
            view.action_label = Some("Leave feedback".into());
            let key = format!("feedback:{}", sessions[0].id);
            out.push(w.email(
                student,
                EmailTemplate::FeedbackRequest,
                view,
                None,
                Some(key),
            ));
        }
        _ => {}
    }
    Ok(out)
}

/// The emails of payment events, to the student: the receipt with its `invoice.pdf` (made when
/// sent), a failed charge with where to fix the card, a refund. `None` for other events.
async fn payment_emails(
    conn: &impl ConnectionTrait,
    cast: &Cast,
    event: &DomainEvent,
) -> AppResult<Option<Vec<NewEmail>>> {
    let student = &cast.student;
    let zone = student.time_zone;
    let base = |title: String, body: String| EmailView {
        recipient_name: student.name.clone(),
        mentor_name: cast.mentor.name.clone(),
        student_name: student.name.clone(),
        other_name: cast.mentor.name.clone(),
        topic: cast.booking.subject.clone(),
        frequency: Some(frequency(cast.booking.frequency)),
        title: Some(title),
        body: Some(body),
        action_url: Some(format!("/bookings/{}", cast.booking.id)),
        action_label: Some("View the booking".into()),
        ..EmailView::default()
    };
    let email = |template, view, dedupe_key: String, invoice_id: Option<String>| NewEmail {
        to: recipient(student),
        template,
        view,
        invite: None,
        dedupe_key: Some(dedupe_key),
        invoice_id,
    };
    let out = match event {
        DomainEvent::PaymentReceived {
            invoice_id,
            amount_minor,
            currency,
            paid_at,
            period_start,
            period_end,
            ..
        } => {
            let amount = money(*amount_minor, currency)?;
            let at = |t: Option<DateTime<Utc>>| t.map(|t| local_time(t, zone)).unwrap_or_default();
            let mut view = base(
                format!("Payment received: {amount}"),
                format!(
                    "Thank you: your weekly payment for \"{}\" with {} went through. Your receipt is attached (invoice.pdf).",
                    cast.booking.subject, cast.mentor.name
                ),
            );
            view.details = vec![
                ("Amount".into(), amount.to_string()),
                ("Date".into(), at(*paid_at)),
                ("Frequency".into(), frequency(cast.booking.frequency)),
                (
                    "Period".into(),
                    format!("{} to {}", at(*period_start), at(*period_end)),
                ),
                ("Next billing date".into(), at(*period_end)),
            ];
            vec![email(
                EmailTemplate::PaymentReceipt,
                view,
                format!("receipt:{invoice_id}"),
                Some(invoice_id.clone()),
            )]
        }
        DomainEvent::PaymentFailed {
            invoice,
            attempt,
            fix_url,
            ..
        } => {
            // The same words as in the app.
            let (_, said) = messages::payment_failed(&cast.facts(), fix_url.as_deref());
            let mut view = base(said.title, said.body);
            if let Some(url) = fix_url {
                view.action_url = Some(url.clone());
                view.action_label = Some("Update your card".into());
            }
            let key = format!("payment_failed:{invoice}:{attempt}");
            vec![email(EmailTemplate::SubscriptionUpdate, view, key, None)]
        }
        DomainEvent::Refunded {
            refund,
            session_id,
            amount_minor,
            currency,
            ..
        } => {
            let start = match session_id {
                Some(id) => sessions(conn, std::slice::from_ref(id))
                    .await?
                    .first()
                    .map(|s| s.start_at),
                None => None,
            };
            let amount = money(*amount_minor, currency)?;
            let (_, said) =
                messages::refunded(&cast.facts(), session_id.as_deref(), start, &amount);
            let key = format!("refund:{refund}");
            vec![email(
                EmailTemplate::SubscriptionUpdate,
                base(said.title, said.body),
                key,
                None,
            )]
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}

/// The reminder emails of `phase` (24 hours or 1 hour ahead) for `session`; none for other phases.
pub async fn reminders(
    conn: &impl ConnectionTrait,
    outbox: &Outbox,
    session: &session::Model,
    phase: Phase,
    now: DateTime<Utc>,
) -> AppResult<Vec<NewEmail>> {
    let (student_template, mentor_template) = match phase {
        Phase::Reminder24h => (
            EmailTemplate::Reminder24hStudent,
            EmailTemplate::Reminder24hMentor,
        ),
        Phase::Reminder1h => (EmailTemplate::Reminder1h, EmailTemplate::Reminder1h),
        Phase::StartingSoon | Phase::Ended => return Ok(Vec::new()),
    };
    let cast = Cast::load(conn, &session.booking_id).await?;
    let w = Writer {
        outbox,
        cast: &cast,
        now,
    };
    let one = std::slice::from_ref(session);
    // Keyed by the session's sequence: a moved session is reminded of its new time, once.
    let key = format!("{}:{}:{}", phase.as_str(), session.id, session.sequence);
    Ok([
        (&cast.student, student_template),
        (&cast.mentor, mentor_template),
    ]
    .into_iter()
    .map(|(to, template)| w.email(to, template, w.view(to, one), None, Some(key.clone())))
    .collect())
}

/// The email for a platform notification (`sendNotification`), if its kind has a template.
pub fn platform(to: &User, message: &Message, idempotency_key: Option<&str>) -> Option<NewEmail> {
    let template = EmailTemplate::for_platform_kind(message.kind)?;
    let data = message.data.as_object();
    let field = |key: &str| {
        data.and_then(|d| d.get(key)).and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
    };
    // Scalar fields of `data` are shown as details, in the order given, with readable labels.
    let details = data
        .map(|d| {
            d.iter()
                .filter_map(|(k, _)| Some((label(k), field(k)?)))
                .collect()
        })
        .unwrap_or_default();
    let when = field("at")
        .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
        .map(|at| local_time(at.with_timezone(&Utc), to.time_zone));
    Some(NewEmail {
        to: recipient(to),
        template,
        view: EmailView {
            recipient_name: to.name.clone(),
            mentor_name: field("mentorName").unwrap_or_default(),
            frequency: field("frequency"),
            when,
            title: Some(message.title.clone()),
            body: Some(message.body.clone()),
            details,
            action_url: message.link.clone(),
            ..EmailView::default()
        },
        invite: None,
        dedupe_key: idempotency_key.map(|k| format!("send:{k}")),
        invoice_id: None,
    })
}

/// `nextBillingDate` → "Next billing date".
fn label(key: &str) -> String {
    let mut out = String::new();
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else if i == 0 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}
