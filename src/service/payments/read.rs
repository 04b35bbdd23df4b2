//! What the API shows of a booking's payment and its invoices: to the booking's participants and
//! admins; the checkout link to the student (and admins) only.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::PaymentService;
use crate::auth::{Principal, Role};
use crate::domain::booking::PaymentStatus;
use crate::domain::money::Money;
use crate::entity::{booking, invoice, payment};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone)]
pub struct PaymentView {
    pub booking_id: String,
    pub status: PaymentStatus,
    /// The weekly charge.
    pub amount: Money,
    pub interval: String,
    pub checkout_url: Option<String>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub next_billing_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct InvoiceView {
    pub id: String,
    pub number: Option<String>,
    pub amount: Money,
    pub refunded: Money,
    pub status: String,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
}

pub(super) use crate::service::store::prices::stored_money as money;

/// The payment as its student sees it (the checkout link while it waits).
pub(super) fn view(row: payment::Model) -> AppResult<PaymentView> {
    Ok(PaymentView {
        amount: money(row.amount_minor, &row.currency)?,
        booking_id: row.booking_id,
        status: row.status,
        interval: row.interval,
        checkout_url: row
            .checkout_url
            .filter(|_| row.status == PaymentStatus::Pending),
        hold_expires_at: row.hold_expires_at,
        next_billing_at: row.next_billing_at,
    })
}

impl PaymentView {
    /// What `p` sees of the payment of `booking`: the checkout link is the student's (and admins').
    pub fn for_viewer(
        mut self,
        p: &Principal,
        booking: &crate::service::bookings::Booking,
    ) -> Self {
        if p.role != Role::Admin && p.user_id != booking.student_id {
            self.checkout_url = None;
        }
        self
    }
}

pub(super) fn invoice_view(row: invoice::Model) -> AppResult<InvoiceView> {
    Ok(InvoiceView {
        amount: money(row.amount_minor, &row.currency)?,
        refunded: money(row.amount_refunded_minor, &row.currency)?,
        id: row.id,
        number: row.number,
        status: row.status,
        period_start: row.period_start,
        period_end: row.period_end,
        paid_at: row.paid_at,
    })
}

impl PaymentService {
    /// The payments of `booking_ids` (those that have one), by booking, with the checkout link:
    /// the caller shows it to the student side only ([`PaymentView::for_viewer`]).
    pub async fn payments_by_booking(
        &self,
        booking_ids: &[String],
    ) -> AppResult<HashMap<String, PaymentView>> {
        payment::Entity::find()
            .filter(payment::Column::BookingId.is_in(booking_ids.iter().cloned()))
            .all(self.db.conn())
            .await?
            .into_iter()
            .map(|row| Ok((row.booking_id.clone(), view(row)?)))
            .collect()
    }

    /// The paid invoices of `booking_ids`, by booking, oldest first.
    pub async fn invoices_by_booking(
        &self,
        booking_ids: &[String],
    ) -> AppResult<HashMap<String, Vec<InvoiceView>>> {
        let mut out: HashMap<String, Vec<InvoiceView>> = HashMap::new();
        let rows = invoice::Entity::find()
            .filter(invoice::Column::BookingId.is_in(booking_ids.iter().cloned()))
            .order_by_asc(invoice::Column::PeriodStart)
            .order_by_asc(invoice::Column::CreatedAt)
            .all(self.db.conn())
            .await?;
        for row in rows {
            let booking = row.booking_id.clone();
            out.entry(booking).or_default().push(invoice_view(row)?);
        }
        Ok(out)
    }

    /// The booking `id` if `p` is its student or an admin; otherwise as if it did not exist.
    pub(super) async fn own_booking(&self, p: &Principal, id: &str) -> AppResult<booking::Model> {
        let row = booking::Entity::find_by_id(id).one(self.db.conn()).await?;
        match row {
            Some(b) if p.role == Role::Admin || b.student_id == p.user_id => Ok(b),
            _ => Err(AppError::NotFound("there is no such booking".into())),
        }
    }
}
