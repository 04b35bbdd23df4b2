//! Email rules: which templates exist and which notification kind each belongs to (preferences are
//! per kind), which kinds wait to be batched into a digest, an email's life (`EmailStatus`), and
//! how an SMTP reply or a provider's report is classified. The invite format is in `invite`, what
//! providers report in `report`.

pub mod invite;
pub mod report;

use super::notification::NotificationKind;

listed_enum! { $
    /// Every email the platform sends; the name is its directory under `templates/email/`.
    pub enum EmailTemplate, email_templates, "snake_case" {
        BookingConfirmationStudent,
        BookingConfirmationMentor,
        BookingConfirmationAdmin,
        #[strum(serialize = "reminder_24h_student")]
        #[serde(rename = "reminder_24h_student")]
        Reminder24hStudent,
        #[strum(serialize = "reminder_24h_mentor")]
        #[serde(rename = "reminder_24h_mentor")]
        Reminder24hMentor,
        #[strum(serialize = "reminder_1h")]
        #[serde(rename = "reminder_1h")]
        Reminder1h,
        Cancellation,
        Reschedule,
        TrialBooking,
        DemoCall,
        MentorOnboarding,
        ProfileVerification,
        FeedbackRequest,
        SupportTicket,
        SubscriptionUpdate,
        PaymentReceipt,
        NewMentorMatch,
        SystemUpdate,
        CalendarDisconnected,
        CalendarConflict,
        Digest,
    }
}

impl EmailTemplate {
    /// The notification kind whose email preference governs this template.
    pub fn kind(self) -> NotificationKind {
        use EmailTemplate::*;
        match self {
            BookingConfirmationStudent | BookingConfirmationMentor | BookingConfirmationAdmin => {
                NotificationKind::SessionConfirmation
            }
            Reminder24hStudent | Reminder24hMentor | Reminder1h => {
                NotificationKind::SessionReminder
            }
            Cancellation => NotificationKind::SessionCancelled,
            Reschedule => NotificationKind::SessionRescheduled,
            TrialBooking => NotificationKind::TrialBooking,
            DemoCall => NotificationKind::DemoCall,
            MentorOnboarding => NotificationKind::MentorOnboarding,
            ProfileVerification => NotificationKind::ProfileVerification,
            FeedbackRequest => NotificationKind::FeedbackRequest,
            SupportTicket => NotificationKind::SupportTicket,
            SubscriptionUpdate => NotificationKind::SubscriptionUpdate,
            PaymentReceipt => NotificationKind::PaymentReceipt,
            NewMentorMatch => NotificationKind::NewMentorMatch,
            SystemUpdate | Digest => NotificationKind::SystemUpdate,
            CalendarDisconnected => NotificationKind::CalendarDisconnected,
            CalendarConflict => NotificationKind::CalendarConflict,
        }
    }

    /// The templates of platform notifications (`sendNotification`); booking kinds are emailed by
    /// the booking events themselves, with their invites.
    const PLATFORM: [EmailTemplate; 10] = [
        EmailTemplate::NewMentorMatch,
        EmailTemplate::SystemUpdate,
        EmailTemplate::PaymentReceipt,
        EmailTemplate::DemoCall,
        EmailTemplate::MentorOnboarding,
        EmailTemplate::ProfileVerification,
        EmailTemplate::SupportTicket,
        EmailTemplate::SubscriptionUpdate,
        EmailTemplate::CalendarDisconnected,
        EmailTemplate::CalendarConflict,
    ];

    /// The template a platform notification of `kind` is emailed with, if that kind has one of its
    /// own (a kind without one is in-app only).
    pub fn for_platform_kind(kind: NotificationKind) -> Option<EmailTemplate> {
        Self::PLATFORM.into_iter().find(|t| t.kind() == kind)
    }
}

/// Kinds that are not urgent: several arriving for one user within the digest window go out as one
/// email.
pub fn is_digestible(kind: NotificationKind) -> bool {
    matches!(
        kind,
        NotificationKind::NewMentorMatch | NotificationKind::SystemUpdate
    )
}

