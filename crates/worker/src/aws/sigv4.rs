//! SigV4 signing with credentials from a provider (the standard AWS chain in
//! production), cached until shortly before they expire.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;

/// Credentials are fetched again this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Why a request could not be signed. Step Functions reports both as
/// `<Service>.SdkClientException`, the SDK's name for a failure on the client's side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SigningError {
    #[error("Unable to load AWS credentials: {0}")]
    Credentials(String),
    #[error("Unable to sign the request to {url}: {reason}")]
    Sign { url: String, reason: String },
}

/// Signs requests to AWS APIs. Cheap to clone: clones share the credentials cache.
#[derive(Clone)]
pub(crate) struct Signer {
    provider: SharedCredentialsProvider,
    cached: Arc<Mutex<Option<Credentials>>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

/// One request to sign.
pub(crate) struct Unsigned<'a> {
    /// The SigV4 signing name (`sqs`, `dynamodb`, …).
    pub service: &'a str,
    pub region: &'a str,
    pub method: &'a str,
    pub url: &'a str,
    /// The headers to send, all of which are signed.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    /// S3's variant of SigV4: the path is signed as sent (no second encoding, no
    /// normalisation) and `x-amz-content-sha256` carries the payload's hash.
    pub s3: bool,
}

impl Signer {
    pub(crate) fn new(provider: impl ProvideCredentials + 'static) -> Self {
        Signer {
            provider: SharedCredentialsProvider::new(provider),
            cached: Arc::new(Mutex::new(None)),
        }
    }

    /// Credentials, from the cache while they are more than five minutes from expiry.
    async fn credentials(&self) -> Result<Credentials, SigningError> {
        let now = SystemTime::now();
        let fresh = |c: &Credentials| c.expiry().is_none_or(|at| at > now + REFRESH_MARGIN);
        if let Ok(cached) = self.cached.lock() {
            if let Some(c) = cached.as_ref().filter(|c| fresh(c)) {
                return Ok(c.clone());
            }
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| SigningError::Credentials(crate::transport::describe(&e)))?;
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some(credentials.clone());
        }
        Ok(credentials)
    }

    /// The headers that sign `request` (`authorization`, `x-amz-date`, and
    /// `x-amz-security-token` for temporary credentials).
    pub(crate) async fn sign(
        &self,
        request: &Unsigned<'_>,
    ) -> Result<Vec<(String, String)>, SigningError> {
        let credentials = self.credentials().await?;
        let failed = |e: &dyn std::fmt::Display| SigningError::Sign {
            url: request.url.to_string(),
            reason: e.to_string(),
        };
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(request.region)
            .name(request.service)
            .time(SystemTime::now())
            .settings(settings(request.s3))
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let signable = SignableRequest::new(
            request.method,
            request.url,
            request.headers.iter().copied(),
            SignableBody::Bytes(request.body),
        )
        .map_err(|e| failed(&e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| failed(&e))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect())
    }
}

fn settings(s3: bool) -> SigningSettings {
    let mut settings = SigningSettings::default();
    if s3 {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    settings
}
