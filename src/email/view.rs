//! What a template is filled with. Stored with each email (`variables`), so what was sent can be
//! rendered again. Every field is text already in the recipient's language and time zone; the
//! templates escape all of it.

use serde::{Deserialize, Serialize};

/// One entry of a digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestItem {
    pub title: String,
    pub body: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmailView {
    /// Who it is for ("Hi Jane").
    pub recipient_name: String,
    pub mentor_name: String,
    pub student_name: String,
    /// The other participant, from the recipient's side.
    pub other_name: String,
    /// What the sessions are about.
    pub topic: String,
    /// "once a week", "twice a week"...
    pub frequency: Option<String>,
    /// The (first) session, as the recipient's wall clock with the zone's name.
    pub when: Option<String>,
    /// Where a moved session was.
    pub previous_when: Option<String>,
    /// Every session concerned, one line each.
    pub sessions: Vec<String>,
    pub reason: Option<String>,
    /// The recipient's own join link.
    pub join_url: Option<String>,
    /// The main button.
    pub action_url: Option<String>,
    pub action_label: Option<String>,
    /// Platform emails (`sendNotification`): the heading and the paragraph.
    pub title: Option<String>,
    pub body: Option<String>,
    /// Label and value pairs shown as a table (amount, ticket, status...).
    pub details: Vec<(String, String)>,
    /// A digest's entries.
    pub items: Vec<DigestItem>,
}
