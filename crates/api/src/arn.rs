//! Names and ARNs, checked as AWS checks them.
//!
//! A name is 1–80 characters (a `ValidationException` otherwise) and contains no white
//! space, no brackets `< > { } [ ]`, no wildcards `? *`, none of
//! `" # % \ ^ | ~ ` $ & , ; : /` and no control characters (U+0000–001F,
//! U+007F–009F) — an `InvalidName` otherwise, as AWS answers.

use crate::error::ApiError;
use crate::input::check_length;

const FORBIDDEN: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";

/// Whether `name` keeps AWS's character rule.
pub fn name_is_valid(name: &str) -> bool {
    !name.chars().any(|c| {
        let code = c as u32;
        c.is_whitespace() || FORBIDDEN.contains(c) || code <= 0x1F || (0x7F..=0x9F).contains(&code)
    })
}

/// Checks a resource name member (`name` of a state machine, execution or activity).
pub fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    check_length(field, name, 1, 80, false)?;
    if !name_is_valid(name) {
        return Err(ApiError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// The region and account that ARNs Cairn mints carry.
#[derive(Debug, Clone)]
pub struct ArnScope {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl ArnScope {
    fn arn(&self, resource: &str) -> String {
        format!(
            "arn:{}:states:{}:{}:{resource}",
            self.partition, self.region, self.account
        )
    }

    pub fn state_machine(&self, name: &str) -> String {
        self.arn(&format!("stateMachine:{name}"))
    }

    pub fn execution(&self, machine: &str, name: &str) -> String {
        self.arn(&format!("execution:{machine}:{name}"))
    }

    pub fn activity(&self, name: &str) -> String {
        self.arn(&format!("activity:{name}"))
    }
}

/// The kinds of Step Functions resources an ARN can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    StateMachine,
    Execution,
    Activity,
}

impl Kind {
    fn resource_type(self) -> &'static str {
        match self {
            Kind::StateMachine => "stateMachine",
            Kind::Execution => "execution",
            Kind::Activity => "activity",
        }
    }
}

/// A parsed Step Functions ARN: the resource type and the segments after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub resource_type: &'a str,
    pub segments: Vec<&'a str>,
}

/// Splits `arn:PARTITION:states:REGION:ACCOUNT:TYPE:...`, with AWS's `InvalidArn`
/// messages for what does not fit.
pub fn parse(arn: &str) -> Result<Parsed<'_>, ApiError> {
    if !arn.starts_with("arn:") {
        return Err(ApiError::InvalidArn(format!("Invalid ARN prefix: {arn}")));
    }
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 7 || parts[1].is_empty() || parts[2] != "states" {
        return Err(ApiError::InvalidArn(arn.to_string()));
    }
    Ok(Parsed {
        resource_type: parts[5],
        segments: parts[6..].to_vec(),
    })
}

/// Checks an ARN member that must name a resource of `kind`; returns the name segment(s).
pub fn check<'a>(field: &str, arn: &'a str, kind: Kind) -> Result<Parsed<'a>, ApiError> {
    check_length(field, arn, 1, 256, false)?;
    let parsed = parse(arn)?;
    if parsed.resource_type != kind.resource_type() {
        return Err(ApiError::InvalidArn(format!(
            "Resource type not valid in this context: {}",
            parsed.resource_type
        )));
    }
    let expected = match kind {
        Kind::StateMachine | Kind::Activity => 1,
        Kind::Execution => 2,
    };
    if kind == Kind::StateMachine && parsed.segments.len() == 2 {
        return Err(ApiError::Validation(format!(
            "A state machine version or alias ARN is not valid here: '{arn}'"
        )));
    }
    if parsed.segments.len() != expected
        || parsed
            .segments
            .iter()
            .any(|s| s.is_empty() || (kind != Kind::Execution && s.contains('/')))
    {
        if kind == Kind::StateMachine && parsed.segments.iter().any(|s| s.contains('/')) {
            return Err(ApiError::Validation(format!(
                "Cairn does not support Distributed Map state machine ARNs yet: '{arn}'"
            )));
        }
        return Err(ApiError::InvalidArn(arn.to_string()));
    }
    Ok(parsed)
}

/// What a state machine ARN qualifies its machine with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qualifier {
    /// `…:stateMachine:NAME:3`: a published version.
    Version(i64),
    /// `…:stateMachine:NAME:prod`: an alias.
    Alias(String),
}

/// A state machine ARN, maybe qualified by a version or an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineArn {
    /// The machine's own (unqualified) ARN.
    pub machine: String,
    pub qualifier: Option<Qualifier>,
}

impl MachineArn {
    /// The ARN as given: the machine's, with `:<qualifier>` when qualified.
    pub fn arn(&self) -> String {
        match &self.qualifier {
            None => self.machine.clone(),
            Some(Qualifier::Version(n)) => format!("{}:{n}", self.machine),
            Some(Qualifier::Alias(name)) => format!("{}:{name}", self.machine),
        }
    }

    /// The machine's name, the last part of its own ARN.
    pub fn name(&self) -> &str {
        self.machine.rsplit(':').next().unwrap_or_default()
    }
}

/// Whether `name` is a valid alias name: AWS's `^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$`,
/// at most 80 characters (so never all digits, which a version would be).
pub fn alias_name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && name
            .chars()
            .any(|c| c.is_ascii_alphabetic() || matches!(c, '_' | '-' | '.'))
}

