//! Text messages: numbers (`phone`), what a text costs (`segments`), the replies that opt a number
//! out or in (`keywords`), quiet hours (`quiet`), what each text says (`texts`), and a text's life.

pub mod keywords;
pub mod phone;
pub mod quiet;
pub mod segments;
pub mod texts;

use crate::domain::notification::NotificationKind;

listed_enum! { $
    /// Where a text is in its life.
    pub enum SmsStatus, sms_statuses, "SCREAMING_SNAKE_CASE" {
        /// Waiting for its time (quiet hours) or for a worker, or to be tried again.
        Pending,
        /// Handed to the provider without a clear answer yet (the try may have been cut short): the
        /// next try asks the provider whether it took it before sending again.
        Sending,
        /// The provider took it (Twilio: `queued`, `accepted`, `sending`, `sent`).
        Sent,
        /// The carrier reported it delivered.
        Delivered,
        /// The carrier could not deliver it (`error_code` says why).
        Undelivered,
        /// Refused or given up (`error_code`, `error_message` say why).
        Failed,
        /// Not sent: the number opted out, or is no longer the user's verified number, or by the
        /// time it was due the user had switched its kind off or its session was cancelled or moved.
        Skipped,
    }
}

impl SmsStatus {
    /// Order along the life of a text, so a late or repeated status callback never moves a text
    /// back (Twilio's callbacks can arrive out of order).
    fn rank(self) -> u8 {
        match self {
            SmsStatus::Pending => 0,
            SmsStatus::Sending => 1,
            SmsStatus::Sent => 2,
            SmsStatus::Delivered
            | SmsStatus::Undelivered
            | SmsStatus::Failed
            | SmsStatus::Skipped => 3,
        }
    }

    /// Whether a report of `next` moves a text now at `self`.
    pub fn moves_to(self, next: SmsStatus) -> bool {
        next.rank() > self.rank()
    }

    /// Twilio's `MessageStatus` as ours; `None` for statuses that say nothing new of an outbound
    /// text (`receiving`, `received`, `read`, `scheduled`, unknown words).
    pub fn from_twilio(status: &str) -> Option<SmsStatus> {
        match status {
            "queued" | "accepted" | "sending" | "sent" => Some(SmsStatus::Sent),
            "delivered" | "read" => Some(SmsStatus::Delivered),
            "undelivered" => Some(SmsStatus::Undelivered),
            "failed" | "canceled" => Some(SmsStatus::Failed),
            _ => None,
        }
    }
}

/// The kinds worth a text (each still needs the user's opt-in): session reminders (an hour and ten
/// minutes ahead), cancellations, moves, and subscription news (a failed payment).
pub fn is_textable(kind: NotificationKind) -> bool {
    matches!(
        kind,
        NotificationKind::SessionReminder
            | NotificationKind::SessionCancelled
            | NotificationKind::SessionRescheduled
            | NotificationKind::SubscriptionUpdate
    )
}

/// Twilio's error codes that will not change on a retry, and whether the number opted out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The recipient replied STOP (21610): the number is opted out here too.
    OptedOut,
    /// Not a number that can get texts (21211 invalid, 21614 not mobile, 21612, 21408 region...).
    Unreachable,
}

pub fn refusal(code: u32) -> Option<Refusal> {
    match code {
        21610 => Some(Refusal::OptedOut),
        21211 | 21212 | 21408 | 21612 | 21614 | 21635 | 30003..=30008 => Some(Refusal::Unreachable),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward() {
        use SmsStatus::*;
        assert!(Pending.moves_to(Sent));
        assert!(Sending.moves_to(Sent));
        assert!(Sent.moves_to(Delivered));
        assert!(Sent.moves_to(Undelivered));
        assert!(
            !Delivered.moves_to(Sent),
            "a late `sent` never undoes `delivered`"
        );
        assert!(!Delivered.moves_to(Undelivered));
        assert!(!Sent.moves_to(Sent));
        assert_eq!(SmsStatus::from_twilio("queued"), Some(Sent));
        assert_eq!(SmsStatus::from_twilio("delivered"), Some(Delivered));
        assert_eq!(SmsStatus::from_twilio("received"), None);
        assert_eq!(SmsStatus::from_twilio("exploded"), None);
    }

    #[test]
    fn only_lasting_refusals_stop_retries() {
        assert_eq!(refusal(21610), Some(Refusal::OptedOut));
        assert_eq!(refusal(21211), Some(Refusal::Unreachable));
        assert_eq!(refusal(20429), None);
        assert_eq!(refusal(20003), None);
    }
}
