//! Phone numbers as E.164 (`+` country code and number, at most 15 digits), checked against the
//! country's numbering plan (libphonenumber's metadata, through the `phonenumber` crate).

use std::fmt;

/// A valid phone number in E.164.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

/// Why a phone number is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("must be in international form, starting with + and the country code (E.164)")]
    NotInternational,
    #[error("is not a phone number")]
    Unreadable,
    #[error("is not a valid number in its country's numbering plan")]
    Invalid,
}

/// Longer input is not a phone number, however it is spaced.
const MAX_INPUT: usize = 32;

impl PhoneNumber {
    /// Reads `raw` (spaces, dashes, dots and brackets allowed, as people write numbers) and keeps
    /// it as E.164. A national form without `+` is refused: there is no country to assume.
    pub fn parse(raw: &str) -> Result<PhoneNumber, PhoneError> {
        let raw = raw.trim();
        if raw.len() > MAX_INPUT || raw.chars().any(char::is_control) {
            return Err(PhoneError::Unreadable);
        }
        if !raw.starts_with('+') {
            return Err(PhoneError::NotInternational);
        }
        if !raw[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
        {
            return Err(PhoneError::Unreadable);
        }
        let number = phonenumber::parse(None, raw).map_err(|_| PhoneError::Unreadable)?;
        if number.extension().is_some() {
            return Err(PhoneError::Unreadable);
        }
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid);
        }
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        Ok(PhoneNumber(e164))
    }

    /// A number read back from storage or from a provider, already E.164.
    pub fn stored(e164: &str) -> Option<PhoneNumber> {
        let digits = e164.strip_prefix('+')?;
        let ok = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| PhoneNumber(e164.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `+44 7… …42`: enough to recognise, not enough to read out (for logs and shown text).
    pub fn masked(&self) -> String {
        let n = &self.0;
        let tail = &n[n.len() - 2..];
        format!("{}…{tail}", &n[..n.len().min(4)])
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_people_write_them_become_e164() {
        for (raw, e164) in [
            ("+44 7400 123456", "+447400123456"),
            ("+1 (201) 555-0123", "+12015550123"),
            ("+91 81234 56789", "+918123456789"),
            ("+61 412 345 678", "+61412345678"),
            (" +49 1512 3456789 ", "+4915123456789"),
        ] {
            assert_eq!(
                PhoneNumber::parse(raw).map(|n| n.to_string()),
                Ok(e164.to_string()),
                "{raw}"
            );
        }
    }

    #[test]
    fn what_is_not_a_valid_international_number_is_refused() {
        assert_eq!(
            PhoneNumber::parse("07400 123456"),
            Err(PhoneError::NotInternational)
        );
        assert_eq!(PhoneNumber::parse(""), Err(PhoneError::NotInternational));
        assert_eq!(
            PhoneNumber::parse("+44 7400 123456 ext 5"),
            Err(PhoneError::Unreadable)
        );
        assert_eq!(
            PhoneNumber::parse("+1 415 CALL NOW"),
            Err(PhoneError::Unreadable)
        );
        assert_eq!(
            PhoneNumber::parse("+44 7400\n123456"),
            Err(PhoneError::Unreadable)
        );
        assert_eq!(
            PhoneNumber::parse(&format!("+{}", "1".repeat(40))),
            Err(PhoneError::Unreadable)
        );
        assert_eq!(PhoneNumber::parse("+44 12"), Err(PhoneError::Invalid));
        assert_eq!(PhoneNumber::parse("+1 555 0100"), Err(PhoneError::Invalid));
    }

    #[test]
    fn stored_numbers_are_read_back_and_masked() {
        let n = PhoneNumber::stored("+447400123456").unwrap();
        assert_eq!(n.masked(), "+447…56");
        assert_eq!(format!("{n:?}"), "PhoneNumber(+447…56)");
        assert!(PhoneNumber::stored("447700900123").is_none());
        assert!(PhoneNumber::stored("+44abc").is_none());
    }
}