listed_enum! { $
    /// Where an email is in its life.
    pub enum EmailStatus, email_statuses, "SCREAMING_SNAKE_CASE" {
        /// A digest still gathering items until its window closes.
        Collecting,
        /// Waiting to be sent, or to be tried again after a temporary failure.
        Pending,
        /// Accepted by the SMTP server (or written to the outbox directory).
        Sent,
        /// The provider reported it delivered.
        Delivered,
        /// Folded into a digest (`digest_id`), which is sent instead.
        Batched,
        /// Not sent: the address bounced for good or complained before.
        Suppressed,
        /// Not sent: written ahead of its time, and by then no longer wanted (its session was
        /// cancelled, moved or completed, or the recipient switched its kind off by email);
        /// `error_message` says which.
        Withdrawn,
        /// Gave up: a permanent refusal, or every try failed. `error_message` says why.
        Failed,
        /// Sent, then reported bounced for good.
        Bounced,
        /// Sent, then the recipient marked it as spam.
        Complained,
    }
}

listed_enum! { $
    /// Why an address is suppressed.
    pub enum SuppressionReason, suppression_reasons, "SCREAMING_SNAKE_CASE" { Bounce, Complaint }
}

/// Addresses compare without case (the local part is case-sensitive in theory, never in practice).
pub fn normalize_address(address: &str) -> String {
    address.trim().to_ascii_lowercase()
}

/// What to do after a failed try: another try later, or give up now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// A 4xx reply, a dropped connection, a timeout: worth trying again.
    Temporary(String),
    /// A 5xx reply (or a message that cannot be built): it will never be taken.
    Permanent { code: Option<u16>, message: String },
}

impl SendFailure {
    pub fn message(&self) -> &str {
        match self {
            SendFailure::Temporary(m) | SendFailure::Permanent { message: m, .. } => m,
        }
    }

    /// The mailbox does not exist or cannot take mail (550, 551, 553): a hard bounce, so the
    /// address is suppressed. Other permanent replies (a message too large, a policy refusal) fail
    /// this email only.
    pub fn is_hard_bounce(&self) -> bool {
        matches!(
            self,
            SendFailure::Permanent {
                code: Some(550 | 551 | 553),
                ..
            }
        )
    }
}

/// After `tries` failed tries (this one included): try again, or give up as `Failed`.
pub fn after_failure(failure: &SendFailure, tries: i32, max_tries: i32) -> EmailStatus {
    match failure {
        SendFailure::Temporary(_) if tries < max_tries => EmailStatus::Pending,
        _ => EmailStatus::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_round_trip_and_every_kind_with_a_template_maps_back() {
        for &t in EmailTemplate::ALL {
            assert_eq!(t.as_str().parse::<EmailTemplate>(), Ok(t));
        }
        assert_eq!(
            EmailTemplate::Reminder24hStudent.as_str(),
            "reminder_24h_student"
        );
        assert_eq!(EmailTemplate::Reminder1h.as_str(), "reminder_1h");
        for &kind in NotificationKind::ALL {
            if let Some(t) = EmailTemplate::for_platform_kind(kind) {
                assert_eq!(t.kind(), kind, "{t:?}");
            }
        }
        for &s in EmailStatus::ALL {
            assert_eq!(s.as_str().parse::<EmailStatus>(), Ok(s));
        }
    }

    #[test]
    fn only_matches_and_system_updates_wait_for_a_digest() {
        let digestible: Vec<_> = NotificationKind::ALL
            .iter()
            .copied()
            .filter(|k| is_digestible(*k))
            .collect();
        assert_eq!(
            digestible,
            [
                NotificationKind::NewMentorMatch,
                NotificationKind::SystemUpdate
            ]
        );
    }

    #[test]
    fn temporary_failures_are_retried_until_the_last_try() {
        let temp = SendFailure::Temporary("451 try later".into());
        let perm = SendFailure::Permanent {
            code: Some(550),
            message: "no such user".into(),
        };
        assert!(perm.is_hard_bounce() && !temp.is_hard_bounce());
        let too_big = SendFailure::Permanent {
            code: Some(552),
            message: "too big".into(),
        };
        assert!(!too_big.is_hard_bounce());
        assert_eq!(after_failure(&temp, 1, 3), EmailStatus::Pending);
        assert_eq!(after_failure(&temp, 2, 3), EmailStatus::Pending);
        assert_eq!(after_failure(&temp, 3, 3), EmailStatus::Failed);
        assert_eq!(after_failure(&perm, 1, 3), EmailStatus::Failed);
    }

    #[test]
    fn addresses_compare_without_case_or_spaces() {
        assert_eq!(
            normalize_address(" Jane.Doe@Example.COM "),
            "jane.doe@example.com"
        );
    }
}
