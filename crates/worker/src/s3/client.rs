//! A small S3 client for any S3-compatible store: `GetObject` (streamed),
//! `ListObjectsV2` (one page a call), `PutObject` and the multipart upload calls, signed
//! with SigV4 (S3's variant: `x-amz-content-sha256`, the path signed as sent).
//!
//! Where a bucket is addressed: path-style (`http://host/bucket/key`) when the
//! configuration asks for it, when the endpoint is an IP address or `localhost`
//! (MinIO, moto, a store on the same machine), or when a bucket name with dots would not
//! match an HTTPS certificate; virtual-hosted (`https://bucket.host/key`) otherwise, as
//! AWS prefers.

use std::net::IpAddr;

use aws_credential_types::provider::ProvideCredentials;
use bytes::Bytes;
use quick_xml::events::Event;
use quick_xml::Reader;
use url::Url;

use crate::aws::endpoint::{service_endpoint, AwsService};
use crate::aws::sigv4::{Signer, Unsigned};
use crate::s3::error::S3Error;
use crate::targets::BuildError;
use crate::transport;

/// Error answers are short XML documents; more than this is not read.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// `ListObjectsV2` pages hold at most 1,000 keys; this bounds a hostile answer.
const LIST_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Where S3 is and how to reach it. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The region requests are signed for (and AWS's endpoint is in).
    pub region: String,
    /// The endpoint; `None`: `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`, then AWS's
    /// `https://s3.<region>.amazonaws.com` (resolved by [`S3Client::from_env`]).
    pub endpoint: Option<Url>,
    /// Always address buckets path-style (`host/bucket/key`), as MinIO-like stores
    /// behind a name want. IP addresses and `localhost` get path-style anyway.
    pub force_path_style: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            region: "us-east-1".into(),
            endpoint: None,
            force_path_style: false,
        }
    }
}

/// Talks to one S3-compatible store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct S3Client {
    http: reqwest::Client,
    signer: Signer,
    region: String,
    /// Scheme, host, port and base path of the endpoint.
    endpoint: Url,
    path_style: bool,
}

/// One page of `ListObjectsV2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectSummary>,
    /// The token for the next page; `None` on the last.
    pub next_continuation_token: Option<String>,
}

/// One key as `ListObjectsV2` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    pub key: String,
    /// As S3 sends it, quotes included (`"9b2cf535f27731c974343645a3985328"`).
    pub etag: String,
    /// As S3 sends it (`2026-01-02T03:04:05.000Z`).
    pub last_modified: String,
    pub size: u64,
    pub storage_class: String,
}

/// The body of a `GetObject` answer, read chunk by chunk as it arrives.
#[derive(Debug)]
pub struct ObjectBody {
    response: reqwest::Response,
    url: String,
}

impl ObjectBody {
    /// The next chunk; `None` at the end of the object.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, S3Error> {
        self.response
            .chunk()
            .await
            .map_err(|e| S3Error::transport(&self.url, &transport::describe(&e)))
    }

    /// The object's size, when S3 said it.
    pub fn content_length(&self) -> Option<u64> {
        self.response.content_length()
    }
}

impl S3Client {
    /// Production set-up: the endpoint from `config` or the environment
    /// (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`), credentials from the standard AWS
    /// chain, as the worker's Lambda calls have them. Reads the environment once, here.
    pub async fn from_env(config: S3Config) -> Result<S3Client, BuildError> {
        let http =
            transport::client(std::time::Duration::from_secs(10)).map_err(BuildError::Client)?;
        let endpoint = service_endpoint(AwsService::S3, config.endpoint.as_ref(), |name| {
            std::env::var(name).ok()
        })?;
        let credentials = crate::targets::default_credentials(&http, &config.region).await;
        S3Client::build(
            http,
            Signer::new(credentials),
            S3Config { endpoint, ..config },
        )
    }

    /// A client with explicit credentials (tests, embedders); reads no environment.
    pub fn new(
        config: S3Config,
        credentials: impl ProvideCredentials + 'static,
    ) -> Result<S3Client, BuildError> {
        let http =
            transport::client(std::time::Duration::from_secs(10)).map_err(BuildError::Client)?;
        S3Client::build(http, Signer::new(credentials), config)
    }

