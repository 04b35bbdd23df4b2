//! The receipt of a paid week as our own PDF: read from the invoice, its booking, its people and
//! the sessions of the week it pays for, in the student's time zone. Attached to the receipt email
//! when it is sent, and served to the student and admins at `Invoice.pdfUrl`.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::read::money;
use super::PaymentService;
use crate::auth::{Principal, Role};
use crate::domain::booking::{Frequency, SessionStatus};
use crate::domain::notification::local_time;
use crate::email::pdf::{receipt_pdf, Receipt};
use crate::email::Brand;
use crate::entity::{invoice, session};
use crate::error::{AppError, AppResult};
use crate::service::store::cast::Cast;

/// A receipt PDF and whose it is.
pub struct ReceiptFile {
    pub student_id: String,
    pub pdf: Vec<u8>,
}

fn frequency(f: Frequency) -> &'static str {
    match f {
        Frequency::OnceWeekly => "Weekly, 1 session a week",
        Frequency::TwiceWeekly => "Weekly, 2 sessions a week",
        Frequency::ThriceWeekly => "Weekly, 3 sessions a week",
    }
}

/// The PDF of `invoice_id`, or `None` when there is no such invoice.
pub async fn receipt(
    conn: &impl ConnectionTrait,
    brand: &Brand,
    invoice_id: &str,
) -> AppResult<Option<ReceiptFile>> {
    let Some(paid) = invoice::Entity::find_by_id(invoice_id).one(conn).await? else {
        return Ok(None);
    };
    let Cast {
        booking: b,
        mentor,
        student,
    } = Cast::load(conn, &paid.booking_id).await?;
    let zone = student.time_zone;
    let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map(|at| local_time(at, zone))
            .unwrap_or_else(|| "-".into())
    };
    let sessions = match (paid.period_start, paid.period_end) {
        (Some(from), Some(to)) => session::Entity::find()
            .filter(session::Column::BookingId.eq(&b.id))
            .filter(session::Column::StartAt.gte(from))
            .filter(session::Column::StartAt.lt(to))
            .order_by_asc(session::Column::StartAt)
            .all(conn)
            .await?
            .into_iter()
            .map(|s| {
                let mark = if s.status == SessionStatus::Cancelled {
                    " (cancelled)"
                } else {
                    ""
                };
                format!("{}{mark}", local_time(s.start_at, zone))
            })
            .collect(),
        _ => Vec::new(),
    };
    let amount = money(paid.amount_minor, &paid.currency)?;
    let refunded = (paid.amount_refunded_minor > 0)
        .then(|| money(paid.amount_refunded_minor, &paid.currency))
        .transpose()?;
    let doc = Receipt {
        brand: brand.name.clone(),
        color: brand.primary_color.clone(),
        support_email: brand.support_email.clone(),
        number: paid.number.clone().unwrap_or_else(|| paid.id.clone()),
        student: student.name.clone(),
        student_email: student.email.clone(),
        mentor: mentor.name.clone(),
        subject: b.subject.clone(),
        amount: amount.to_string(),
        paid_on: when(paid.paid_at),
        period: format!("{} to {}", when(paid.period_start), when(paid.period_end)),
        frequency: frequency(b.frequency).into(),
        next_billing: when(paid.period_end),
        sessions,
        refunded: refunded.map(|r| r.to_string()),
    };
    Ok(Some(ReceiptFile {
        student_id: b.student_id,
        pdf: receipt_pdf(&doc),
    }))
}

impl PaymentService {
    /// The PDF of an invoice, for its student and admins only (anyone else: as if it did not exist).
    pub async fn invoice_pdf(&self, p: &Principal, invoice_id: &str) -> AppResult<Vec<u8>> {
        let missing = || AppError::NotFound("there is no such invoice".into());
        let file = receipt(self.db.conn(), &self.brand, invoice_id)
            .await?
            .ok_or_else(missing)?;
        if p.role != Role::Admin && p.user_id != file.student_id {
            return Err(missing());
        }
        Ok(file.pdf)
    }
}
