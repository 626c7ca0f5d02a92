//! What a Task state's `Resource` names.

use crate::error::InvokeError;
use crate::services::ServiceAction;

/// The kinds of target this crate invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`: the input is the
    /// payload and the function's result is the task's result.
    LambdaFunction(FunctionRef),
    /// `arn:aws:states:::lambda:invoke`: the input holds `FunctionName`, `Payload`, …
    LambdaInvoke,
    /// `arn:aws:states:::http:invoke`: AWS's HTTP Task.
    HttpInvoke,
    /// An optimized AWS service integration (`sqs:sendMessage`, `dynamodb:getItem`, …).
    Service(ServiceAction),
}

impl Target {
    pub(crate) fn parse(resource: &str) -> Result<Target, InvokeError> {
        let unsupported = || InvokeError::UnsupportedResource(resource.to_string());
        let fields: Vec<&str> = resource.split(':').collect();
        if fields.len() < 6 || fields[0] != "arn" || fields[1].is_empty() {
            return Err(unsupported());
        }
        match (fields[2], fields[3], fields[4]) {
            // `.waitForTaskToken` invokes the same target; the runner records the answer
            // as TaskSubmitted and the task then waits for its token.
            ("states", "", "") => match &fields[5..] {
                ["lambda", "invoke" | "invoke.waitForTaskToken"] => Ok(Target::LambdaInvoke),
                ["http", "invoke" | "invoke.waitForTaskToken"] => Ok(Target::HttpInvoke),
                [service, action] => ServiceAction::parse(service, action)
                    .map(Target::Service)
                    .ok_or_else(unsupported),
                _ => Err(unsupported()),
            },
            ("lambda", _, _) if fields.get(5) == Some(&"function") => FunctionRef::parse(resource)
                .map(Target::LambdaFunction)
                .ok_or_else(unsupported),
            _ => Err(unsupported()),
        }
    }
}

/// A Lambda function as `FunctionName` may give it: `my-function`, `my-function:v1`,
/// `123456789012:function:my-function`, or a full ARN, each with an optional qualifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionRef {
    /// The bare function name.
    pub name: String,
    /// A version or alias, when the reference carries one.
    pub qualifier: Option<String>,
    /// The region of a full ARN.
    pub region: Option<String>,
    /// The account of a full or partial ARN.
    pub account: Option<String>,
    /// The partition of a full ARN (`aws`, `aws-cn`, …).
    pub partition: Option<String>,
}

impl FunctionRef {
    /// Parses any of the forms Lambda accepts; `None` when it is none of them.
    pub(crate) fn parse(text: &str) -> Option<FunctionRef> {
        let fields: Vec<&str> = text.split(':').collect();
        let (partition, region, account, name, qualifier) = match fields.as_slice() {
            ["arn", partition, "lambda", region, account, "function", name] => {
                (Some(*partition), Some(*region), Some(*account), *name, None)
            }
            ["arn", partition, "lambda", region, account, "function", name, qualifier] => (
                Some(*partition),
                Some(*region),
                Some(*account),
                *name,
                Some(*qualifier),
            ),
            [account, "function", name] => (None, None, Some(*account), *name, None),
            [account, "function", name, qualifier] => {
                (None, None, Some(*account), *name, Some(*qualifier))
            }
            [name] => (None, None, None, *name, None),
            [name, qualifier] => (None, None, None, *name, Some(*qualifier)),
            _ => return None,
        };
        let name_ok = !name.is_empty()
            && name.len() <= 140
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let qualifier_ok = qualifier.is_none_or(|q| {
            !q.is_empty()
                && q.len() <= 128
                && q.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$')
        });
        let region_ok = region.is_none_or(|r| {
            !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        let account_ok =
            account.is_none_or(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()));
        if !(name_ok && qualifier_ok && region_ok && account_ok) {
            return None;
        }
        Some(FunctionRef {
            name: name.to_string(),
            qualifier: qualifier.map(str::to_string),
            region: region.map(str::to_string),
            account: account.map(str::to_string),
            partition: partition.map(str::to_string),
        })
    }

    /// The full ARN, with `region` and `account` filling what the reference lacks and
    /// without the qualifier: the `{FunctionName}` of the Invoke API's path.
    pub(crate) fn unqualified_arn(&self, region: &str, account: &str) -> String {
        format!(
            "arn:{}:lambda:{}:{}:function:{}",
            self.partition.as_deref().unwrap_or("aws"),
            self.region.as_deref().unwrap_or(region),
            self.account.as_deref().unwrap_or(account),
            self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_resources() {
        assert_eq!(
            Target::parse("arn:aws:states:::lambda:invoke"),
            Ok(Target::LambdaInvoke)
        );
        assert_eq!(
            Target::parse("arn:aws:states:::http:invoke"),
            Ok(Target::HttpInvoke)
        );
        let Ok(Target::LambdaFunction(f)) =
            Target::parse("arn:aws:lambda:eu-west-1:123456789012:function:Hello:prod")
        else {
            panic!("a function ARN")
        };
        assert_eq!(f.name, "Hello");
        assert_eq!(f.qualifier.as_deref(), Some("prod"));
        assert_eq!(f.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            Target::parse("arn:aws:states:::lambda:invoke.waitForTaskToken"),
            Ok(Target::LambdaInvoke)
        );
        assert_eq!(
            Target::parse("arn:aws:states:::http:invoke.waitForTaskToken"),
            Ok(Target::HttpInvoke)
        );
        assert_eq!(
            Target::parse("arn:aws:states:::sqs:sendMessage.waitForTaskToken"),
            Ok(Target::Service(ServiceAction::SqsSendMessage))
        );
        for other in [
            "arn:aws:states:::lambda:invoke.sync",
            "arn:aws:states:::sqs:receiveMessage",
            "arn:aws:states:::dynamodb:getItem.waitForTaskToken",
            "arn:aws:states:::states:startExecution.sync:2",
            "arn:aws:states:us-east-1:123456789012:activity:a",
            "arn:aws:lambda:us-east-1:123456789012:layer:x",
            "https://example.com",
            "",
        ] {
            assert_eq!(
                Target::parse(other),
                Err(InvokeError::UnsupportedResource(other.to_string())),
                "{other}"
            );
        }
    }

    #[test]
    fn parses_every_function_name_form() {
        let plain = FunctionRef::parse("my-function").expect("name");
        assert_eq!(
            (plain.name.as_str(), plain.qualifier.as_deref()),
            ("my-function", None)
        );
        let qualified = FunctionRef::parse("my-function:v1").expect("name:qualifier");
        assert_eq!(qualified.qualifier.as_deref(), Some("v1"));
        let partial =
            FunctionRef::parse("123456789012:function:my_function:$LATEST").expect("partial");
        assert_eq!(partial.account.as_deref(), Some("123456789012"));
        assert_eq!(partial.qualifier.as_deref(), Some("$LATEST"));
        let full = FunctionRef::parse("arn:aws-cn:lambda:cn-north-1:123456789012:function:f")
            .expect("full");
        assert_eq!(
            full.unqualified_arn("us-east-1", "000000000000"),
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:f"
        );
        assert_eq!(
            plain.unqualified_arn("us-east-1", "123456789012"),
            "arn:aws:lambda:us-east-1:123456789012:function:my-function"
        );
        for bad in [
            "",
            "a b",
            "a:b:c",
            "1234:function:f",
            "f:",
            "arn:aws:lambda:r:123456789012:function:",
        ] {
            assert_eq!(FunctionRef::parse(bad), None, "{bad}");
        }
    }
}
