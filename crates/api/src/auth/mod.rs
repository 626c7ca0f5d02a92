//! Who may call the API: SigV4 verification of every request on `POST /` (Step
//! Functions and EventBridge alike) when access keys are configured, and each key's
//! policy. With no keys the API is open, and start-up says so.
//!
//! The order a request goes through, in [`Auth::verify`] and [`Caller::authorize`]:
//! 1. a signature at all? (`MissingAuthenticationTokenException`)
//! 2. well formed? (`IncompleteSignatureException`)
//! 3. a key Cairn knows? (`UnrecognizedClientException`)
//! 4. scoped to this region and service, dated within 5 minutes (or a presigned URL not
//!    expired), and the signature the key's secret gives? (`InvalidSignatureException`)
//! 5. allowed by the key's policy? (`AccessDeniedException`)
//!
//! All of this happens before the operation runs, so a refused request changes nothing.
//! Secrets and signatures never reach a log or an error message: messages name the
//! access key id at most.
//!
//! - `sigv4.rs`: the signature itself (parsing, canonical request, key derivation).
//! - `keys.rs`: the keys and their files, re-read when they change.
//! - `policy.rs`: the IAM-shaped policies.

pub mod keys;
pub mod policy;
pub mod sigv4;

use std::sync::Arc;

use serde_json::Value;

use crate::arn::ArnScope;
use crate::error::ApiError;
use keys::Keys;
use policy::{Decision, Policy};

/// Why a request is refused; each variant is the AWS error of the same name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    #[error("{0}")]
    IncompleteSignature(String),
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    #[error("{0}")]
    InvalidSignature(String),
    #[error("{0}")]
    AccessDenied(String),
}

/// AWS's message when the signature does not match.
pub const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> ApiError {
        let message = error.to_string();
        match error {
            AuthError::MissingAuthenticationToken => ApiError::MissingAuthenticationToken(message),
            AuthError::IncompleteSignature(_) => ApiError::IncompleteSignature(message),
            AuthError::UnrecognizedClient => ApiError::UnrecognizedClient(message),
            AuthError::InvalidSignature(_) => ApiError::InvalidSignature(message),
            AuthError::AccessDenied(_) => ApiError::NotAuthorized(message),
        }
    }
}

/// The API's authentication: open, or the configured keys.
#[derive(Default)]
pub struct Auth {
    keys: Option<Keys>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.keys {
            None => f.write_str("Auth(open)"),
            Some(keys) => write!(f, "Auth({} keys)", keys.count()),
        }
    }
}

/// The verified caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key: String,
    policy: Arc<Policy>,
}

impl Auth {
    /// No keys: every request is admitted.
    pub fn open() -> Auth {
        Auth { keys: None }
    }

    pub fn with_keys(keys: Keys) -> Auth {
        Auth { keys: Some(keys) }
    }

    pub fn is_open(&self) -> bool {
        self.keys.is_none()
    }

    /// The key with id `access_key`, as the keys now stand (`None` when open).
    pub fn key(&self, access_key: &str) -> Option<(String, keys::Key)> {
        let key = self.keys.as_ref()?.get(access_key)?;
        Some((access_key.to_string(), key))
    }

    /// Checks the request's signature: `Ok(None)` when the API is open, the caller when
    /// the signature is good. `service` is the signing name the operation's clients use
    /// (`states`, `events`); `region` is Cairn's.
    pub fn verify(
        &self,
        request: &sigv4::Request<'_>,
        body: &[u8],
        region: &str,
        service: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Caller>, AuthError> {
        let Some(keys) = &self.keys else {
            return Ok(None);
        };
        let signature = sigv4::locate(request.headers, request.query)?
            .ok_or(AuthError::MissingAuthenticationToken)?;
        // Cairn issues no session tokens, so a request carrying one is not Cairn's.
        if signature.security_token {
            return Err(AuthError::UnrecognizedClient);
        }
        let key = keys
            .get(&signature.access_key)
            .ok_or(AuthError::UnrecognizedClient)?;
        if signature.scope.region != region {
            return Err(AuthError::InvalidSignature(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                signature.scope.region.chars().take(64).collect::<String>()
            )));
        }
        if signature.scope.service != service {
            return Err(AuthError::InvalidSignature(format!(
                "Credential should be scoped to correct service: '{service}'. "
            )));
        }
        // The operation is in a header: a signature that leaves it out would let anyone
        // who saw the request send the same signed body to another operation.
        if request.headers.contains_key("x-amz-target")
            && !signature.signed_headers.iter().any(|h| h == "x-amz-target")
        {
            return Err(AuthError::InvalidSignature(
                "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.".to_string(),
            ));
        }
        sigv4::check_time(&signature, now)?;
        let mut hashes = vec![sigv4::payload_hash(body)];
        if signature.presigned.is_some() {
            hashes.push(sigv4::UNSIGNED_PAYLOAD.to_string());
        }
        for hash in hashes {
            let canonical = sigv4::canonical_request(request, &signature, &hash)?;
            let expected = sigv4::expected_signature(&signature, &key.secret, &canonical);
            if sigv4::same(&expected, &signature.signature) {
                return Ok(Some(Caller {
                    access_key: signature.access_key,
                    policy: key.policy,
                }));
            }
        }
        Err(AuthError::InvalidSignature(SIGNATURE_MISMATCH.to_string()))
    }
}

