//! Sending one signed request to an AWS API and reading its answer.

use url::Url;

use crate::aws::endpoint::AwsService;
use crate::aws::sigv4::{Signer, Unsigned};
use crate::error::InvokeError;
use crate::transport::{fetch, Fetched};

/// A POST to an AWS API.
pub(crate) struct AwsRequest<'a> {
    pub service: AwsService,
    /// The region the request is signed for.
    pub region: &'a str,
    pub url: &'a Url,
    /// Headers to send and sign (`content-type`, `x-amz-target`, …).
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Vec<u8>,
}

/// Signs and sends `request`, reading at most `limit` bytes of the answer, whatever its
/// status. A request that could not be signed or sent, or whose answer could not be read,
/// is `<Service>.SdkClientException` as the AWS SDK names it, with the reason as cause.
pub(crate) async fn send(
    client: &reqwest::Client,
    signer: &Signer,
    limit: usize,
    request: AwsRequest<'_>,
) -> Result<Fetched, InvokeError> {
    let client_error = |cause: String| {
        InvokeError::named(
            format!("{}.SdkClientException", request.service.error_prefix()),
            cause,
        )
    };
    let url = request.url.as_str();
    let signed = signer
        .sign(&Unsigned {
            service: request.service.signing_name(),
            region: request.region,
            method: "POST",
            url,
            headers: request.headers,
            body: &request.body,
            s3: false,
        })
        .await
        .map_err(|e| client_error(e.to_string()))?;
    let mut builder = client.post(url).body(request.body);
    for (name, value) in request.headers {
        builder = builder.header(*name, *value);
    }
    for (name, value) in &signed {
        builder = builder.header(name.as_str(), value.as_str());
    }
    // Unsigned, so the signature holds: the task attempt's W3C trace context, which the
    // Lambda API hands to the function and the other services ignore.
    let builder = crate::transport::with_trace_headers(builder);
    fetch(builder, url, limit).await.map_err(|e| match e {
        InvokeError::Transport { url, reason } => {
            client_error(format!("Unable to execute HTTP request to {url}: {reason}"))
        }
        other => other,
    })
}