    fn build(
        http: reqwest::Client,
        signer: Signer,
        config: S3Config,
    ) -> Result<S3Client, BuildError> {
        let endpoint = match config.endpoint.clone() {
            Some(url) => url,
            None => {
                let text = format!("https://s3.{}.amazonaws.com", config.region);
                Url::parse(&text).map_err(|e| BuildError::Endpoint {
                    variable: "the S3 region",
                    value: config.region.clone(),
                    reason: e.to_string(),
                })?
            }
        };
        let by_address = match endpoint.host() {
            Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => true,
            Some(url::Host::Domain(d)) => {
                d.eq_ignore_ascii_case("localhost") || d.parse::<IpAddr>().is_ok()
            }
            None => true,
        };
        Ok(S3Client {
            http,
            signer,
            region: config.region,
            endpoint,
            path_style: config.force_path_style || by_address,
        })
    }

    /// Whether buckets are addressed path-style.
    pub fn path_style(&self) -> bool {
        self.path_style
    }

    /// The URL of `key` in `bucket` (`key` empty: the bucket itself), with `query`
    /// already encoded.
    pub fn url(&self, bucket: &str, key: &str, query: &str) -> String {
        let scheme = self.endpoint.scheme();
        let host = self.endpoint.host_str().unwrap_or("");
        let port = self
            .endpoint
            .port()
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        let base = self.endpoint.path().trim_end_matches('/');
        let key = encode(key, false);
        // A dotted bucket name breaks the certificate of `*.s3.amazonaws.com`.
        let path_style = self.path_style || (scheme == "https" && bucket.contains('.'));
        let mut url = if path_style {
            format!(
                "{scheme}://{host}{port}{base}/{}/{key}",
                encode(bucket, true)
            )
        } else {
            format!("{scheme}://{bucket}.{host}{port}{base}/{key}")
        };
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    /// `GetObject`: the body streams; nothing is buffered here.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectBody, S3Error> {
        let query = version_id
            .map(|v| format!("versionId={}", encode(v, true)))
            .unwrap_or_default();
        let url = self.url(bucket, key, &query);
        let response = self.send("GET", &url, &[], Vec::new()).await?;
        Ok(ObjectBody { response, url })
    }

    /// One page of `ListObjectsV2` (up to 1,000 keys).
    pub async fn list_objects_v2(
        &self,
        bucket: &str,
        prefix: Option<&str>,
        continuation_token: Option<&str>,
    ) -> Result<ListPage, S3Error> {
        // Parameters in the order SigV4 sorts them, all encoded as S3 wants.
        let mut query = Vec::new();
        if let Some(token) = continuation_token {
            query.push(format!("continuation-token={}", encode(token, true)));
        }
        query.push("list-type=2".to_string());
        if let Some(prefix) = prefix {
            query.push(format!("prefix={}", encode(prefix, true)));
        }
        let url = self.url(bucket, "", &query.join("&"));
        let response = self.send("GET", &url, &[], Vec::new()).await?;
        let body = read_limited(response, &url, LIST_BODY_LIMIT).await?;
        parse_list_page(&body).map_err(|reason| {
            S3Error::client(format!(
                "The ListObjectsV2 answer from {url} is not readable: {reason}"
            ))
        })
    }

