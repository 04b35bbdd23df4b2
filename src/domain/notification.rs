//! Notification rules: the kinds, the channels, which (kind, channel) pairs a user may switch off,
//! and what each booking event says to each person involved (`messages`).

pub mod messages;

use chrono::{DateTime, Utc};

use crate::domain::time::TimeZone;

listed_enum! { $
    /// What a notification is about. The same words as the API's `NotificationType`.
    pub enum NotificationKind, notification_kinds, "SCREAMING_SNAKE_CASE" {
        NewMentorMatch,
        SessionReminder,
        SessionConfirmation,
        SessionCancelled,
        SessionRescheduled,
        FeedbackRequest,
        SystemUpdate,
        PaymentReceipt,
        TrialBooking,
        DemoCall,
        MentorOnboarding,
        ProfileVerification,
        SupportTicket,
        SubscriptionUpdate,
        CalendarConflict,
        CalendarDisconnected,
    }
}

listed_enum! { $
    /// Where a notification is delivered.
    pub enum Channel, channels, "SCREAMING_SNAKE_CASE" { InApp, Email, Sms }
}

/// A user's choice for one (kind, channel), or the default where they made none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preference {
    pub kind: NotificationKind,
    pub channel: Channel,
    pub enabled: bool,
    /// Cannot be switched off: the user must hear about it.
    pub locked: bool,
    /// Anything of this kind is sent on this channel at all ([`is_offered`]).
    pub offered: bool,
}

/// Messages a user must get whatever they chose: losing a session, or having it moved, in the app
/// and by email; a receipt by email; a calendar that stopped syncing, in the app and by email.
pub fn is_locked(kind: NotificationKind, channel: Channel) -> bool {
    use Channel::*;
    use NotificationKind::*;
    matches!(
        (kind, channel),
        (SessionCancelled | SessionRescheduled, InApp | Email)
            | (PaymentReceipt, InApp | Email)
            | (CalendarDisconnected, InApp | Email)
    )
}

/// Whether anything of `kind` is ever sent on `channel`: everything goes in the app and by email;
/// texts carry only session reminders, cancellations, moves and payment trouble (see
/// [`texts`](crate::domain::sms::texts)).
pub fn is_offered(kind: NotificationKind, channel: Channel) -> bool {
    use NotificationKind::*;
    channel != Channel::Sms
        || matches!(
            kind,
            SessionReminder | SessionCancelled | SessionRescheduled | SubscriptionUpdate
        )
}

/// Without a choice: everything in the app and by email; no SMS (it costs money and needs an
/// opt-in).
pub fn default_enabled(kind: NotificationKind, channel: Channel) -> bool {
    let _ = kind;
    channel != Channel::Sms
}

/// The preference in force, given what the user stored (if anything).
pub fn preference(kind: NotificationKind, channel: Channel, stored: Option<bool>) -> Preference {
    let locked = is_locked(kind, channel);
    let offered = is_offered(kind, channel);
    let chosen = stored.unwrap_or_else(|| default_enabled(kind, channel));
    Preference {
        kind,
        channel,
        enabled: locked || (offered && chosen),
        locked,
        offered,
    }
}

/// Why a preference change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreferenceError {
    #[error("{kind} by {channel} cannot be switched off")]
    Locked {
        kind: &'static str,
        channel: &'static str,
    },
    #[error("{kind} is never sent by {channel}")]
    NotOffered {
        kind: &'static str,
        channel: &'static str,
    },
}

/// Checks one requested change.
pub fn check_change(
    kind: NotificationKind,
    channel: Channel,
    enabled: bool,
) -> Result<(), PreferenceError> {
    let (kind_name, channel_name) = (kind.as_str(), channel.as_str());
    if !enabled && is_locked(kind, channel) {
        return Err(PreferenceError::Locked {
            kind: kind_name,
            channel: channel_name,
        });
    }
    if enabled && !is_offered(kind, channel) {
        return Err(PreferenceError::NotOffered {
            kind: kind_name,
            channel: channel_name,
        });
    }
    Ok(())
}

/// A notification to write for one person.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub data: serde_json::Value,
}

/// "Monday 7 December 2026, 09:00 GMT (Europe/London)": an instant as the reader's wall clock.
pub fn local_time(at: DateTime<Utc>, zone: TimeZone) -> String {
    let local = at.with_timezone(&zone.tz());
    format!(
        "{} ({})",
        local.format("%A %-d %B %Y, %H:%M %Z"),
        zone.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn stored_names_round_trip() {
        for &kind in NotificationKind::ALL {
            assert_eq!(kind.as_str().parse::<NotificationKind>(), Ok(kind));
        }
        for &channel in Channel::ALL {
            assert_eq!(channel.as_str().parse::<Channel>(), Ok(channel));
        }
        assert!("SESSION_CANCELED".parse::<NotificationKind>().is_err());
        for &kind in NotificationKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::json!(kind.as_str()));
        }
    }

    #[test]
    fn locked_preferences_stay_on_whatever_is_stored() {
        let p = preference(
            NotificationKind::SessionCancelled,
            Channel::InApp,
            Some(false),
        );
        assert!(p.enabled && p.locked);
        assert!(check_change(NotificationKind::SessionCancelled, Channel::Email, false).is_err());
        assert!(check_change(NotificationKind::SessionCancelled, Channel::Email, true).is_ok());
        assert!(check_change(NotificationKind::SessionCancelled, Channel::Sms, false).is_ok());
    }

    #[test]
    fn defaults_are_app_and_email_but_not_sms() {
        let p = preference(NotificationKind::SystemUpdate, Channel::InApp, None);
        assert!(p.enabled && !p.locked && p.offered);
        assert!(!preference(NotificationKind::SessionReminder, Channel::Sms, None).enabled);
        assert!(!preference(NotificationKind::SystemUpdate, Channel::InApp, Some(false)).enabled);
        assert!(preference(NotificationKind::SessionReminder, Channel::Sms, Some(true)).enabled);
    }

    #[test]
    fn only_kinds_that_are_texted_can_be_switched_on_by_sms() {
        use NotificationKind::*;
        assert!(check_change(SessionReminder, Channel::Sms, true).is_ok());
        assert!(check_change(SubscriptionUpdate, Channel::Sms, true).is_ok());
        assert_eq!(
            check_change(SystemUpdate, Channel::Sms, true),
            Err(PreferenceError::NotOffered {
                kind: "SYSTEM_UPDATE",
                channel: "SMS"
            })
        );
        // Switching off what never comes is harmless; every kind comes in the app and by email.
        assert!(check_change(SystemUpdate, Channel::Sms, false).is_ok());
        for &kind in NotificationKind::ALL {
            assert!(is_offered(kind, Channel::InApp) && is_offered(kind, Channel::Email));
        }
        // A choice stored before (or by hand) does not make it look on.
        let p = preference(SystemUpdate, Channel::Sms, Some(true));
        assert!(!p.enabled && !p.offered, "{p:?}");
    }

    #[test]
    fn local_time_names_the_zone_and_follows_its_offset() {
        let at = Utc.with_ymd_and_hms(2026, 7, 6, 8, 0, 0).unwrap();
        let london: TimeZone = "Europe/London".parse().unwrap();
        let kolkata: TimeZone = "Asia/Kolkata".parse().unwrap();
        assert_eq!(
            local_time(at, london),
            "Monday 6 July 2026, 09:00 BST (Europe/London)"
        );
        assert_eq!(
            local_time(at, kolkata),
            "Monday 6 July 2026, 13:30 IST (Asia/Kolkata)"
        );
    }
}
