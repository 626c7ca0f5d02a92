//! The verifier against an oracle: requests signed by the `aws-sigv4` crate (the AWS SDK
//! for Rust's signer) must verify, and any change to them must not. Plus a property test
//! that the `Authorization` parser never panics and refuses what is not a signature.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

use super::*;
use crate::auth::keys::{Keys, KeysConfig, Source};
use crate::auth::{Auth, AuthError};

const KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const BODY: &[u8] =
    br#"{"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m"}"#;

fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000)
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from(at())
}

/// A request as it arrives: method, path, query and headers.
struct Arrived {
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Signs `POST http://host/path?query` with the oracle.
fn signed(host: &str, query: &str, secret: &str, presign: bool, time: SystemTime) -> Arrived {
    let url = if query.is_empty() {
        format!("http://{host}/")
    } else {
        format!("http://{host}/?{query}")
    };
    let headers = [
        ("host", host),
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "AWSStepFunctions.DescribeStateMachine"),
    ];
    let identity = Credentials::new(KEY, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    if presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(900));
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("states")
        .time(time)
        .settings(settings)
        .build()
        .expect("params")
        .into();
    let body = if presign {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(BODY)
    };
    let signable =
        SignableRequest::new("POST", &url, headers.iter().copied(), body).expect("signable");
    let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
    let mut map = HeaderMap::new();
    for (name, value) in headers.iter().copied() {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    for (name, value) in instructions.headers() {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    let mut query_parts: Vec<String> = if query.is_empty() {
        Vec::new()
    } else {
        vec![query.to_string()]
    };
    for (name, value) in instructions.params() {
        let encode = |s: &str| uri_encode(s, true);
        query_parts.push(format!("{}={}", encode(name), encode(value)));
    }
    Arrived {
        path: "/".to_string(),
        query: (!query_parts.is_empty()).then(|| query_parts.join("&")),
        headers: map,
        body: BODY.to_vec(),
    }
}

fn auth() -> Auth {
    Auth::with_keys(
        Keys::load(KeysConfig {
            credentials: Source::Inline(format!("{KEY}:{SECRET}, OTHER:other-secret")),
            policies: None,
        })
        .expect("keys"),
    )
}

fn verify(arrived: &Arrived, now: chrono::DateTime<chrono::Utc>) -> Result<String, AuthError> {
    let request = Request {
        method: "POST",
        path: &arrived.path,
        query: arrived.query.as_deref(),
        headers: &arrived.headers,
        authority: None,
    };
    auth()
        .verify(&request, &arrived.body, "us-east-1", "states", now)
        .map(|caller| caller.map(|c| c.access_key).unwrap_or_default())
}

#[test]
fn what_the_sdk_signs_verifies() {
    for host in ["127.0.0.1:8083", "sync-localhost:8083", "cairn.example.com"] {
        let arrived = signed(host, "", SECRET, false, at());
        assert_eq!(verify(&arrived, now()), Ok(KEY.to_string()), "{host}");
    }
    let with_query = signed("localhost", "b=2&a=x%20y&a=1", SECRET, false, at());
    assert_eq!(verify(&with_query, now()), Ok(KEY.to_string()));
}

#[test]
fn a_presigned_url_verifies_until_it_expires() {
    let arrived = signed("localhost:8083", "", SECRET, true, at());
    assert!(arrived.headers.get("authorization").is_none());
    assert_eq!(verify(&arrived, now()), Ok(KEY.to_string()));
    let later = now() + chrono::Duration::seconds(899);
    assert_eq!(
        verify(&arrived, later),
        Ok(KEY.to_string()),
        "within X-Amz-Expires"
    );
    let expired = now() + chrono::Duration::seconds(901);
    assert!(
        matches!(verify(&arrived, expired), Err(AuthError::InvalidSignature(m)) if m.starts_with("Signature expired"))
    );
}

#[test]
fn any_change_breaks_the_signature() {
    let good = signed("localhost:8083", "", SECRET, false, at());
    let mismatch = Err(AuthError::InvalidSignature(
        crate::auth::SIGNATURE_MISMATCH.to_string(),
    ));

    let wrong_secret = signed("localhost:8083", "", "not-the-secret", false, at());
    assert_eq!(verify(&wrong_secret, now()), mismatch);

    let mut body = good.body.clone();
    body[5] ^= 1;
    let tampered = Arrived {
        body,
        ..signed("localhost:8083", "", SECRET, false, at())
    };
    assert_eq!(verify(&tampered, now()), mismatch);

    let mut retargeted = signed("localhost:8083", "", SECRET, false, at());
    retargeted.headers.insert(
        "x-amz-target",
        HeaderValue::from_static("AWSStepFunctions.DeleteStateMachine"),
    );
    assert_eq!(verify(&retargeted, now()), mismatch);

    let mut other_host = signed("localhost:8083", "", SECRET, false, at());
    other_host
        .headers
        .insert("host", HeaderValue::from_static("localhost:9999"));
    assert_eq!(verify(&other_host, now()), mismatch);

    let mut added_query = signed("localhost:8083", "", SECRET, false, at());
    added_query.query = Some("x=1".to_string());
    assert_eq!(verify(&added_query, now()), mismatch);
}

#[test]
fn each_refusal_is_the_error_aws_sends() {
    let good = signed("localhost:8083", "", SECRET, false, at());

    let mut unsigned = signed("localhost:8083", "", SECRET, false, at());
    unsigned.headers.remove("authorization");
    assert_eq!(
        verify(&unsigned, now()),
        Err(AuthError::MissingAuthenticationToken)
    );

    let mut unknown = signed("localhost:8083", "", SECRET, false, at());
    let value = good.headers["authorization"]
        .to_str()
        .expect("ascii")
        .replace(KEY, "AKIDUNKNOWN");
    unknown.headers.insert(
        "authorization",
        HeaderValue::from_str(&value).expect("value"),
    );
    assert_eq!(verify(&unknown, now()), Err(AuthError::UnrecognizedClient));

    let mut token = signed("localhost:8083", "", SECRET, false, at());
    token
        .headers
        .insert("x-amz-security-token", HeaderValue::from_static("t"));
    assert_eq!(verify(&token, now()), Err(AuthError::UnrecognizedClient));

    let skewed = chrono::Duration::seconds(MAX_SKEW_SECONDS + 1);
    assert!(
        matches!(verify(&good, now() + skewed), Err(AuthError::InvalidSignature(m)) if m.starts_with("Signature expired:"))
    );
    assert!(
        matches!(verify(&good, now() - skewed), Err(AuthError::InvalidSignature(m)) if m.starts_with("Signature not yet current:"))
    );
    let within = chrono::Duration::seconds(MAX_SKEW_SECONDS);
    assert!(verify(&good, now() + within).is_ok());
    assert!(verify(&good, now() - within).is_ok());

    let request = Request {
        method: "POST",
        path: "/",
        query: None,
        headers: &good.headers,
        authority: None,
    };
    let wrong_region = auth().verify(&request, &good.body, "eu-west-1", "states", now());
    assert!(matches!(wrong_region, Err(AuthError::InvalidSignature(m)) if m.contains("region")));
    let wrong_service = auth().verify(&request, &good.body, "us-east-1", "events", now());
    assert!(matches!(wrong_service, Err(AuthError::InvalidSignature(m)) if m.contains("'events'")));

    let open = Auth::open().verify(&request, &good.body, "us-east-1", "states", now());
    assert!(matches!(open, Ok(None)), "no keys: open");
}

#[test]
fn a_signature_that_leaves_out_the_target_is_refused() {
    let url = "http://localhost:8083/";
    let identity = Credentials::new(KEY, SECRET, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("states")
        .time(at())
        .settings(SigningSettings::default())
        .build()
        .expect("params")
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        [("host", "localhost:8083")].into_iter(),
        SignableBody::Bytes(BODY),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("localhost:8083"));
    for (name, value) in instructions.headers() {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    let arrived = Arrived {
        path: "/".into(),
        query: None,
        headers: headers.clone(),
        body: BODY.to_vec(),
    };
    assert_eq!(
        verify(&arrived, now()),
        Ok(KEY.to_string()),
        "no target: fine"
    );
    headers.insert(
        "x-amz-target",
        HeaderValue::from_static("AWSStepFunctions.StopExecution"),
    );
    let retargeted = Arrived { headers, ..arrived };
    assert!(
        matches!(verify(&retargeted, now()), Err(AuthError::InvalidSignature(m)) if m.contains("X-Amz-Target"))
    );
}

#[test]
fn malformed_headers_are_incomplete_signatures() {
    for bad in [
        "",
        "AWS4-HMAC-SHA256",
        "Bearer abc",
        "AWS4-HMAC-SHA256 Credential=A/20261207/us-east-1/states/aws4_request",
        "AWS4-HMAC-SHA256 Credential=A/20261207/us-east-1/states/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 garbage",
    ] {
        assert!(
            matches!(
                parse_authorization(bad),
                Err(AuthError::IncompleteSignature(_))
            ),
            "{bad:?}"
        );
    }
    let ok = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=A/20261207/us-east-1/states/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
    )
    .expect("parses");
    assert_eq!(ok.signed_headers, "host;x-amz-date");
    let sig = "0".repeat(64);
    for (credential, date, signed) in [
        ("A/20261207/us-east-1/states", "20261207T000000Z", "host"),
        (
            "A/20261207/us-east-1/states/aws5_request",
            "20261207T000000Z",
            "host",
        ),
        (
            "/20261207/us-east-1/states/aws4_request",
            "20261207T000000Z",
            "host",
        ),
        (
            "A/20261207/us-east-1/states/aws4_request",
            "2026-12-07",
            "host",
        ),
        (
            "A/20261207/us-east-1/states/aws4_request",
            "20261207T000000Z",
            "host;;x",
        ),
    ] {
        assert!(
            matches!(
                build(credential, signed, &sig, date, None, false),
                Err(AuthError::IncompleteSignature(_))
            ),
            "{credential} {date} {signed}"
        );
    }
    assert!(matches!(
        build("A/20261208/us-east-1/states/aws4_request", "host", &sig, "20261207T000000Z", None, false),
        Err(AuthError::InvalidSignature(m)) if m.starts_with("Date in Credential scope")
    ));
    assert!(matches!(
        build("A/20261207/us-east-1/states/aws4_request", "x-amz-date", &sig, "20261207T000000Z", None, false),
        Err(AuthError::InvalidSignature(m)) if m.contains("'Host'")
    ));
    assert!(matches!(
        build(
            "A/20261207/us-east-1/states/aws4_request",
            "host",
            "xyz",
            "20261207T000000Z",
            None,
            false
        ),
        Err(AuthError::IncompleteSignature(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary text never panics the parser, and what it accepts has all three parts.
    #[test]
    fn the_authorization_parser_never_panics(value in ".{0,300}") {
        if let Ok(parsed) = parse_authorization(&value) {
            prop_assert!(value.trim_start().starts_with(ALGORITHM));
            prop_assert!(!parsed.credential.is_empty());
            prop_assert!(!parsed.signature.is_empty());
            prop_assert!(!parsed.signed_headers.is_empty());
        }
    }

    /// Text shaped like a signature, with its parts mutated, never panics anything
    /// between the header and the comparison, and never verifies.
    #[test]
    fn mutated_signatures_never_verify(
        credential in "[A-Za-z0-9/_.-]{0,60}",
        signed_headers in "[a-z;-]{0,30}",
        signature in "[0-9a-fA-Fg]{0,70}",
        date in "[0-9TZ]{0,20}",
        query in "[A-Za-z0-9=&%-]{0,40}",
    ) {
        let mut headers = HeaderMap::new();
        let value = format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed_headers}, Signature={signature}");
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert("authorization", v);
        }
        if let Ok(v) = HeaderValue::from_str(&date) {
            headers.insert("x-amz-date", v);
        }
        headers.insert("host", HeaderValue::from_static("localhost"));
        let request = Request { method: "POST", path: "/", query: Some(&query), headers: &headers, authority: None };
        let result = auth().verify(&request, BODY, "us-east-1", "states", now());
        prop_assert!(result.is_err());
    }
}
