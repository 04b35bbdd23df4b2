//! Why a provider webhook's signature did not pass.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature headers are missing")]
    Missing,
    #[error("the signature or its timestamp is malformed")]
    Malformed,
    #[error("the signature does not match")]
    Mismatch,
    #[error("the signed timestamp is too far from now")]
    Stale,
    #[error("`SignatureVersion` {0:?} is not 1 or 2")]
    Version(String),
    #[error("`SigningCertURL` is not an https .pem URL on a trusted host")]
    UntrustedCertificateUrl,
    #[error("the signing certificate is not an RSA certificate")]
    BadCertificate,
    #[error("the signing certificate could not be fetched: {0}")]
    CertificateUnavailable(String),
    #[error("the topic {0:?} is not one this service subscribed to")]
    Topic(String),
}

impl SignatureError {
    /// True when trying again later may pass (the certificate host did not answer): the provider
    /// should retry, so the answer is 503, not a refusal.
    pub fn is_temporary(&self) -> bool {
        matches!(self, SignatureError::CertificateUnavailable(_))
    }
}
