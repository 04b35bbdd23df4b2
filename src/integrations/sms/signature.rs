//! `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed with the account's auth token, over the full
//! URL Twilio requested (query included) followed by each POST parameter's name and value, the
//! parameters sorted by name (and a repeated name's values in order), with no separators.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The signature of a request to `url` with form `params`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| {
        a.0.as_bytes()
            .cmp(b.0.as_bytes())
            .then(a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `header` signs the request. Twilio may have signed the URL with or without the default
/// port, so both forms are tried (as Twilio's own libraries do).
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let given = header.trim().as_bytes();
    urls(url)
        .iter()
        .any(|u| bool::from(sign(auth_token, u, params).as_bytes().ct_eq(given)))
}

/// `url`, and the same with the scheme's default port written out and left out.
fn urls(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Ok(parsed) = url::Url::parse(url) else {
        return out;
    };
    let default = match parsed.scheme() {
        "https" => 443,
        "http" => 80,
        _ => return out,
    };
    if parsed.port().is_some() {
        return out; // another port: signed as it is
    }
    // `Url` leaves a default port out when it writes a URL; the form with it is made from that.
    let without = parsed.to_string();
    let host = parsed.host_str().unwrap_or_default();
    let authority = format!("{}://{host}", parsed.scheme());
    if let Some(rest) = without.strip_prefix(&authority) {
        out.push(format!("{authority}:{default}{rest}"));
    }
    out.push(without);
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    #[test]
    fn twilios_own_vector() {
        assert_eq!(
            sign("12345", URL, &params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        let mut shuffled = params();
        shuffled.reverse();
        assert!(verify(
            "12345",
            URL,
            &shuffled,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn a_url_signed_with_its_default_port_passes_and_anything_changed_fails() {
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let signed = sign("12345", with_port, &params());
        assert!(verify("12345", URL, &params(), &signed));
        assert!(verify(
            "12345",
            with_port,
            &params(),
            &sign("12345", URL, &params())
        ));
        assert!(!verify(
            "54321",
            URL,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!verify(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        let mut extra = params();
        extra.push(("Body".into(), "STOP".into()));
        assert!(!verify(
            "12345",
            URL,
            &extra,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!verify("12345", URL, &params(), ""));
    }
}
