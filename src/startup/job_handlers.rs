//! The one place that wires every job kind to the service that runs it. Job files hold only their
//! payload and enqueue helpers; services return their own errors, turned into the runner's here
//! with their causes kept (see `JobError::from`).

use crate::error::AppError;
use crate::jobs::calendar_sync::CalendarSync;
use crate::jobs::calendar_write::CalendarWrite;
use crate::jobs::email_send::EmailSend;
use crate::jobs::extend_booking::ExtendBooking;
use crate::jobs::payment::PaymentTask;
use crate::jobs::session_timeline::SessionTimeline;
use crate::jobs::sms_send::SmsSend;
use crate::jobs::{JobError, Registry};
use crate::service::email::{sent_marks, Sent};
use crate::service::sms::TextSent;
use crate::service::Services;

/// Every job kind this service runs. Register new kinds here.
pub fn registry(services: &Services) -> Registry {
    let mut registry = Registry::new();

    let email = services.email.clone();
    registry.register_finishing(
        move |job: EmailSend| {
            let email = email.clone();
            async move {
                match email.send(&job.email_id).await? {
                    // `SENT` is written with the job's completion: one commit for both.
                    Sent::Accepted => Ok(Some(job.email_id)),
                    Sent::Settled => Ok(None),
                    // The email row counts its own tries; the runner's backoff spaces them.
                    Sent::TryAgain(why) => Err(JobError::Retry(anyhow::anyhow!(why))),
                }
            }
        },
        sent_marks,
    );
    let email = services.email.clone();
    // Emails claimed together are read together, before their sends start.
    registry.prefetch_with(move |jobs: Vec<EmailSend>| {
        email.prefetch(jobs.into_iter().map(|job| job.email_id).collect());
    });

    let sms = services.sms.clone();
    registry.register(move |job: SmsSend| {
        let sms = sms.clone();
        async move {
            match sms.send(&job.sms_id).await? {
                TextSent::Settled => Ok(()),
                // The text row counts its own tries; the runner's backoff spaces them.
                TextSent::TryAgain(why) => Err(JobError::Retry(anyhow::anyhow!(why))),
                // Quiet hours: runs again when they end, the try not counted.
                TextSent::Held(until) => Err(JobError::Postpone(until)),
                // Waits out the provider's Retry-After (the runner reads it from the error).
                TextSent::Throttled(retry_after) => {
                    Err(JobError::Retry(anyhow::Error::new(AppError::RateLimited {
                        message: "Twilio asked us to slow down".into(),
                        retry_after,
                    })))
                }
            }
        }
    });

    let bookings = services.bookings.clone();
    registry.register(move |job: ExtendBooking| {
        let bookings = bookings.clone();
        async move {
            bookings.extend_ongoing(&job.booking_id).await?;
            Ok(())
        }
    });

    let timeline = services.timeline.clone();
    registry.register(move |job: SessionTimeline| {
        let timeline = timeline.clone();
        async move { Ok(timeline.run(&job).await?) }
    });

    let calendar = services.calendar.clone();
    registry.register(move |job: CalendarSync| {
        let calendar = calendar.clone();
        async move {
            let only = job.calendar_id.as_deref().map(|id| (id, job.push));
            Ok(calendar
                .sync(&job.mentor_id, job.provider, job.due, only)
                .await?)
        }
    });

    let calendar = services.calendar.clone();
    registry.register(move |job: CalendarWrite| {
        let calendar = calendar.clone();
        async move { Ok(calendar.write_session(&job.session_id).await?) }
    });

    let payments = services.payments.clone();
    registry.register(move |task: PaymentTask| {
        let payments = payments.clone();
        async move { Ok(payments.run_task(&task).await?) }
    });

    registry
}
