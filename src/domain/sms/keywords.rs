//! Replies that change what a number gets, as carriers and Twilio read them: the whole body, any
//! case, surrounding spaces ignored.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Opt the number out of everything.
    Stop,
    /// Opt it back in.
    Start,
    /// Answer with who we are and how to reach support.
    Help,
}

const STOP: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
const START: [&str; 3] = ["START", "YES", "UNSTOP"];
const HELP: [&str; 2] = ["HELP", "INFO"];

/// The keyword `body` is, if it is one.
pub fn keyword(body: &str) -> Option<Keyword> {
    let word = body.trim().to_ascii_uppercase();
    if STOP.contains(&word.as_str()) {
        Some(Keyword::Stop)
    } else if START.contains(&word.as_str()) {
        Some(Keyword::Start)
    } else if HELP.contains(&word.as_str()) {
        Some(Keyword::Help)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_body_keyword_counts() {
        assert_eq!(keyword("stop"), Some(Keyword::Stop));
        assert_eq!(keyword(" Unsubscribe \n"), Some(Keyword::Stop));
        assert_eq!(keyword("STOPALL"), Some(Keyword::Stop));
        assert_eq!(keyword("unstop"), Some(Keyword::Start));
        assert_eq!(keyword("Yes"), Some(Keyword::Start));
        assert_eq!(keyword("info"), Some(Keyword::Help));
        assert_eq!(keyword("please stop"), None);
        assert_eq!(keyword("stop it"), None);
        assert_eq!(keyword(""), None);
    }
}
