//! SMTP `PIPELINING` (RFC 2920) over lettre's connection: `MAIL`, `RCPT` and `DATA` go out in one
//! write and their replies are read in turn, so a message costs two round trips (the envelope,
//! then the content) instead of four. lettre waits for each reply and does not offer pipelining;
//! this uses only its public pieces (its command types for the text, `command` and
//! `read_response` for the talk, `message` for the content), and only with servers that list
//! `PIPELINING` in their EHLO reply. Against a relay across a network each round trip saved is a
//! network delay per message; on loopback it is two wake-ups fewer on each side.
//!
//! Errors are lettre's and mean what they mean for its own `send`: the first refused reply wins
//! (a `RCPT` refused with 550 is a permanent failure for that address). The replies after it are
//! left unread, so the connection is never used again (the pool drops a connection that failed).

use std::fmt;

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::Error;

/// Asks the server again for its extensions (lettre keeps only those it uses) and says whether it
/// offers pipelining. Call before authenticating: a new EHLO resets the session.
pub async fn offered(
    connection: &mut AsyncSmtpConnection,
    hello: &ClientId,
) -> Result<bool, Error> {
    let reply = connection.command(Ehlo::new(hello.clone())).await?;
    Ok(lists_pipelining(reply.message()))
}

/// Whether EHLO reply lines (the first is the server's name) list `PIPELINING`.
fn lists_pipelining<'a>(mut lines: impl Iterator<Item = &'a str>) -> bool {
    lines.any(|line| {
        line.split_ascii_whitespace()
            .next()
            .is_some_and(|keyword| keyword.eq_ignore_ascii_case("PIPELINING"))
    })
}

/// Text written as it is: commands already formatted, joined.
struct Raw<'a>(&'a str);

impl fmt::Display for Raw<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Why a pipelined send failed.
#[derive(Debug)]
pub enum Failed {
    /// What the server answered, or the connection's failure, as lettre reports it.
    Smtp(Error),
    /// The message needs an extension the server does not offer: permanent, as lettre's own `send`
    /// treats it.
    Unsupported(&'static str),
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Failed::Smtp(error)
    }
}

/// Sends `email` to `envelope` on a connection whose server offers pipelining; the server's reply
/// to the content.
pub async fn send(
    connection: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    email: &[u8],
) -> Result<Response, Failed> {
    let options = mail_parameters(connection, envelope, email)?;
    let mut commands = Mail::new(envelope.from().cloned(), options).to_string();
    for to in envelope.to() {
        commands.push_str(&Rcpt::new(to.clone(), vec![]).to_string());
    }
    commands.push_str(&Data.to_string());
    // One write; `command` reads the first reply (MAIL's), the rest follow in order.
    connection.command(Raw(&commands)).await?;
    for _ in envelope.to() {
        connection.read_response().await?;
    }
    connection.read_response().await?; // 354: the content may follow
    Ok(connection.message(email).await?)
}

/// `MAIL` parameters as lettre's own `send` sets them: `SMTPUTF8` for addresses that are not
/// ASCII and `BODY=8BITMIME` for content that is not, each refused when the server lacks it.
fn mail_parameters(
    connection: &AsyncSmtpConnection,
    envelope: &Envelope,
    email: &[u8],
) -> Result<Vec<MailParameter>, Failed> {
    let info = connection.server_info();
    let mut parameters = Vec::new();
    let non_ascii_address = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|address| !AsRef::<str>::as_ref(address).is_ascii());
    if non_ascii_address {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return Err(Failed::Unsupported(
                "the envelope has addresses that are not ASCII, and the SMTP server does not offer SMTPUTF8",
            ));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !email.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            return Err(Failed::Unsupported(
                "the message is not ASCII, and the SMTP server does not offer 8BITMIME",
            ));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(parameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelining_is_found_among_the_extensions_in_any_case() {
        let offered = [
            "mail.example.com",
            "SIZE 33554432",
            "8BITMIME",
            "pipelining",
            "HELP",
        ];
        assert!(lists_pipelining(offered.into_iter()));
        let not = [
            "mail.example.com Hello PIPELINING",
            "SIZE 1000",
            "X-PIPELINING-LATER",
            "8BITMIME",
        ];
        assert!(!lists_pipelining(not.into_iter()));
    }
}