    /// `CreateBucket` in the client's region (for set-ups and tests).
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        let body = if self.region == "us-east-1" {
            Vec::new()
        } else {
            format!(
                "<CreateBucketConfiguration><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                quick_xml::escape::escape(self.region.as_str())
            )
            .into_bytes()
        };
        let url = self.url(bucket, "", "");
        self.send("PUT", &url, &[], body).await.map(drop)
    }

    /// `PutObject` of a body held in memory.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), S3Error> {
        let url = self.url(bucket, key, "");
        let response = self
            .send("PUT", &url, &[("content-type", content_type)], body)
            .await?;
        drop(response);
        Ok(())
    }

    /// `CreateMultipartUpload`: the upload id.
    pub async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> Result<String, S3Error> {
        let url = self.url(bucket, key, "uploads=");
        let response = self
            .send("POST", &url, &[("content-type", content_type)], Vec::new())
            .await?;
        let body = read_limited(response, &url, ERROR_BODY_LIMIT).await?;
        let [id] = crate::aws::query::first_texts(&body, ["UploadId"]);
        id.ok_or_else(|| {
            S3Error::client(format!("CreateMultipartUpload at {url} gave no UploadId"))
        })
    }

    /// `UploadPart`: the part's ETag.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Vec<u8>,
    ) -> Result<String, S3Error> {
        let query = format!(
            "partNumber={part_number}&uploadId={}",
            encode(upload_id, true)
        );
        let url = self.url(bucket, key, &query);
        let response = self.send("PUT", &url, &[], body).await?;
        response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| S3Error::client(format!("UploadPart at {url} gave no ETag")))
    }

    /// `CompleteMultipartUpload` of `parts` (number, ETag) in order.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<(), S3Error> {
        let url = self.url(
            bucket,
            key,
            &format!("uploadId={}", encode(upload_id, true)),
        );
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (number, etag) in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
                quick_xml::escape::escape(etag.as_str())
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let response = self
            .send(
                "POST",
                &url,
                &[("content-type", "application/xml")],
                xml.into_bytes(),
            )
            .await?;
        // S3 can answer 200 with an error document once the upload has started.
        let body = read_limited(response, &url, ERROR_BODY_LIMIT).await?;
        if let [Some(code), message, request_id, host_id] =
            crate::aws::query::first_texts(&body, ["Code", "Message", "RequestId", "HostId"])
        {
            return Err(S3Error::service(200, code, message, request_id, host_id));
        }
        Ok(())
    }

    /// `AbortMultipartUpload`, so a failed upload leaves no parts behind.
    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        let url = self.url(
            bucket,
            key,
            &format!("uploadId={}", encode(upload_id, true)),
        );
        self.send("DELETE", &url, &[], Vec::new()).await.map(drop)
    }

    /// Signs and sends one request; a non-2xx answer becomes the [`S3Error`] it names.
    async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<reqwest::Response, S3Error> {
        let signed = self
            .signer
            .sign(&Unsigned {
                service: "s3",
                region: &self.region,
                method,
                url,
                headers,
                body: &body,
                s3: true,
            })
            .await
            .map_err(|e| S3Error::client(e.to_string()))?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| S3Error::client(e.to_string()))?;
        let mut builder = self.http.request(method, url).body(body);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        for (name, value) in &signed {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = builder
            .send()
            .await
            .map_err(|e| S3Error::transport(url, &transport::describe(&e)))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let request_id = header(&response, "x-amz-request-id");
        let host_id = header(&response, "x-amz-id-2");
        let body = read_limited(response, url, ERROR_BODY_LIMIT)
            .await
            .unwrap_or_default();
        let [code, message, xml_request_id, xml_host_id] =
            crate::aws::query::first_texts(&body, ["Code", "Message", "RequestId", "HostId"]);
        Err(S3Error::service(
            status,
            code.unwrap_or_else(|| unnamed_code(status).to_string()),
            message,
            xml_request_id.or(request_id),
            xml_host_id.or(host_id),
        ))
    }
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// What S3 calls an error that came without a body (a `HEAD`, a proxy's answer).
fn unnamed_code(status: u16) -> &'static str {
    match status {
        301 => "PermanentRedirect",
        403 => "AccessDenied",
        404 => "NotFound",
        _ => "AmazonS3Exception",
    }
}

