//! Amazon SNS message signatures: the string to sign built from the envelope's own fields, checked
//! with the RSA key of the certificate at `SigningCertURL` (`SignatureVersion` 1 = SHA1withRSA,
//! 2 = SHA256withRSA), and the rules that URL must meet before anything is fetched from it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use regex::Regex;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::Value;
use x509_cert::der::{DecodePem, Encode};
use x509_cert::Certificate;

use super::signature_error::SignatureError;

/// The hosts Amazon signs from (`sns.<region>.amazonaws.com`, `.cn` in China), as AWS's own
/// validators match them; `SNS_CERT_HOST_PATTERN` replaces it (tests use a local CA).
pub const AWS_HOST_PATTERN: &str = r"^sns\.[a-zA-Z0-9-]{3,}\.amazonaws\.com(\.cn)?$";
/// The longest base64 signature read (4096-bit RSA is 684 characters).
const MAX_SIGNATURE_CHARS: usize = 1024;

/// The signed fields of each message type, in the order they are signed.
const NOTIFICATION: &[&str] = &[
    "Message",
    "MessageId",
    "Subject",
    "Timestamp",
    "TopicArn",
    "Type",
];
const CONFIRMATION: &[&str] = &[
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
];

/// `key\nvalue\n` for each signed field present, in order. `Subject` is signed only when present and
/// not null; every other field must be there.
pub fn string_to_sign(envelope: &Value) -> Result<String, SignatureError> {
    let kind = envelope
        .get("Type")
        .and_then(Value::as_str)
        .ok_or(SignatureError::Malformed)?;
    let fields = match kind {
        "Notification" => NOTIFICATION,
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => CONFIRMATION,
        _ => return Err(SignatureError::Malformed),
    };
    let mut signed = String::new();
    for field in fields {
        match envelope.get(*field) {
            Some(Value::String(value)) => {
                signed.push_str(field);
                signed.push('\n');
                signed.push_str(value);
                signed.push('\n');
            }
            None | Some(Value::Null) if *field == "Subject" => {}
            _ => return Err(SignatureError::Malformed),
        }
    }
    Ok(signed)
}

/// The SHA-1 or SHA-256 of `SignatureVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    Sha1,
    Sha256,
}

impl SignatureVersion {
    pub fn of(envelope: &Value) -> Result<SignatureVersion, SignatureError> {
        match envelope.get("SignatureVersion").and_then(Value::as_str) {
            Some("1") => Ok(SignatureVersion::Sha1),
            Some("2") => Ok(SignatureVersion::Sha256),
            Some(other) => Err(SignatureError::Version(other.chars().take(16).collect())),
            None => Err(SignatureError::Missing),
        }
    }
}

/// The RSA key of a PEM certificate.
pub fn certificate_key(pem: &[u8]) -> Result<RsaPublicKey, SignatureError> {
    let certificate = Certificate::from_pem(pem).map_err(|_| SignatureError::BadCertificate)?;
    let der = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| SignatureError::BadCertificate)?;
    RsaPublicKey::from_public_key_der(&der).map_err(|_| SignatureError::BadCertificate)
}

/// Checks the envelope's `Signature` over `signed` with `key`.
pub fn verify(
    key: &RsaPublicKey,
    version: SignatureVersion,
    envelope: &Value,
    signed: &str,
) -> Result<(), SignatureError> {
    let encoded = envelope
        .get("Signature")
        .and_then(Value::as_str)
        .ok_or(SignatureError::Missing)?;
    if encoded.len() > MAX_SIGNATURE_CHARS {
        return Err(SignatureError::Malformed);
    }
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|_| SignatureError::Malformed)?;
    let signature = Signature::try_from(bytes.as_slice()).map_err(|_| SignatureError::Malformed)?;
    let checked = match version {
        SignatureVersion::Sha1 => {
            VerifyingKey::<sha1::Sha1>::new(key.clone()).verify(signed.as_bytes(), &signature)
        }
        SignatureVersion::Sha256 => {
            VerifyingKey::<sha2::Sha256>::new(key.clone()).verify(signed.as_bytes(), &signature)
        }
    };
    checked.map_err(|_| SignatureError::Mismatch)
}

