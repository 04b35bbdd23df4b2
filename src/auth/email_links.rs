//! Signed tracking links in emails: the open pixel (`/email/open/{id}`) and the click redirect
//! (`/email/click/{id}?url=...`).
//!
//! Each carries an HMAC-SHA256 over what it names (the email, and for a click the exact target), under
//! a key derived from `JWT_SECRET` for this purpose only (HKDF, see [`keys`](super::keys)). So nobody can mark someone else's email
//! opened, nor use the redirect to send people anywhere an email of ours did not link to.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::keys::{derive, Purpose};
use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

pub struct EmailLinks {
    key: Vec<u8>,
    base_url: String,
}

impl EmailLinks {
    pub fn new(secret: &Secret, public_base_url: &str) -> Self {
        EmailLinks {
            key: derive(secret, Purpose::EmailTracking).to_vec(),
            base_url: public_base_url.trim_end_matches('/').to_string(),
        }
    }

    fn mac(&self, parts: &[&str]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in parts {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") sign differently.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    fn sign(&self, parts: &[&str]) -> String {
        hex::encode(self.mac(parts).finalize().into_bytes())
    }

    fn verify(&self, parts: &[&str], signature: &str) -> bool {
        match hex::decode(signature) {
            Ok(bytes) => self.mac(parts).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }

    /// The 1x1 image whose loading marks `email_id` opened.
    pub fn open_url(&self, email_id: &str) -> String {
        let sig = self.sign(&["open", email_id]);
        format!("{}/email/open/{email_id}?sig={sig}", self.base_url)
    }

    /// A link through the redirect to `target`, marking `email_id` clicked.
    pub fn click_url(&self, email_id: &str, target: &str) -> String {
        let sig = self.sign(&["click", email_id, target]);
        let query = serde_urlencoded::to_string([("url", target), ("sig", sig.as_str())])
            .expect("string pairs always encode");
        format!("{}/email/click/{email_id}?{query}", self.base_url)
    }

    pub fn verify_open(&self, email_id: &str, signature: &str) -> bool {
        self.verify(&["open", email_id], signature)
    }

    pub fn verify_click(&self, email_id: &str, target: &str, signature: &str) -> bool {
        self.verify(&["click", email_id, target], signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> EmailLinks {
        EmailLinks::new(&Secret::new("s3cret"), "https://api.example/")
    }

    fn param(url: &str, name: &str) -> String {
        let query = url.split_once('?').unwrap().1;
        let raw = query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap();
        let bytes = raw.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&raw[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn signatures_bind_the_email_and_the_target() {
        let l = links();
        let open = l.open_url("e1");
        assert!(open.starts_with("https://api.example/email/open/e1?sig="));
        let sig = param(&open, "sig");
        assert!(l.verify_open("e1", &sig));
        assert!(!l.verify_open("e2", &sig));
        assert!(!l.verify_open("e1", "zz"));

        let target = "https://dash.example/bookings/b1?tab=a&x=1";
        let click = l.click_url("e1", target);
        assert_eq!(param(&click, "url"), target);
        let sig = param(&click, "sig");
        assert!(l.verify_click("e1", target, &sig));
        assert!(!l.verify_click("e1", "https://evil.example", &sig));
        assert!(!l.verify_click("e2", target, &sig));
        // An open signature is not a click signature.
        assert!(!l.verify_click("e1", "", &param(&open, "sig")));
        let other = EmailLinks::new(&Secret::new("other"), "https://api.example");
        assert!(!other.verify_click("e1", target, &sig));
    }
}