impl Caller {
    pub(crate) fn new(access_key: String, policy: Arc<Policy>) -> Caller {
        Caller { access_key, policy }
    }

    /// Whether this caller may run `action` (`states:StartExecution`) on `resource`;
    /// `AccessDeniedException` in AWS's words if not.
    pub fn authorize(
        &self,
        scope: &ArnScope,
        action: &str,
        resource: &str,
    ) -> Result<(), AuthError> {
        let user = format!(
            "arn:{}:iam::{}:user/{}",
            scope.partition, scope.account, self.access_key
        );
        let why = match self.policy.decide(action, resource) {
            Decision::Allow => return Ok(()),
            Decision::ExplicitDeny => {
                "with an explicit deny in an identity-based policy".to_string()
            }
            Decision::ImplicitDeny => {
                format!("because no identity-based policy allows the {action} action")
            }
        };
        Err(AuthError::AccessDenied(format!(
            "User: {user} is not authorized to perform: {action} on resource: {resource} {why}"
        )))
    }
}

/// The resource a request acts on, for the policy check: the ARN its input names (the
/// would-be ARN for the Create operations), or `*` for operations on no one resource
/// (lists, task tokens, PutEvents).
pub fn resource(scope: &ArnScope, service: &str, operation: &str, body: &[u8]) -> String {
    let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(body) else {
        return "*".to_string();
    };
    let text = |name: &str| input.get(name).and_then(Value::as_str);
    let arn = |kind: &str, name: &str| {
        format!(
            "arn:{}:{service}:{}:{}:{kind}{name}",
            scope.partition, scope.region, scope.account
        )
    };
    match (service, operation) {
        ("states", "CreateStateMachine") => text("name").map(|n| arn("stateMachine:", n)),
        ("states", "CreateActivity") => text("name").map(|n| arn("activity:", n)),
        ("states", _) => [
            "stateMachineArn",
            "executionArn",
            "activityArn",
            "resourceArn",
            "mapRunArn",
            "stateMachineAliasArn",
            "stateMachineVersionArn",
        ]
        .iter()
        .find_map(|field| text(field))
        .map(str::to_string),
        ("events", _) => text("ResourceARN")
            .or(text("Arn"))
            .map(str::to_string)
            .or_else(|| {
                let bus = text("EventBusName").unwrap_or("default");
                match (text("Rule"), text("Name")) {
                    (Some(rule), _) => Some(arn("rule/", &rule_path(bus, rule))),
                    (None, Some(name)) if operation.contains("Rule") => {
                        Some(arn("rule/", &rule_path(bus, name)))
                    }
                    (None, Some(name)) if operation.contains("EventBus") => {
                        Some(arn("event-bus/", name))
                    }
                    _ => None,
                }
            }),
        _ => None,
    }
    .unwrap_or_else(|| "*".to_string())
}

fn rule_path(bus: &str, rule: &str) -> String {
    if bus == "default" {
        rule.to_string()
    } else {
        format!("{bus}/{rule}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> ArnScope {
        ArnScope {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    #[test]
    fn refusals_are_worded_as_aws_words_them() {
        let caller = Caller {
            access_key: "READER".into(),
            policy: Arc::new(Policy::read_only()),
        };
        let arn = "arn:aws:states:us-east-1:123456789012:stateMachine:m";
        let error = caller
            .authorize(&scope(), "states:StartExecution", arn)
            .expect_err("read-only");
        assert_eq!(
            error.to_string(),
            format!("User: arn:aws:iam::123456789012:user/READER is not authorized to perform: states:StartExecution on resource: {arn} because no identity-based policy allows the states:StartExecution action")
        );
        assert!(caller
            .authorize(&scope(), "states:DescribeStateMachine", arn)
            .is_ok());
    }

    #[test]
    fn the_resource_is_the_arn_the_input_names() {
        let s = scope();
        assert_eq!(
            resource(
                &s,
                "states",
                "StartExecution",
                br#"{"stateMachineArn": "arn:x"}"#
            ),
            "arn:x"
        );
        assert_eq!(
            resource(&s, "states", "CreateStateMachine", br#"{"name": "m"}"#),
            "arn:aws:states:us-east-1:123456789012:stateMachine:m"
        );
        assert_eq!(resource(&s, "states", "ListStateMachines", b"{}"), "*");
        assert_eq!(resource(&s, "states", "SendTaskSuccess", b"not json"), "*");
        assert_eq!(
            resource(
                &s,
                "events",
                "PutRule",
                br#"{"Name": "r", "EventBusName": "b"}"#
            ),
            "arn:aws:events:us-east-1:123456789012:rule/b/r"
        );
        assert_eq!(
            resource(&s, "events", "PutTargets", br#"{"Rule": "r"}"#),
            "arn:aws:events:us-east-1:123456789012:rule/r"
        );
    }
}
