//! A session's room: which kind it is and whether it is ready. Every session has a room from the
//! start (built in); one written to a Google calendar gets a Meet link when Google has made it.

listed_enum! { $
    /// Who hosts a session's room.
    pub enum MeetingProvider, meeting_providers, "SCREAMING_SNAKE_CASE" {
        BuiltIn, GoogleMeet, MicrosoftTeams,
    }
}

listed_enum! { $
    /// `Pending`: the provider is still making the room (the built-in one serves meanwhile);
    /// `Failed`: it could not, and the built-in room stays.
    pub enum MeetingStatus, meeting_statuses, "SCREAMING_SNAKE_CASE" { Pending, Ready, Failed }
}