/// Checks a state machine ARN member that may name a version (`:<number>`) or an alias
/// (`:<name>`) of the machine.
pub fn check_machine(field: &str, arn: &str) -> Result<MachineArn, ApiError> {
    check_length(field, arn, 1, 256, false)?;
    let parsed = parse(arn)?;
    if parsed.resource_type != "stateMachine" {
        return Err(ApiError::InvalidArn(format!(
            "Resource type not valid in this context: {}",
            parsed.resource_type
        )));
    }
    if parsed.segments.iter().any(|s| s.contains('/')) {
        return Err(ApiError::Validation(format!(
            "Cairn does not support Distributed Map state machine ARNs yet: '{arn}'"
        )));
    }
    let (machine, qualifier) = match parsed.segments.as_slice() {
        [name] if !name.is_empty() => (arn.to_string(), None),
        [name, qualifier] if !name.is_empty() => {
            let machine = arn[..arn.len() - qualifier.len() - 1].to_string();
            let qualifier = match qualifier.parse::<i64>() {
                Ok(n) if n >= 1 && qualifier.chars().all(|c| c.is_ascii_digit()) => {
                    Qualifier::Version(n)
                }
                _ if alias_name_is_valid(qualifier) => Qualifier::Alias(qualifier.to_string()),
                _ => return Err(ApiError::InvalidArn(arn.to_string())),
            };
            (machine, Some(qualifier))
        }
        _ => return Err(ApiError::InvalidArn(arn.to_string())),
    };
    Ok(MachineArn { machine, qualifier })
}

/// Checks an IAM role ARN member: an ARN of at most 256 characters.
pub fn check_role(field: &str, arn: &str) -> Result<(), ApiError> {
    check_length(field, arn, 1, 256, false)?;
    if !arn.starts_with("arn:") {
        return Err(ApiError::InvalidArn(format!("Invalid ARN prefix: {arn}")));
    }
    if arn.split(':').count() < 6 {
        return Err(ApiError::InvalidArn(arn.to_string()));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws_rule() {
        assert!(name_is_valid("my-machine_1.v2"));
        assert!(name_is_valid("ünïcode"));
        for bad in [
            "a b", "a\tb", "a<b", "a}b", "a[b", "a?b", "a*b", "a\"b", "a#b", "a%b", "a\\b", "a^b",
            "a|b", "a~b", "a`b", "a$b", "a&b", "a,b", "a;b", "a:b", "a/b", "a\u{1}b", "a\u{7f}b",
            "a\u{85}b",
        ] {
            assert!(!name_is_valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn name_length_is_a_validation_error() {
        assert!(matches!(
            check_name("name", ""),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            check_name("name", &"a".repeat(81)),
            Err(ApiError::Validation(_))
        ));
        assert!(check_name("name", &"a".repeat(80)).is_ok());
        assert!(matches!(
            check_name("name", "a b"),
            Err(ApiError::InvalidName(_))
        ));
    }

    #[test]
    fn machine_arns_may_name_a_version_or_an_alias() {
        let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:m";
        let plain = check_machine("stateMachineArn", machine).unwrap();
        assert_eq!((plain.machine.as_str(), plain.qualifier), (machine, None));
        let version = check_machine("stateMachineArn", &format!("{machine}:12")).unwrap();
        assert_eq!(version.qualifier, Some(Qualifier::Version(12)));
        assert_eq!(version.machine, machine);
        assert_eq!(version.arn(), format!("{machine}:12"));
        let alias = check_machine("stateMachineArn", &format!("{machine}:prod-1")).unwrap();
        assert_eq!(alias.qualifier, Some(Qualifier::Alias("prod-1".into())));
        assert_eq!(alias.name(), "m");
        for bad in ["0", "a b", "x@y", ""] {
            assert!(
                check_machine("stateMachineArn", &format!("{machine}:{bad}")).is_err(),
                "{bad:?}"
            );
        }
        assert!(alias_name_is_valid("v1.0"));
        assert!(!alias_name_is_valid("123"));
        assert!(!alias_name_is_valid(&"a".repeat(81)));
    }

    #[test]
    fn arns_parse_by_kind() {
        let scope = ArnScope {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        };
        let machine = scope.state_machine("m");
        assert!(check("stateMachineArn", &machine, Kind::StateMachine).is_ok());
        let execution = scope.execution("m", "e");
        let parsed = check("executionArn", &execution, Kind::Execution).unwrap();
        assert_eq!(parsed.segments, vec!["m", "e"]);
        assert!(matches!(
            check("executionArn", &machine, Kind::Execution),
            Err(ApiError::InvalidArn(m)) if m == "Resource type not valid in this context: stateMachine"
        ));
        assert!(matches!(
            check("stateMachineArn", "nope", Kind::StateMachine),
            Err(ApiError::InvalidArn(m)) if m == "Invalid ARN prefix: nope"
        ));
        assert!(matches!(
            check(
                "stateMachineArn",
                &format!("{machine}:1"),
                Kind::StateMachine
            ),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            check(
                "activityArn",
                "arn:aws:states:us-east-1:1:activity:",
                Kind::Activity
            ),
            Err(ApiError::InvalidArn(_))
        ));
    }
}