/// `raw` as a URL SNS may name (a certificate or a subscription link): https, no credentials, and
/// an authority (`host`, or `host:port` when a port is given) that `hosts` matches whole; for a
/// certificate also a path ending in `.pem`. Returned normalized.
pub fn trusted_url(raw: &str, hosts: &Regex, certificate: bool) -> Option<url::Url> {
    if raw.chars().any(char::is_control) {
        return None;
    }
    let url = url::Url::parse(raw).ok()?;
    let host = url.host_str()?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let plain = url.scheme() == "https" && url.username().is_empty() && url.password().is_none();
    let pem = !certificate || url.path().ends_with(".pem");
    (plain && pem && hosts.is_match(&authority)).then_some(url)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn aws() -> Regex {
        Regex::new(AWS_HOST_PATTERN).unwrap()
    }

    #[test]
    fn the_string_to_sign_takes_each_types_fields_in_order() {
        let notification = json!({"Type": "Notification", "MessageId": "m", "TopicArn": "t",
            "Message": "hi", "Timestamp": "2026-01-01T00:00:00.000Z", "Signature": "x", "Extra": "e"});
        assert_eq!(
            string_to_sign(&notification).unwrap(),
            "Message\nhi\nMessageId\nm\nTimestamp\n2026-01-01T00:00:00.000Z\nTopicArn\nt\nType\nNotification\n"
        );
        let mut with_subject = notification.clone();
        with_subject["Subject"] = json!("s");
        assert!(string_to_sign(&with_subject)
            .unwrap()
            .contains("MessageId\nm\nSubject\ns\nTimestamp"));
        let mut null_subject = notification.clone();
        null_subject["Subject"] = Value::Null;
        assert_eq!(string_to_sign(&null_subject), string_to_sign(&notification));
        let confirmation = json!({"Type": "SubscriptionConfirmation", "MessageId": "m", "TopicArn": "t",
            "Message": "hi", "Timestamp": "ts", "Token": "tok", "SubscribeURL": "https://u"});
        assert_eq!(
            string_to_sign(&confirmation).unwrap(),
            "Message\nhi\nMessageId\nm\nSubscribeURL\nhttps://u\nTimestamp\nts\nToken\ntok\nTopicArn\nt\nType\nSubscriptionConfirmation\n"
        );
        let mut missing = notification.clone();
        missing.as_object_mut().unwrap().remove("TopicArn");
        assert_eq!(string_to_sign(&missing), Err(SignatureError::Malformed));
        assert_eq!(
            string_to_sign(&json!({"Type": "Other"})),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn only_https_pem_urls_on_the_sns_hosts_are_trusted() {
        let ok = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem";
        assert!(trusted_url(ok, &aws(), true).is_some());
        assert!(trusted_url(
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
            &aws(),
            true
        )
        .is_some());
        for bad in [
            "http://sns.eu-west-1.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com/x.txt",
            "https://s3.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.eu-west-1.amazonaws.com/x.pem",
            "https://user:pw@sns.eu-west-1.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com:8443/x.pem",
            "https://sns.ab.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com/x.pem\n",
            "not a url",
        ] {
            assert!(trusted_url(bad, &aws(), true).is_none(), "{bad}");
        }
        // Subscription links need not end in .pem.
        assert!(trusted_url(
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
            &aws(),
            false
        )
        .is_some());
        let local = Regex::new(r"^localhost:\d+$").unwrap();
        assert!(trusted_url("https://localhost:8443/c.pem", &local, true).is_some());
        assert!(trusted_url("https://localhost/c.pem", &local, true).is_none());
    }

    #[test]
    fn only_versions_1_and_2_are_read() {
        assert_eq!(
            SignatureVersion::of(&json!({"SignatureVersion": "1"})),
            Ok(SignatureVersion::Sha1)
        );
        assert_eq!(
            SignatureVersion::of(&json!({"SignatureVersion": "2"})),
            Ok(SignatureVersion::Sha256)
        );
        assert!(matches!(
            SignatureVersion::of(&json!({"SignatureVersion": "3"})),
            Err(SignatureError::Version(_))
        ));
        assert_eq!(
            SignatureVersion::of(&json!({})),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn what_is_not_an_rsa_certificate_is_refused() {
        assert_eq!(
            certificate_key(b"nothing").unwrap_err(),
            SignatureError::BadCertificate
        );
    }
}