async fn read_limited(
    mut response: reqwest::Response,
    url: &str,
    limit: usize,
) -> Result<Vec<u8>, S3Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| S3Error::transport(url, &transport::describe(&e)))?
    {
        if body.len() + chunk.len() > limit {
            return Err(S3Error::client(format!(
                "The answer from {url} is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// S3's URI encoding: every byte but the unreserved ones (and `/` in a key's path).
pub(crate) fn encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !encode_slash)
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn parse_list_page(xml: &[u8]) -> Result<ListPage, String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut objects = Vec::new();
    let mut current: Option<ObjectSummary> = None;
    let mut token = None;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(start)) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                if name == "Contents" && path.len() == 1 {
                    current = Some(ObjectSummary {
                        key: String::new(),
                        etag: String::new(),
                        last_modified: String::new(),
                        size: 0,
                        storage_class: "STANDARD".into(),
                    });
                }
                path.push(name);
                text.clear();
            }
            Ok(Event::Text(t)) => match t.unescape() {
                Ok(part) => text.push_str(&part),
                Err(e) => return Err(e.to_string()),
            },
            Ok(Event::End(_)) => {
                let name = path.pop().unwrap_or_default();
                let in_contents = path.len() == 2 && path[1] == "Contents";
                if let (true, Some(object)) = (in_contents, current.as_mut()) {
                    match name.as_str() {
                        "Key" => object.key = std::mem::take(&mut text),
                        "ETag" => object.etag = std::mem::take(&mut text),
                        "LastModified" => object.last_modified = std::mem::take(&mut text),
                        "Size" => {
                            object.size = text
                                .trim()
                                .parse()
                                .map_err(|_| format!("bad Size '{text}'"))?
                        }
                        "StorageClass" => object.storage_class = std::mem::take(&mut text),
                        _ => {}
                    }
                } else if name == "Contents" && path.len() == 1 {
                    objects.extend(current.take());
                } else if name == "NextContinuationToken" && path.len() == 1 {
                    token = Some(std::mem::take(&mut text));
                }
                text.clear();
            }
            Ok(Event::Eof) => break,
            Err(e) => return Err(e.to_string()),
            Ok(_) => {}
        }
        buf.clear();
    }
    Ok(ListPage {
        objects,
        next_continuation_token: token.filter(|t| !t.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    fn client(endpoint: Option<&str>, force: bool) -> S3Client {
        S3Client::new(
            S3Config {
                region: "eu-west-1".into(),
                endpoint: endpoint.and_then(|e| Url::parse(e).ok()),
                force_path_style: force,
            },
            Credentials::new("a", "b", None, None, "test"),
        )
        .expect("client")
    }

    #[test]
    fn addressing_style_follows_the_endpoint() {
        let aws = client(None, false);
        assert!(!aws.path_style());
        assert_eq!(
            aws.url("b", "dir/a b+c.csv", ""),
            "https://b.s3.eu-west-1.amazonaws.com/dir/a%20b%2Bc.csv"
        );
        assert_eq!(
            aws.url("my.bucket", "k", ""),
            "https://s3.eu-west-1.amazonaws.com/my.bucket/k"
        );
        let local = client(Some("http://127.0.0.1:9000"), false);
        assert!(local.path_style());
        assert_eq!(
            local.url("b", "k", "list-type=2"),
            "http://127.0.0.1:9000/b/k?list-type=2"
        );
        assert!(client(Some("http://localhost:9000/"), false).path_style());
        assert!(client(Some("http://[::1]:9000/"), false).path_style());
        let minio = client(Some("https://minio.internal"), true);
        assert_eq!(minio.url("b", "", ""), "https://minio.internal/b/");
        let named = client(Some("https://storage.example.com/base/"), false);
        assert_eq!(
            named.url("b", "k", ""),
            "https://b.storage.example.com/base/k"
        );
    }

    #[test]
    fn list_pages_parse() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><Contents><Key>a&amp;b.txt</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>c</Key><LastModified>2026-01-02T03:04:06.000Z</LastModified><ETag>"def"</ETag><Size>0</Size></Contents><NextContinuationToken>tok/1</NextContinuationToken></ListBucketResult>"#;
        let page = parse_list_page(xml).expect("parses");
        assert_eq!(page.next_continuation_token.as_deref(), Some("tok/1"));
        assert_eq!(page.objects.len(), 2);
        assert_eq!(page.objects[0].key, "a&b.txt");
        assert_eq!(page.objects[0].etag, "\"abc\"");
        assert_eq!(page.objects[0].size, 12);
        assert_eq!(page.objects[1].storage_class, "STANDARD");
        assert!(parse_list_page(
            b"<ListBucketResult><Contents><Size>x</Size></Contents></ListBucketResult>"
        )
        .is_err());
    }
}
