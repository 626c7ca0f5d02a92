//! AWS Signature Version 4, as a server checks it: find the signature (the
//! `Authorization` header, or the `X-Amz-*` query parameters of a presigned URL), rebuild
//! the canonical request from what arrived, derive the signing key from the caller's
//! secret and compare. No I/O and no clock: the time comes in as an argument.
//!
//! The pieces, in the order [`super::Auth::verify`] uses them: [`locate`] finds and parses
//! the signature ([`parse_authorization`] is the header's parser, fuzzed by the property
//! test below), [`check_time`] applies the 5-minute skew (or a presigned URL's expiry),
//! [`expected_signature`] computes what the caller should have sent.

use axum::http::HeaderMap;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::AuthError;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The only algorithm accepted (SigV4A's ECDSA is not).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's time may be from the server's, either way (AWS: 5 minutes).
pub const MAX_SKEW_SECONDS: i64 = 5 * 60;
/// The longest a presigned URL may last (AWS: 7 days).
pub const MAX_EXPIRES_SECONDS: i64 = 7 * 24 * 60 * 60;
/// The payload hash of a presigned URL, whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The `Authorization` header's three parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    pub credential: String,
    pub signed_headers: String,
    pub signature: String,
}

/// A signature found on a request, parsed and checked for shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub access_key: String,
    /// `YYYYMMDD/region/service/aws4_request`.
    pub scope: Scope,
    /// Lowercase header names, in the order signed.
    pub signed_headers: Vec<String>,
    /// 64 lowercase hex digits.
    pub signature: String,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    pub time: chrono::DateTime<chrono::Utc>,
    /// Whether it came from the query string; then its lifetime in seconds.
    pub presigned: Option<i64>,
    /// A session token was sent (Cairn issues none).
    pub security_token: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Scope {
    pub fn to_string_scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. Never panics,
/// whatever the input (see the property test).
pub fn parse_authorization(value: &str) -> Result<AuthorizationHeader, AuthError> {
    let value = value.trim();
    let (algorithm, rest) = match value.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((algorithm, rest)) => (algorithm, rest),
        None => (value, ""),
    };
    if algorithm != ALGORITHM {
        return Err(AuthError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{}'; the Authorization header must start with {ALGORITHM}",
            truncate(algorithm)
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            // Not echoed: the part could hold a signature.
            return Err(AuthError::IncompleteSignature(
                "Authorization header requires each component to be of the form key=value"
                    .to_string(),
            ));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        *slot = Some(value.trim().to_string());
    }
    let mut missing = Vec::new();
    for (name, slot) in [
        ("Credential", &credential),
        ("Signature", &signature),
        ("SignedHeaders", &signed_headers),
    ] {
        if slot.as_deref().is_none_or(str::is_empty) {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    if !missing.is_empty() {
        return Err(AuthError::IncompleteSignature(missing.join(" ")));
    }
    Ok(AuthorizationHeader {
        credential: credential.unwrap_or_default(),
        signed_headers: signed_headers.unwrap_or_default(),
        signature: signature.unwrap_or_default(),
    })
}

/// Finds the request's signature: `None` when it carries none at all.
pub fn locate(headers: &HeaderMap, query: Option<&str>) -> Result<Option<Signature>, AuthError> {
    let params = query_params(query.unwrap_or_default());
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| {
            AuthError::IncompleteSignature(
                "The Authorization header is not valid ASCII".to_string(),
            )
        })?;
        let header = parse_authorization(value)?;
        let amz_date = headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                AuthError::IncompleteSignature(
                    "Authorization header requires existence of an 'X-Amz-Date' header."
                        .to_string(),
                )
            })?;
        let token = headers.contains_key("x-amz-security-token");
        return build(
            &header.credential,
            &header.signed_headers,
            &header.signature,
            amz_date,
            None,
            token,
        )
        .map(Some);
    }
    let Some(algorithm) = param("X-Amz-Algorithm") else {
        return Ok(None);
    };
    if algorithm != ALGORITHM {
        return Err(AuthError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{}'",
            truncate(algorithm)
        )));
    }
    let mut missing = Vec::new();
    for name in [
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
        "X-Amz-Expires",
    ] {
        if param(name).is_none_or(str::is_empty) {
            missing.push(format!(
                "AWS query-string parameters must include '{name}'."
            ));
        }
    }
    if !missing.is_empty() {
        return Err(AuthError::IncompleteSignature(missing.join(" ")));
    }
    let expires = param("X-Amz-Expires")
        .unwrap_or_default()
        .parse::<i64>()
        .ok()
        .filter(|e| (0..=MAX_EXPIRES_SECONDS).contains(e))
        .ok_or_else(|| {
            AuthError::IncompleteSignature(format!(
                "X-Amz-Expires must be a whole number of seconds from 0 to {MAX_EXPIRES_SECONDS}"
            ))
        })?;
    build(
        param("X-Amz-Credential").unwrap_or_default(),
        param("X-Amz-SignedHeaders").unwrap_or_default(),
        param("X-Amz-Signature").unwrap_or_default(),
        param("X-Amz-Date").unwrap_or_default(),
        Some(expires),
        param("X-Amz-Security-Token").is_some(),
    )
    .map(Some)
}

fn build(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: &str,
    presigned: Option<i64>,
    security_token: bool,
) -> Result<Signature, AuthError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = parts[..] else {
        return Err(AuthError::IncompleteSignature(format!(
            "Credential should be of the form ACCESS_KEY_ID/YYYYMMDD/region/service/aws4_request, got '{}'",
            truncate(credential)
        )));
    };
    if access_key.is_empty() || terminator != "aws4_request" {
        return Err(AuthError::IncompleteSignature(format!(
            "Credential should be of the form ACCESS_KEY_ID/YYYYMMDD/region/service/aws4_request, got '{}'",
            truncate(credential)
        )));
    }
    let time = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| {
            AuthError::IncompleteSignature(format!(
                "X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z', got '{}'",
                truncate(amz_date)
            ))
        })?
        .and_utc();
    if !amz_date.starts_with(date) || date.len() != 8 {
        return Err(AuthError::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            truncate(date),
            &amz_date[..8.min(amz_date.len())]
        )));
    }
    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if signed_headers.iter().any(String::is_empty) {
        return Err(AuthError::IncompleteSignature(
            "SignedHeaders must be a ';'-separated list of header names".to_string(),
        ));
    }
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::InvalidSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_string(),
        ));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::IncompleteSignature(
            "Signature must be 64 hexadecimal digits".to_string(),
        ));
    }
    Ok(Signature {
        access_key: access_key.to_string(),
        scope: Scope {
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
        },
        signed_headers,
        signature: signature.to_ascii_lowercase(),
        amz_date: amz_date.to_string(),
        time,
        presigned,
        security_token,
    })
}

/// The clock check: within [`MAX_SKEW_SECONDS`] of `now` for a header signature; for a
/// presigned URL, not dated in the future beyond the skew and not expired.
pub fn check_time(
    signature: &Signature,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AuthError> {
    let format = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let skew = chrono::Duration::seconds(MAX_SKEW_SECONDS);
    if signature.time > now + skew {
        return Err(AuthError::InvalidSignature(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            signature.amz_date,
            format(now + skew),
            format(now)
        )));
    }
    match signature.presigned {
        None if signature.time < now - skew => Err(AuthError::InvalidSignature(format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            signature.amz_date,
            format(now - skew),
            format(now)
        ))),
        Some(expires) if signature.time + chrono::Duration::seconds(expires) < now => {
            Err(AuthError::InvalidSignature(format!(
                "Signature expired: {} is now earlier than {} ({} - {expires} sec.)",
                signature.amz_date,
                format(now - chrono::Duration::seconds(expires)),
                format(now)
            )))
        }
        _ => Ok(()),
    }
}

/// What arrived, as the canonical request needs it.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The `Host` to use when the request has no `Host` header (HTTP/2's `:authority`).
    pub authority: Option<&'a str>,
}

/// The canonical request for `signature` over `request`, with `payload_hash` (hex
/// SHA-256 of the body, or [`UNSIGNED_PAYLOAD`]).
pub fn canonical_request(
    request: &Request<'_>,
    signature: &Signature,
    payload_hash: &str,
) -> Result<String, AuthError> {
    let mut headers = String::new();
    for name in &signature.signed_headers {
        let values: Vec<String> = request
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        let value = if values.is_empty() {
            match (name.as_str(), request.authority) {
                ("host", Some(authority)) => authority.to_string(),
                _ => {
                    return Err(AuthError::InvalidSignature(format!(
                        "The request signature lists header '{}' among its SignedHeaders, but the request does not carry it.",
                        truncate(name)
                    )))
                }
            }
        } else {
            values.join(",")
        };
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&value);
        headers.push('\n');
    }
    let mut params: Vec<(String, String)> = query_params(request.query.unwrap_or_default())
        .into_iter()
        .filter(|(k, _)| !(signature.presigned.is_some() && k == "X-Amz-Signature"))
        .map(|(k, v)| (uri_encode(&k, true), uri_encode(&v, true)))
        .collect();
    params.sort();
    let query = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let path = if request.path.is_empty() {
        "/".to_string()
    } else {
        uri_encode(request.path, false)
    };
    Ok(format!(
        "{}\n{path}\n{query}\n{headers}\n{}\n{payload_hash}",
        request.method,
        signature.signed_headers.join(";")
    ))
}

/// The signature a caller holding `secret` would have computed for `canonical`.
pub fn expected_signature(signature: &Signature, secret: &str, canonical: &str) -> String {
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        signature.amz_date,
        signature.scope.to_string_scope(),
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = [
        signature.scope.date.as_str(),
        signature.scope.region.as_str(),
        signature.scope.service.as_str(),
        "aws4_request",
    ]
    .iter()
    .fold(format!("AWS4{secret}").into_bytes(), |key, part| {
        hmac(&key, part.as_bytes())
    });
    hex(&hmac(&key, string_to_sign.as_bytes()))
}

/// Hex SHA-256 of `body`.
pub fn payload_hash(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

/// Compares two signatures in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length; the error arm cannot happen.
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `a b   c` → `a b c`, trimmed, as SigV4 canonicalises header values.
fn collapse_spaces(value: &str) -> String {
    value.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// The query string's parameters, percent-decoded (`+` stays `+`: SigV4 clients encode a
/// space as `%20`).
fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SigV4's URI encoding: unreserved characters kept, everything else `%XX`; `/` kept in
/// a path (`encode_slash` false). A path is encoded as sent, so its `%` become `%25`: the
/// double encoding SDKs apply to every service but S3.
fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// At most 64 characters of something the caller sent, for an error message.
fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests;
