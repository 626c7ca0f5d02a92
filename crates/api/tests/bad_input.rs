//! The bad-input corpus: hundreds of malformed requests, each of which must get the
//! error AWS would send (its `__type` and HTTP status), never a 5xx, and leave the
//! database exactly as it was — no half-written execution, no lost event.
//!
//! The corpus is a table built in code ([`corpus`]), one category per function, because
//! many cases are generated (every member of every operation with the wrong JSON type,
//! every forbidden name character) and some bodies are too large to write down. The
//! database is compared before and after every request with [`Snapshot`]: a row count
//! and an md5 of the rows of every table.
//!
//! Decisions where AWS's documentation is silent (see `docs/api-support.md`): unknown
//! members are ignored, as AWS's JSON protocol ignores them; the `Content-Type` header is
//! not checked; a body over 1 MiB is HTTP 413 `ValidationException`.

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use support::snapshot::Snapshot;
use support::{waiting, Harness, ROLE};

const ACCOUNT_PREFIX: &str = "arn:aws:states:us-east-1:123456789012";
const OTHER_ROLE: &str = "arn:aws:iam::123456789012:role/other";
const MIB: usize = 1024 * 1024;

/// A definition every check accepts.
fn pass() -> String {
    json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}).to_string()
}

/// One state every check accepts, as TestState takes it.
fn pass_state() -> String {
    json!({"Type": "Pass", "End": true}).to_string()
}

/// How a case reaches the server.
enum Transport {
    /// With boto3's headers and this `X-Amz-Target` operation.
    Boto(String),
    /// With exactly these headers.
    Raw(Vec<(&'static str, Vec<u8>)>),
    /// Over a raw socket, `Transfer-Encoding: chunked`, no `Content-Length`.
    Chunked(String),
}

struct Case {
    label: String,
    transport: Transport,
    body: Vec<u8>,
    status: u16,
    /// The expected `__type` after `#`; empty for a success.
    code: &'static str,
}

fn case(label: impl Into<String>, op: &str, body: Value, code: &'static str) -> Case {
    bytes(label, op, body.to_string().into_bytes(), code)
}

fn bytes(label: impl Into<String>, op: &str, body: Vec<u8>, code: &'static str) -> Case {
    Case {
        label: label.into(),
        transport: Transport::Boto(op.to_string()),
        body,
        status: if code.is_empty() { 200 } else { 400 },
        code,
    }
}

/// A request AWS accepts (or ignores) and that must still change nothing.
fn accepted(label: impl Into<String>, op: &str, body: Value) -> Case {
    case(label, op, body, "")
}

fn too_large(label: impl Into<String>, op: &str, body: Vec<u8>) -> Case {
    Case {
        status: 413,
        ..bytes(label, op, body, "ValidationException")
    }
}

/// The resources the corpus aims at, created before it runs.
struct Fixture {
    machine: String,
    express: String,
    execution: String,
    activity: String,
    /// Version 1 of `machine`, published before it ran.
    version: String,
    /// Alias `live` of `machine`, routing all to `version`.
    alias: String,
}

impl Fixture {
    async fn create(h: &Harness) -> Fixture {
        let machine = h.machine("fixture-standard", &waiting()).await;
        let express = h
            .call(
                "CreateStateMachine",
                json!({"name": "fixture-express", "definition": pass(), "roleArn": ROLE,
                       "type": "EXPRESS"}),
            )
            .await
            .ok()["stateMachineArn"]
            .as_str()
            .expect("an ARN")
            .to_string();
        h.call(
            "TagResource",
            json!({"resourceArn": machine, "tags": [{"key": "team", "value": "core"}]}),
        )
        .await
        .ok();
        let version = h
            .call(
                "PublishStateMachineVersion",
                json!({"stateMachineArn": machine, "description": "first"}),
            )
            .await
            .ok()["stateMachineVersionArn"]
            .as_str()
            .expect("an ARN")
            .to_string();
        let alias = h
            .call(
                "CreateStateMachineAlias",
                json!({"name": "live", "routingConfiguration": [
                    {"stateMachineVersionArn": version, "weight": 100}]}),
            )
            .await
            .ok()["stateMachineAliasArn"]
            .as_str()
            .expect("an ARN")
            .to_string();
        let execution = h
            .call(
                "StartExecution",
                json!({"stateMachineArn": machine, "name": "fixture-run", "input": "{\"a\":1}"}),
            )
            .await
            .ok()["executionArn"]
            .as_str()
            .expect("an ARN")
            .to_string();
        // One step: the execution now has history and a pending timer in the inbox.
        h.scheduler.tick().await.expect("scheduler tick");
        let activity = h
            .call("CreateActivity", json!({"name": "fixture-activity"}))
            .await
            .ok()["activityArn"]
            .as_str()
            .expect("an ARN")
            .to_string();
        Fixture {
            machine,
            express,
            execution,
            activity,
            version,
            alias,
        }
    }
}

/// The JSON types of request members, for the wrong-type cases.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Int,
    Bool,
    List,
    Obj,
}

impl Ty {
    /// Values of other JSON types than this one.
    fn wrong(self) -> Vec<Value> {
        match self {
            Ty::Str => vec![json!(42), json!({"s": "x"})],
            Ty::Int => vec![json!("10")],
            Ty::Bool => vec![json!("true")],
            Ty::List => vec![json!({"key": "k"})],
            Ty::Obj => vec![json!(["x"])],
        }
    }
}

/// One operation: a valid body and the members it reads, with their types; those marked
/// `true` are required.
struct Operation {
    name: &'static str,
    valid: Value,
    members: Vec<(&'static str, Ty, bool)>,
}

fn operations(f: &Fixture) -> Vec<Operation> {
    use Ty::*;
    let op = |name, valid, members| Operation {
        name,
        valid,
        members,
    };
    vec![
        op(
            "CreateActivity",
            json!({"name": "new-activity"}),
            vec![
                ("name", Str, true),
                ("tags", List, false),
                ("encryptionConfiguration", Obj, false),
            ],
        ),
        op(
            "CreateStateMachine",
            json!({"name": "new-machine", "definition": pass(), "roleArn": ROLE}),
            vec![
                ("name", Str, true),
                ("definition", Str, true),
                ("roleArn", Str, true),
                ("type", Str, false),
                ("loggingConfiguration", Obj, false),
                ("tags", List, false),
                ("tracingConfiguration", Obj, false),
                ("publish", Bool, false),
                ("versionDescription", Str, false),
                ("encryptionConfiguration", Obj, false),
            ],
        ),
        op(
            "CreateStateMachineAlias",
            json!({"name": "new-alias", "routingConfiguration": [
                {"stateMachineVersionArn": f.version, "weight": 100}]}),
            vec![
                ("name", Str, true),
                ("description", Str, false),
                ("routingConfiguration", List, true),
            ],
        ),
        op(
            "DeleteStateMachineAlias",
            json!({"stateMachineAliasArn": f.alias}),
            vec![("stateMachineAliasArn", Str, true)],
        ),
        op(
            "DeleteStateMachineVersion",
            json!({"stateMachineVersionArn": f.version}),
            vec![("stateMachineVersionArn", Str, true)],
        ),
        op(
            "DescribeStateMachineAlias",
            json!({"stateMachineAliasArn": f.alias}),
            vec![("stateMachineAliasArn", Str, true)],
        ),
        op(
            "ListStateMachineAliases",
            json!({"stateMachineArn": f.machine}),
            vec![
                ("stateMachineArn", Str, true),
                ("nextToken", Str, false),
                ("maxResults", Int, false),
            ],
        ),
        op(
            "ListStateMachineVersions",
            json!({"stateMachineArn": f.machine}),
            vec![
                ("stateMachineArn", Str, true),
                ("nextToken", Str, false),
                ("maxResults", Int, false),
            ],
        ),
        op(
            "PublishStateMachineVersion",
            json!({"stateMachineArn": f.machine}),
            vec![
                ("stateMachineArn", Str, true),
                ("revisionId", Str, false),
                ("description", Str, false),
            ],
        ),
        op(
            "UpdateStateMachineAlias",
            json!({"stateMachineAliasArn": f.alias, "description": "changed"}),
            vec![
                ("stateMachineAliasArn", Str, true),
                ("description", Str, false),
                ("routingConfiguration", List, false),
            ],
        ),
        op(
            "DeleteActivity",
            json!({"activityArn": f.activity}),
            vec![("activityArn", Str, true)],
        ),
        op(
            "DeleteStateMachine",
            json!({"stateMachineArn": f.machine}),
            vec![("stateMachineArn", Str, true)],
        ),
        op(
            "DescribeActivity",
            json!({"activityArn": f.activity}),
            vec![("activityArn", Str, true)],
        ),
        op(
            "DescribeExecution",
            json!({"executionArn": f.execution}),
            vec![("executionArn", Str, true), ("includedData", Str, false)],
        ),
        op(
            "DescribeMapRun",
            json!({"mapRunArn": format!("{ACCOUNT_PREFIX}:mapRun:m/l:0f4b")}),
            vec![("mapRunArn", Str, true)],
        ),
        op(
            "UpdateMapRun",
            json!({"mapRunArn": format!("{ACCOUNT_PREFIX}:mapRun:m/l:0f4b"), "maxConcurrency": 1}),
            vec![
                ("mapRunArn", Str, true),
                ("maxConcurrency", Int, false),
                ("toleratedFailureCount", Int, false),
            ],
        ),
        op(
            "ListMapRuns",
            json!({"executionArn": f.execution}),
            vec![
                ("executionArn", Str, true),
                ("maxResults", Int, false),
                ("nextToken", Str, false),
            ],
        ),
        op(
            "DescribeStateMachine",
            json!({"stateMachineArn": f.machine}),
            vec![("stateMachineArn", Str, true), ("includedData", Str, false)],
        ),
        op(
            "DescribeStateMachineForExecution",
            json!({"executionArn": f.execution}),
            vec![("executionArn", Str, true), ("includedData", Str, false)],
        ),
        op(
            "GetExecutionHistory",
            json!({"executionArn": f.execution}),
            vec![
                ("executionArn", Str, true),
                ("maxResults", Int, false),
                ("reverseOrder", Bool, false),
                ("nextToken", Str, false),
                ("includeExecutionData", Bool, false),
            ],
        ),
        op(
            "ListActivities",
            json!({}),
            vec![("maxResults", Int, false), ("nextToken", Str, false)],
        ),
        op(
            "ListExecutions",
            json!({"stateMachineArn": f.machine}),
            vec![
                ("stateMachineArn", Str, false),
                ("statusFilter", Str, false),
                ("maxResults", Int, false),
                ("nextToken", Str, false),
                ("mapRunArn", Str, false),
                ("redriveFilter", Str, false),
            ],
        ),
        op(
            "ListStateMachines",
            json!({}),
            vec![("maxResults", Int, false), ("nextToken", Str, false)],
        ),
        op(
            "ListTagsForResource",
            json!({"resourceArn": f.machine}),
            vec![("resourceArn", Str, true)],
        ),
        op(
            "StartExecution",
            json!({"stateMachineArn": f.machine, "name": "new-run"}),
            vec![
                ("stateMachineArn", Str, true),
                ("name", Str, false),
                ("input", Str, false),
                ("traceHeader", Str, false),
            ],
        ),
        op(
            "StartSyncExecution",
            json!({"stateMachineArn": f.express, "name": "new-sync-run"}),
            vec![
                ("stateMachineArn", Str, true),
                ("name", Str, false),
                ("input", Str, false),
                ("traceHeader", Str, false),
                ("includedData", Str, false),
            ],
        ),
        op(
            "StopExecution",
            json!({"executionArn": f.execution}),
            vec![
                ("executionArn", Str, true),
                ("error", Str, false),
                ("cause", Str, false),
            ],
        ),
        op(
            "RedriveExecution",
            json!({"executionArn": f.execution, "clientToken": "tok"}),
            vec![("executionArn", Str, true), ("clientToken", Str, false)],
        ),
        op(
            "TagResource",
            json!({"resourceArn": f.machine, "tags": [{"key": "k", "value": "v"}]}),
            vec![("resourceArn", Str, true), ("tags", List, true)],
        ),
        op(
            "UntagResource",
            json!({"resourceArn": f.machine, "tagKeys": ["team"]}),
            vec![("resourceArn", Str, true), ("tagKeys", List, true)],
        ),
        op(
            "UpdateStateMachine",
            json!({"stateMachineArn": f.machine, "roleArn": OTHER_ROLE}),
            vec![
                ("stateMachineArn", Str, true),
                ("definition", Str, false),
                ("roleArn", Str, false),
                ("loggingConfiguration", Obj, false),
                ("tracingConfiguration", Obj, false),
                ("publish", Bool, false),
                ("versionDescription", Str, false),
                ("encryptionConfiguration", Obj, false),
            ],
        ),
        op(
            "TestState",
            json!({"definition": pass_state(), "input": "{}"}),
            vec![
                ("definition", Str, true),
                ("roleArn", Str, false),
                ("input", Str, false),
                ("inspectionLevel", Str, false),
                ("revealSecrets", Bool, false),
                ("variables", Str, false),
                ("stateName", Str, false),
                ("mock", Obj, false),
                ("context", Str, false),
                ("stateConfiguration", Obj, false),
            ],
        ),
        op(
            "ValidateStateMachineDefinition",
            json!({"definition": pass()}),
            vec![
                ("definition", Str, true),
                ("type", Str, false),
                ("severity", Str, false),
                ("maxResults", Int, false),
            ],
        ),
    ]
}

fn with(base: &Value, member: &str, value: Value) -> Value {
    let mut body = base.clone();
    body[member] = value;
    body
}

fn without(base: &Value, member: &str) -> Value {
    let mut body = base.clone();
    if let Value::Object(map) = &mut body {
        map.remove(member);
    }
    body
}

/// Bodies that are not JSON, are cut short, or are JSON but not an object.
fn not_json() -> Vec<Case> {
    let mut cases = Vec::new();
    let raw: &[(&str, &[u8])] = &[
        ("plain text", b"hello"),
        ("xml", b"<DescribeStateMachine/>"),
        ("form encoding", b"stateMachineArn=arn%3Aaws"),
        ("invalid utf-8", b"{\"name\": \"\xff\xfe\"}"),
        ("lone brace", b"{"),
        ("truncated member", b"{\"stateMachineArn\": "),
        ("truncated string", b"{\"stateMachineArn\": \"arn:aws:sta"),
        ("trailing comma", b"{\"stateMachineArn\": \"x\",}"),
        ("single quotes", b"{'stateMachineArn': 'x'}"),
        ("unquoted key", b"{stateMachineArn: \"x\"}"),
        ("two objects", b"{}{}"),
        ("trailing garbage", b"{} x"),
        ("nul byte", b"\0"),
        ("array", b"[]"),
        ("array of object", b"[{\"stateMachineArn\": \"x\"}]"),
        ("string", b"\"stateMachineArn\""),
        ("number", b"42"),
        ("true", b"true"),
        ("null", b"null"),
    ];
    for (label, body) in raw {
        cases.push(bytes(
            *label,
            "DescribeStateMachine",
            body.to_vec(),
            "SerializationException",
        ));
    }
    // serde_json stops at 128 levels: a deep body is refused, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    cases.push(bytes(
        "100000 nested arrays",
        "ListStateMachines",
        deep.into_bytes(),
        "SerializationException",
    ));
    let deep = format!(
        "{{\"a\":{}1{}}}",
        "{\"a\":".repeat(5_000),
        "}".repeat(5_000)
    );
    cases.push(bytes(
        "5000 nested objects",
        "CreateActivity",
        deep.into_bytes(),
        "SerializationException",
    ));
    // Same bodies against a writing operation: nothing may be half-written.
    for (label, body) in [
        ("start: truncated", &b"{\"stateMachineArn\": \"arn:aws:states:us-east-1:123456789012:stateMachine:fixture-standard\", \"name\": \"x"[..]),
        ("create: array", b"[\"name\", \"definition\"]"),
        ("create: text", b"name=x&definition=y"),
    ] {
        let op = if label.starts_with("start") {
            "StartExecution"
        } else {
            "CreateStateMachine"
        };
        cases.push(bytes(label, op, body.to_vec(), "SerializationException"));
    }
    // An empty body is an empty object: the required member is then missing.
    cases.push(bytes(
        "empty body",
        "DescribeStateMachine",
        Vec::new(),
        "ValidationException",
    ));
    cases.push(bytes(
        "whitespace body",
        "StartExecution",
        b"  \n ".to_vec(),
        "ValidationException",
    ));
    cases
}

/// Every member of every supported operation with a value of the wrong JSON type.
fn wrong_types(f: &Fixture) -> Vec<Case> {
    let mut cases = Vec::new();
    for op in operations(f) {
        for (member, ty, _) in &op.members {
            for value in ty.wrong() {
                cases.push(case(
                    format!("{} {member}={value}", op.name),
                    op.name,
                    with(&op.valid, member, value),
                    "SerializationException",
                ));
            }
        }
    }
    // Inside structures and lists.
    let create = json!({"name": "new-machine", "definition": pass(), "roleArn": ROLE});
    let nested = [
        ("loggingConfiguration", json!({"level": 5})),
        (
            "loggingConfiguration",
            json!({"includeExecutionData": "yes"}),
        ),
        ("loggingConfiguration", json!({"destinations": "x"})),
        ("tracingConfiguration", json!({"enabled": "yes"})),
        ("encryptionConfiguration", json!({"type": 5})),
        ("tags", json!(["team"])),
        ("tags", json!([{"key": 5, "value": "v"}])),
        ("tags", json!([{"key": "k", "value": false}])),
    ];
    for (member, value) in nested {
        cases.push(case(
            format!("CreateStateMachine {member}={value}"),
            "CreateStateMachine",
            with(&create, member, value),
            "SerializationException",
        ));
    }
    cases.push(case(
        "UntagResource tagKeys=[5]",
        "UntagResource",
        json!({"resourceArn": f.machine, "tagKeys": [5]}),
        "SerializationException",
    ));
    cases.push(case(
        "TagResource tags=[[]]",
        "TagResource",
        json!({"resourceArn": f.machine, "tags": [[]]}),
        "SerializationException",
    ));
    // A number too large for any integer member.
    cases.push(case(
        "ListStateMachines maxResults=1e30",
        "ListStateMachines",
        json!({"maxResults": 1e30}),
        "SerializationException",
    ));
    cases
}

/// Every required member absent, and sent as `null` (AWS reads both as "must not be
/// null").
fn missing_members(f: &Fixture) -> Vec<Case> {
    let mut cases = Vec::new();
    for op in operations(f) {
        for (member, _, required) in &op.members {
            if !required {
                continue;
            }
            cases.push(case(
                format!("{} without {member}", op.name),
                op.name,
                without(&op.valid, member),
                "ValidationException",
            ));
            cases.push(case(
                format!("{} {member}=null", op.name),
                op.name,
                with(&op.valid, member, Value::Null),
                "ValidationException",
            ));
        }
    }
    cases.push(case(
        "ListExecutions with neither machine nor map run",
        "ListExecutions",
        json!({}),
        "ValidationException",
    ));
    cases.push(case(
        "CreateStateMachine tag without key",
        "CreateStateMachine",
        json!({"name": "new-machine", "definition": pass(), "roleArn": ROLE,
               "tags": [{"value": "v"}]}),
        "ValidationException",
    ));
    cases.push(case(
        "UpdateStateMachine with nothing to update",
        "UpdateStateMachine",
        json!({"stateMachineArn": f.machine}),
        "MissingRequiredParameter",
    ));
    cases
}

/// Unknown members are ignored, as AWS ignores them: the request is judged on the rest.
fn unknown_members(f: &Fixture) -> Vec<Case> {
    vec![
        accepted(
            "DescribeStateMachine with an extra member",
            "DescribeStateMachine",
            json!({"stateMachineArn": f.machine, "bogus": {"deep": [1, 2]}}),
        ),
        accepted(
            "ListStateMachines with a misspelt member",
            "ListStateMachines",
            json!({"MaxResults": "not even a number"}),
        ),
        case(
            "StartExecution with a misspelt stateMachineArn",
            "StartExecution",
            json!({"StateMachineArn": f.machine}),
            "ValidationException",
        ),
        case(
            "CreateStateMachine with an extra member and a bad name",
            "CreateStateMachine",
            json!({"name": "a b", "definition": pass(), "roleArn": ROLE, "extra": 1}),
            "InvalidName",
        ),
    ]
}

/// Strings over (or under) their model's length limits.
fn lengths(f: &Fixture) -> Vec<Case> {
    let long = |n: usize| "a".repeat(n);
    // An ARN of exactly 257 characters: one over the model's limit.
    let arn_257 = |prefix: String| format!("{prefix}{}", long(257 - prefix.len()));
    let machine_arn_257 = arn_257(format!("{ACCOUNT_PREFIX}:stateMachine:"));
    let execution_arn_257 = arn_257(format!("{ACCOUNT_PREFIX}:execution:m:"));
    let activity_arn_257 = arn_257(format!("{ACCOUNT_PREFIX}:activity:"));
    let create = json!({"name": "new-machine", "definition": pass(), "roleArn": ROLE});
    let start = json!({"stateMachineArn": f.machine, "name": "new-run"});
    let mut cases = vec![
        case(
            "machine name 81",
            "CreateStateMachine",
            with(&create, "name", json!(long(81))),
            "ValidationException",
        ),
        case(
            "machine name empty",
            "CreateStateMachine",
            with(&create, "name", json!("")),
            "ValidationException",
        ),
        case(
            "activity name 81",
            "CreateActivity",
            json!({"name": long(81)}),
            "ValidationException",
        ),
        case(
            "activity name empty",
            "CreateActivity",
            json!({"name": ""}),
            "ValidationException",
        ),
        case(
            "execution name 81",
            "StartExecution",
            with(&start, "name", json!(long(81))),
            "ValidationException",
        ),
        case(
            "execution name empty",
            "StartExecution",
            with(&start, "name", json!("")),
            "ValidationException",
        ),
        case(
            "execution name 81 multibyte",
            "StartExecution",
            with(&start, "name", json!("é".repeat(81))),
            "ValidationException",
        ),
        case(
            "definition empty",
            "CreateStateMachine",
            with(&create, "definition", json!("")),
            "ValidationException",
        ),
        case(
            "roleArn 257",
            "CreateStateMachine",
            with(
                &create,
                "roleArn",
                json!(format!("arn:aws:iam::123456789012:role/{}", long(226))),
            ),
            "ValidationException",
        ),
        case(
            "roleArn empty",
            "CreateStateMachine",
            with(&create, "roleArn", json!("")),
            "ValidationException",
        ),
        case(
            "versionDescription 257",
            "CreateStateMachine",
            with(&create, "versionDescription", json!(long(257))),
            "ValidationException",
        ),
        case(
            "tag key 129",
            "CreateStateMachine",
            with(&create, "tags", json!([{"key": long(129), "value": "v"}])),
            "ValidationException",
        ),
        case(
            "tag key empty",
            "TagResource",
            json!({"resourceArn": f.machine, "tags": [{"key": "", "value": "v"}]}),
            "ValidationException",
        ),
        case(
            "tag value 257",
            "TagResource",
            json!({"resourceArn": f.machine, "tags": [{"key": "k", "value": long(257)}]}),
            "ValidationException",
        ),
        case(
            "tagKeys item 129",
            "UntagResource",
            json!({"resourceArn": f.machine, "tagKeys": [long(129)]}),
            "ValidationException",
        ),
        case(
            "traceHeader 257",
            "StartExecution",
            with(&start, "traceHeader", json!(long(257))),
            "ValidationException",
        ),
        case(
            "stop error 257",
            "StopExecution",
            json!({"executionArn": f.execution, "error": long(257)}),
            "ValidationException",
        ),
        case(
            "stop cause 32769",
            "StopExecution",
            json!({"executionArn": f.execution, "cause": long(32_769)}),
            "ValidationException",
        ),
        case(
            "redrive clientToken 65",
            "RedriveExecution",
            json!({"executionArn": f.execution, "clientToken": long(65)}),
            "ValidationException",
        ),
        case(
            "redrive clientToken empty",
            "RedriveExecution",
            json!({"executionArn": f.execution, "clientToken": ""}),
            "ValidationException",
        ),
        case(
            "redrive clientToken with a space",
            "RedriveExecution",
            json!({"executionArn": f.execution, "clientToken": "a b"}),
            "ValidationException",
        ),
        case(
            "stateMachineArn 257",
            "DescribeStateMachine",
            json!({"stateMachineArn": machine_arn_257}),
            "ValidationException",
        ),
        case(
            "stateMachineArn empty",
            "StartExecution",
            json!({"stateMachineArn": ""}),
            "ValidationException",
        ),
        case(
            "executionArn 257",
            "DescribeExecution",
            json!({"executionArn": execution_arn_257}),
            "ValidationException",
        ),
        case(
            "executionArn empty",
            "StopExecution",
            json!({"executionArn": ""}),
            "ValidationException",
        ),
        case(
            "activityArn 257",
            "DescribeActivity",
            json!({"activityArn": activity_arn_257}),
            "ValidationException",
        ),
        case(
            "resourceArn 257",
            "ListTagsForResource",
            json!({"resourceArn": machine_arn_257}),
            "ValidationException",
        ),
        case(
            "mapRunArn 2001",
            "ListExecutions",
            json!({"mapRunArn": long(2001)}),
            "ValidationException",
        ),
        case(
            "nextToken 1025",
            "ListStateMachines",
            json!({"nextToken": long(1025)}),
            "ValidationException",
        ),
        case(
            "nextToken 3097",
            "ListExecutions",
            json!({"stateMachineArn": f.machine, "nextToken": long(3097)}),
            "ValidationException",
        ),
        case(
            "nextToken empty",
            "ListActivities",
            json!({"nextToken": ""}),
            "ValidationException",
        ),
    ];
    // Inputs are limited in UTF-8 bytes (256 KiB), not characters.
    let big = format!("\"{}\"", "a".repeat(256 * 1024));
    cases.push(case(
        "input 256 KiB + 2 bytes",
        "StartExecution",
        with(&start, "input", json!(big)),
        "ValidationException",
    ));
    let euros = format!("\"{}\"", "€".repeat(90_000));
    cases.push(case(
        "input 90000 euro signs (270 KB)",
        "StartExecution",
        with(&start, "input", json!(euros)),
        "ValidationException",
    ));
    let sync = json!({"stateMachineArn": f.express});
    cases.push(case(
        "sync input 256 KiB + 2 bytes",
        "StartSyncExecution",
        with(&sync, "input", json!(big)),
        "ValidationException",
    ));
    cases
}

/// Names with each character AWS forbids, for each kind of named resource.
fn forbidden_names(f: &Fixture) -> Vec<Case> {
    let mut characters: Vec<char> = "<>{}[]?*\"#%\\^|~`$&,;:/".chars().collect();
    // U+00A0 is left out: Cairn refuses it, but whether AWS counts it as white space is
    // not documented.
    characters.extend([' ', '\t', '\n', '\r', '\u{2003}', '\u{3000}']);
    characters.extend(['\u{0}', '\u{1}', '\u{1f}', '\u{7f}', '\u{85}', '\u{9f}']);
    let mut cases = Vec::new();
    for c in characters {
        let name = format!("bad{c}name");
        let shown = format!("{:?}", c);
        cases.push(case(
            format!("machine name with {shown}"),
            "CreateStateMachine",
            json!({"name": name, "definition": pass(), "roleArn": ROLE}),
            "InvalidName",
        ));
        cases.push(case(
            format!("execution name with {shown}"),
            "StartExecution",
            json!({"stateMachineArn": f.machine, "name": name}),
            "InvalidName",
        ));
        cases.push(case(
            format!("activity name with {shown}"),
            "CreateActivity",
            json!({"name": name}),
            "InvalidName",
        ));
    }
    cases.push(case(
        "sync execution name with a space",
        "StartSyncExecution",
        json!({"stateMachineArn": f.express, "name": "a b"}),
        "InvalidName",
    ));
    cases
}

/// ARNs that are not ARNs, name the wrong kind of resource, or name nothing.
fn arns(f: &Fixture) -> Vec<Case> {
    let mut cases = Vec::new();
    let express_run = format!(
        "{ACCOUNT_PREFIX}:express:fixture-express:run:6f1c7a8e-4b1e-4c47-9a53-0c8f3a6e2b10"
    );
    let not_machine = [
        ("not an ARN", "fixture-standard".to_string()),
        ("an execution ARN", f.execution.clone()),
        ("an activity ARN", f.activity.clone()),
        ("an express execution ARN", express_run.clone()),
        (
            "a Lambda ARN",
            "arn:aws:lambda:us-east-1:123456789012:function:f".to_string(),
        ),
        ("an ARN cut short", "arn:aws:states:us-east-1".to_string()),
        (
            "an empty machine name",
            format!("{ACCOUNT_PREFIX}:stateMachine:"),
        ),
        (
            "no partition",
            "arn::states:us-east-1:123456789012:stateMachine:fixture-standard".to_string(),
        ),
    ];
    let machine_ops: [(&str, Value); 6] = [
        ("DescribeStateMachine", json!({})),
        ("DeleteStateMachine", json!({})),
        ("UpdateStateMachine", json!({"roleArn": OTHER_ROLE})),
        ("StartExecution", json!({"name": "new-run"})),
        ("StartSyncExecution", json!({})),
        ("ListExecutions", json!({})),
    ];
    for (op, base) in &machine_ops {
        for (label, arn) in &not_machine {
            cases.push(case(
                format!("{op} with {label}"),
                op,
                with(base, "stateMachineArn", json!(arn)),
                "InvalidArn",
            ));
        }
    }
    let not_execution = [
        ("a state machine ARN", f.machine.clone()),
        ("an express execution ARN", express_run.clone()),
        (
            "an execution ARN without a name",
            format!("{ACCOUNT_PREFIX}:execution:fixture-standard"),
        ),
        ("not an ARN", "fixture-run".to_string()),
    ];
    for op in [
        "DescribeExecution",
        "StopExecution",
        "RedriveExecution",
        "GetExecutionHistory",
        "DescribeStateMachineForExecution",
    ] {
        for (label, arn) in &not_execution {
            cases.push(case(
                format!("{op} with {label}"),
                op,
                json!({"executionArn": arn}),
                "InvalidArn",
            ));
        }
    }
    for op in ["DescribeActivity", "DeleteActivity"] {
        for (label, arn) in [
            ("a state machine ARN", &f.machine),
            ("an execution ARN", &f.execution),
        ] {
            cases.push(case(
                format!("{op} with {label}"),
                op,
                json!({"activityArn": arn}),
                "InvalidArn",
            ));
        }
    }
    for (op, extra) in [
        ("TagResource", json!({"tags": [{"key": "k", "value": "v"}]})),
        ("UntagResource", json!({"tagKeys": ["team"]})),
        ("ListTagsForResource", json!({})),
    ] {
        for (label, arn) in [
            ("an execution ARN", f.execution.as_str()),
            ("not an ARN", "team"),
        ] {
            cases.push(case(
                format!("{op} with {label}"),
                op,
                with(&extra, "resourceArn", json!(arn)),
                "InvalidArn",
            ));
        }
    }
    cases
}

/// Well-formed ARNs of resources that do not exist (including other regions, accounts
/// and partitions, where Cairn has nothing).
fn nonexistent(f: &Fixture) -> Vec<Case> {
    let machine = format!("{ACCOUNT_PREFIX}:stateMachine:nope");
    let execution = format!("{ACCOUNT_PREFIX}:execution:fixture-standard:nope");
    let activity = format!("{ACCOUNT_PREFIX}:activity:nope");
    let elsewhere = [
        ("other region", f.machine.replace("us-east-1", "eu-west-1")),
        (
            "other account",
            f.machine.replace("123456789012", "210987654321"),
        ),
        (
            "other partition",
            f.machine.replace("arn:aws:", "arn:aws-cn:"),
        ),
    ];
    let mut cases = vec![
        case(
            "describe machine",
            "DescribeStateMachine",
            json!({"stateMachineArn": machine}),
            "StateMachineDoesNotExist",
        ),
        case(
            "update machine",
            "UpdateStateMachine",
            json!({"stateMachineArn": machine, "roleArn": OTHER_ROLE}),
            "StateMachineDoesNotExist",
        ),
        case(
            "start on machine",
            "StartExecution",
            json!({"stateMachineArn": machine}),
            "StateMachineDoesNotExist",
        ),
        case(
            "start sync on machine",
            "StartSyncExecution",
            json!({"stateMachineArn": machine}),
            "StateMachineDoesNotExist",
        ),
        case(
            "list executions of machine",
            "ListExecutions",
            json!({"stateMachineArn": machine}),
            "StateMachineDoesNotExist",
        ),
        case(
            "describe execution",
            "DescribeExecution",
            json!({"executionArn": execution}),
            "ExecutionDoesNotExist",
        ),
        case(
            "stop execution",
            "StopExecution",
            json!({"executionArn": execution}),
            "ExecutionDoesNotExist",
        ),
        case(
            "redrive execution",
            "RedriveExecution",
            json!({"executionArn": execution}),
            "ExecutionDoesNotExist",
        ),
        case(
            "history of execution",
            "GetExecutionHistory",
            json!({"executionArn": execution}),
            "ExecutionDoesNotExist",
        ),
        case(
            "machine for execution",
            "DescribeStateMachineForExecution",
            json!({"executionArn": execution}),
            "ExecutionDoesNotExist",
        ),
        case(
            "describe activity",
            "DescribeActivity",
            json!({"activityArn": activity}),
            "ActivityDoesNotExist",
        ),
        case(
            "tag missing machine",
            "TagResource",
            json!({"resourceArn": machine, "tags": [{"key": "k", "value": "v"}]}),
            "ResourceNotFound",
        ),
        case(
            "untag missing activity",
            "UntagResource",
            json!({"resourceArn": activity, "tagKeys": ["k"]}),
            "ResourceNotFound",
        ),
        case(
            "list tags of missing machine",
            "ListTagsForResource",
            json!({"resourceArn": machine}),
            "ResourceNotFound",
        ),
        // AWS answers success for deleting what does not exist; nothing changes.
        accepted(
            "delete missing machine",
            "DeleteStateMachine",
            json!({"stateMachineArn": machine}),
        ),
        accepted(
            "delete missing activity",
            "DeleteActivity",
            json!({"activityArn": activity}),
        ),
        accepted(
            "delete missing version",
            "DeleteStateMachineVersion",
            json!({"stateMachineVersionArn": format!("{}:99", f.machine)}),
        ),
        accepted(
            "delete missing alias",
            "DeleteStateMachineAlias",
            json!({"stateMachineAliasArn": format!("{}:gone", f.machine)}),
        ),
        case(
            "describe missing version",
            "DescribeStateMachine",
            json!({"stateMachineArn": format!("{}:99", f.machine)}),
            "StateMachineDoesNotExist",
        ),
        case(
            "start missing version",
            "StartExecution",
            json!({"stateMachineArn": format!("{}:99", f.machine)}),
            "StateMachineDoesNotExist",
        ),
        case(
            "start missing alias",
            "StartExecution",
            json!({"stateMachineArn": format!("{}:gone", f.machine)}),
            "StateMachineDoesNotExist",
        ),
        case(
            "list executions of missing version",
            "ListExecutions",
            json!({"stateMachineArn": format!("{}:99", f.machine)}),
            "StateMachineDoesNotExist",
        ),
        case(
            "describe missing alias",
            "DescribeStateMachineAlias",
            json!({"stateMachineAliasArn": format!("{}:gone", f.machine)}),
            "ResourceNotFound",
        ),
        case(
            "update missing alias",
            "UpdateStateMachineAlias",
            json!({"stateMachineAliasArn": format!("{}:gone", f.machine), "description": "d"}),
            "ResourceNotFound",
        ),
        case(
            "alias to a missing version",
            "CreateStateMachineAlias",
            json!({"name": "new-alias", "routingConfiguration": [
                {"stateMachineVersionArn": format!("{}:99", f.machine), "weight": 100}]}),
            "ResourceNotFound",
        ),
        case(
            "alias of a missing machine",
            "CreateStateMachineAlias",
            json!({"name": "new-alias", "routingConfiguration": [
                {"stateMachineVersionArn": format!("{machine}:1"), "weight": 100}]}),
            "StateMachineDoesNotExist",
        ),
        case(
            "publish missing machine",
            "PublishStateMachineVersion",
            json!({"stateMachineArn": machine}),
            "StateMachineDoesNotExist",
        ),
        case(
            "versions of missing machine",
            "ListStateMachineVersions",
            json!({"stateMachineArn": machine}),
            "StateMachineDoesNotExist",
        ),
        case(
            "aliases of missing machine",
            "ListStateMachineAliases",
            json!({"stateMachineArn": machine}),
            "StateMachineDoesNotExist",
        ),
    ];
    for (label, arn) in elsewhere {
        cases.push(case(
            format!("describe machine in {label}"),
            "DescribeStateMachine",
            json!({"stateMachineArn": arn}),
            "StateMachineDoesNotExist",
        ));
        cases.push(case(
            format!("start on machine in {label}"),
            "StartExecution",
            json!({"stateMachineArn": arn}),
            "StateMachineDoesNotExist",
        ));
    }
    cases
}

/// Definitions that do not parse or break a rule of the States Language.
fn definitions(f: &Fixture) -> Vec<Case> {
    let state = |s: Value| json!({"StartAt": "S", "States": {"S": s}}).to_string();
    let deep = format!(
        "{{\"StartAt\":\"S\",\"States\":{{\"S\":{{\"Type\":\"Pass\",\"End\":true,\"Result\":{}1{}}}}}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let bad = [
        ("not JSON", "StartAt: S".to_string()),
        ("truncated", "{\"StartAt\": \"S\", \"States\": {".to_string()),
        ("an array", "[]".to_string()),
        ("a string", "\"S\"".to_string()),
        ("empty object", "{}".to_string()),
        ("no StartAt", json!({"States": {"S": {"Type": "Pass", "End": true}}}).to_string()),
        ("no States", json!({"StartAt": "S"}).to_string()),
        ("StartAt names nothing", json!({"StartAt": "X", "States": {"S": {"Type": "Pass", "End": true}}}).to_string()),
        ("unknown state type", state(json!({"Type": "Teleport", "End": true}))),
        ("no Type", state(json!({"End": true}))),
        ("Next names nothing", state(json!({"Type": "Pass", "Next": "Nowhere"}))),
        ("neither Next nor End", state(json!({"Type": "Pass"}))),
        ("both Next and End", json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "Next": "T", "End": true}, "T": {"Type": "Succeed"}}}).to_string()),
        ("Choice without Choices", state(json!({"Type": "Choice", "Default": "S"}))),
        ("Task without Resource", state(json!({"Type": "Task", "End": true}))),
        ("Wait without a duration", state(json!({"Type": "Wait", "End": true}))),
        ("unknown field", state(json!({"Type": "Pass", "End": true, "Bogus": 1}))),
        ("bad JSONPath", state(json!({"Type": "Pass", "End": true, "InputPath": "not a path"}))),
        ("bad intrinsic", state(json!({"Type": "Pass", "End": true, "Parameters": {"x.$": "States.Nope(1)"}}))),
        ("10000 nested arrays in Result", deep),
    ];
    let mut cases = Vec::new();
    for (label, definition) in &bad {
        cases.push(case(
            format!("create: {label}"),
            "CreateStateMachine",
            json!({"name": "new-machine", "definition": definition, "roleArn": ROLE}),
            "InvalidDefinition",
        ));
    }
    for (label, definition) in bad.iter().take(8) {
        cases.push(case(
            format!("update: {label}"),
            "UpdateStateMachine",
            json!({"stateMachineArn": f.machine, "definition": definition}),
            "InvalidDefinition",
        ));
    }
    let wait_for_token = state(json!({"Type": "Task", "End": true,
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "f", "Payload": {"t.$": "$$.Task.Token"}}}));
    cases.push(case(
        "create EXPRESS with .waitForTaskToken",
        "CreateStateMachine",
        json!({"name": "new-machine", "definition": wait_for_token, "roleArn": ROLE, "type": "EXPRESS"}),
        "InvalidDefinition",
    ));
    cases.push(case(
        "update EXPRESS with .waitForTaskToken",
        "UpdateStateMachine",
        json!({"stateMachineArn": f.express, "definition": wait_for_token}),
        "InvalidDefinition",
    ));
    // ValidateStateMachineDefinition answers FAIL with HTTP 200, and stores nothing.
    for (label, definition) in bad.iter().take(3) {
        cases.push(accepted(
            format!("validate: {label}"),
            "ValidateStateMachineDefinition",
            json!({"definition": definition}),
        ));
    }
    cases
}

/// Role ARNs that are not ARNs.
fn roles(f: &Fixture) -> Vec<Case> {
    let mut cases = Vec::new();
    for (label, role) in [
        ("a role name", "cairn-test"),
        ("an ARN prefix only", "arn:aws:iam"),
        ("a URL", "https://iam.amazonaws.com/role/x"),
    ] {
        cases.push(case(
            format!("create with {label}"),
            "CreateStateMachine",
            json!({"name": "new-machine", "definition": pass(), "roleArn": role}),
            "InvalidArn",
        ));
        cases.push(case(
            format!("update with {label}"),
            "UpdateStateMachine",
            json!({"stateMachineArn": f.machine, "roleArn": role}),
            "InvalidArn",
        ));
    }
    cases
}

/// Execution inputs that are not JSON.
fn inputs(f: &Fixture) -> Vec<Case> {
    let mut cases = Vec::new();
    let deep = format!("{}{}", "[".repeat(1_000), "]".repeat(1_000));
    for (label, input) in [
        ("not JSON", "hello".to_string()),
        ("truncated", "{\"a\": ".to_string()),
        ("single quotes", "{'a': 1}".to_string()),
        ("two values", "{} {}".to_string()),
        ("1000 nested arrays", deep),
    ] {
        cases.push(case(
            format!("start: {label}"),
            "StartExecution",
            json!({"stateMachineArn": f.machine, "name": "new-run", "input": input}),
            "InvalidExecutionInput",
        ));
        cases.push(case(
            format!("start sync: {label}"),
            "StartSyncExecution",
            json!({"stateMachineArn": f.express, "input": input}),
            "InvalidExecutionInput",
        ));
    }
    cases
}

/// Enumerated members outside their sets, and configurations AWS refuses.
fn enums(f: &Fixture) -> Vec<Case> {
    let create = json!({"name": "new-machine", "definition": pass(), "roleArn": ROLE});
    vec![
        case(
            "type",
            "CreateStateMachine",
            with(&create, "type", json!("standard")),
            "ValidationException",
        ),
        case(
            "logging level",
            "CreateStateMachine",
            with(&create, "loggingConfiguration", json!({"level": "LOUD"})),
            "ValidationException",
        ),
        case(
            "logging without destination",
            "CreateStateMachine",
            with(&create, "loggingConfiguration", json!({"level": "ALL"})),
            "InvalidLoggingConfiguration",
        ),
        case(
            "logging with two destinations",
            "CreateStateMachine",
            with(
                &create,
                "loggingConfiguration",
                json!({"level": "ALL", "destinations": [{}, {}]}),
            ),
            "InvalidLoggingConfiguration",
        ),
        case(
            "encryption type",
            "CreateStateMachine",
            with(&create, "encryptionConfiguration", json!({"type": "ROT13"})),
            "ValidationException",
        ),
        case(
            "encryption without type",
            "CreateActivity",
            json!({"name": "new-activity", "encryptionConfiguration": {}}),
            "ValidationException",
        ),
        case(
            "includedData",
            "DescribeStateMachine",
            json!({"stateMachineArn": f.machine, "includedData": "SOME"}),
            "ValidationException",
        ),
        case(
            "includedData on execution",
            "DescribeExecution",
            json!({"executionArn": f.execution, "includedData": "all_data"}),
            "ValidationException",
        ),
        case(
            "statusFilter",
            "ListExecutions",
            json!({"stateMachineArn": f.machine, "statusFilter": "DONE"}),
            "ValidationException",
        ),
        case(
            "redriveFilter",
            "ListExecutions",
            json!({"stateMachineArn": f.machine, "redriveFilter": "MAYBE"}),
            "ValidationException",
        ),
        case(
            "validate type",
            "ValidateStateMachineDefinition",
            json!({"definition": pass(), "type": "FAST"}),
            "ValidationException",
        ),
        case(
            "validate severity",
            "ValidateStateMachineDefinition",
            json!({"definition": pass(), "severity": "INFO"}),
            "ValidationException",
        ),
    ]
}

/// Pagination tokens Cairn did not issue for this list, and page sizes out of range.
fn pagination(f: &Fixture) -> Vec<Case> {
    use cairn_api::page::encode;
    let history = |token: String| json!({"executionArn": f.execution, "nextToken": token});
    let executions = |token: String| json!({"stateMachineArn": f.machine, "nextToken": token});
    let mut cases = vec![
        case(
            "machines: garbage",
            "ListStateMachines",
            json!({"nextToken": "%%%not-base64"}),
            "InvalidToken",
        ),
        case(
            "machines: base64 of nothing",
            "ListStateMachines",
            json!({"nextToken": "aGVsbG8"}),
            "InvalidToken",
        ),
        case(
            "machines: an activities token",
            "ListStateMachines",
            json!({"nextToken": encode("ListActivities", "x")}),
            "InvalidToken",
        ),
        case(
            "activities: a machines token",
            "ListActivities",
            json!({"nextToken": encode("ListStateMachines", "x")}),
            "InvalidToken",
        ),
        case(
            "activities: garbage",
            "ListActivities",
            json!({"nextToken": "!!"}),
            "InvalidToken",
        ),
        case(
            "executions: garbage",
            "ListExecutions",
            executions("ZZZ".into()),
            "InvalidToken",
        ),
        case(
            "executions: bad cursor",
            "ListExecutions",
            executions(encode("ListExecutions", "yesterday")),
            "InvalidToken",
        ),
        case(
            "executions: a history token",
            "ListExecutions",
            executions(encode("GetExecutionHistory", "x")),
            "InvalidToken",
        ),
        case(
            "history: garbage",
            "GetExecutionHistory",
            history("@@@".into()),
            "InvalidToken",
        ),
        case(
            "history: another execution's token",
            "GetExecutionHistory",
            history(encode(
                "GetExecutionHistory",
                &format!("{ACCOUNT_PREFIX}:execution:other:run forward@1"),
            )),
            "InvalidToken",
        ),
        case(
            "history: the other direction's token",
            "GetExecutionHistory",
            history(encode(
                "GetExecutionHistory",
                &format!("{} reverse@1", f.execution),
            )),
            "InvalidToken",
        ),
        case(
            "history: a non-numeric position",
            "GetExecutionHistory",
            history(encode(
                "GetExecutionHistory",
                &format!("{} forward@one", f.execution),
            )),
            "InvalidToken",
        ),
    ];
    for (op, base) in [
        ("ListStateMachines", json!({})),
        ("ListActivities", json!({})),
        ("ListExecutions", json!({"stateMachineArn": f.machine})),
        ("GetExecutionHistory", json!({"executionArn": f.execution})),
    ] {
        for n in [-1, 1001, i64::from(i32::MAX) + 1] {
            cases.push(case(
                format!("{op} maxResults={n}"),
                op,
                with(&base, "maxResults", json!(n)),
                "ValidationException",
            ));
        }
    }
    cases.push(case(
        "ValidateStateMachineDefinition maxResults=101",
        "ValidateStateMachineDefinition",
        json!({"definition": pass(), "maxResults": 101}),
        "ValidationException",
    ));
    cases
}

/// Targets that name no operation, or one Cairn does not have.
fn targets() -> Vec<Case> {
    let raw = |label: &str, target: Option<&[u8]>, code: &'static str| {
        let mut headers = vec![("content-type", b"application/x-amz-json-1.0".to_vec())];
        if let Some(t) = target {
            headers.push(("x-amz-target", t.to_vec()));
        }
        Case {
            label: label.to_string(),
            transport: Transport::Raw(headers),
            body: b"{}".to_vec(),
            status: 400,
            code,
        }
    };
    let unknown = "UnknownOperationException";
    let mut cases = vec![
        raw("no target", None, unknown),
        raw("empty target", Some(b""), unknown),
        raw("prefix only", Some(b"AWSStepFunctions."), unknown),
        raw("prefix without dot", Some(b"AWSStepFunctions"), unknown),
        raw(
            "operation without prefix",
            Some(b"ListStateMachines"),
            unknown,
        ),
        raw(
            "lower-case prefix",
            Some(b"awsstepfunctions.ListStateMachines"),
            unknown,
        ),
        raw(
            "lower-case operation",
            Some(b"AWSStepFunctions.listStateMachines"),
            unknown,
        ),
        raw(
            "another service",
            Some(b"DynamoDB_20120810.ListTables"),
            unknown,
        ),
        raw(
            "a version in the prefix",
            Some(b"AWSStepFunctions_20161123.ListStateMachines"),
            unknown,
        ),
        raw(
            "non-UTF-8 target",
            Some(b"AWSStepFunctions.\xe9\xff"),
            unknown,
        ),
        raw(
            "an invented operation",
            Some(b"AWSStepFunctions.Frobnicate"),
            unknown,
        ),
        raw(
            "an operation with a suffix",
            Some(b"AWSStepFunctions.ListStateMachinesV2"),
            unknown,
        ),
        raw(
            "two operations",
            Some(b"AWSStepFunctions.ListStateMachines,AWSStepFunctions.ListActivities"),
            unknown,
        ),
    ];
    // Operations of the model Cairn lacks: each refused by name.
    for op in cairn_api::UNSUPPORTED {
        cases.push(case(
            format!("unsupported {op}"),
            op,
            json!({}),
            "UnknownOperationException",
        ));
    }
    cases
}

/// The content type is not checked: the body is read as AWS JSON whatever it says.
fn content_types(f: &Fixture) -> Vec<Case> {
    let missing = format!("{ACCOUNT_PREFIX}:stateMachine:nope");
    let mut cases = Vec::new();
    for content_type in [
        None,
        Some("application/json"),
        Some("text/plain"),
        Some("application/x-amz-json-1.1"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut headers = vec![(
            "x-amz-target",
            b"AWSStepFunctions.DescribeStateMachine".to_vec(),
        )];
        if let Some(c) = content_type {
            headers.push(("content-type", c.as_bytes().to_vec()));
        }
        let shown = content_type.unwrap_or("no content type");
        cases.push(Case {
            label: format!("{shown}, missing machine"),
            transport: Transport::Raw(headers.clone()),
            body: json!({"stateMachineArn": missing}).to_string().into_bytes(),
            status: 400,
            code: "StateMachineDoesNotExist",
        });
        cases.push(Case {
            label: format!("{shown}, form body"),
            transport: Transport::Raw(headers.clone()),
            body: format!("stateMachineArn={}", f.machine).into_bytes(),
            status: 400,
            code: "SerializationException",
        });
        cases.push(Case {
            label: format!("{shown}, existing machine"),
            transport: Transport::Raw(headers),
            body: json!({"stateMachineArn": f.machine})
                .to_string()
                .into_bytes(),
            status: 200,
            code: "",
        });
    }
    cases
}

/// Bodies over the 1 MiB request limit, declared or streamed.
fn huge(f: &Fixture) -> Vec<Case> {
    let definition = format!(
        "{{\"StartAt\":\"S\",\"States\":{{\"S\":{{\"Type\":\"Pass\",\"End\":true,\"Result\":\"{}\"}}}}}}",
        "x".repeat(MIB)
    );
    let create = json!({"name": "new-machine", "definition": definition, "roleArn": ROLE});
    let mut padded = json!({"stateMachineArn": f.machine})
        .to_string()
        .into_bytes();
    padded.extend(std::iter::repeat_n(b' ', MIB));
    vec![
        too_large(
            "definition over 1 MiB",
            "CreateStateMachine",
            create.to_string().into_bytes(),
        ),
        too_large(
            "a small request padded past 1 MiB",
            "DescribeStateMachine",
            padded,
        ),
        too_large(
            "input of 2 MiB",
            "StartExecution",
            json!({"stateMachineArn": f.machine, "name": "new-run",
                   "input": format!("\"{}\"", "a".repeat(2 * MIB))})
            .to_string()
            .into_bytes(),
        ),
        too_large("8 MiB of garbage", "ListStateMachines", vec![b'{'; 8 * MIB]),
        Case {
            label: "4 MiB to another service's target".to_string(),
            transport: Transport::Raw(vec![(
                "x-amz-target",
                b"DynamoDB_20120810.ListTables".to_vec(),
            )]),
            ..too_large("", "", vec![b' '; 4 * MIB])
        },
        Case {
            label: "chunked definition over 1 MiB".to_string(),
            transport: Transport::Chunked("CreateStateMachine".to_string()),
            body: create.to_string().into_bytes(),
            status: 413,
            code: "ValidationException",
        },
    ]
}

/// Requests that collide with what exists: refused, or idempotent, and either way
/// nothing changes.
fn conflicts(f: &Fixture) -> Vec<Case> {
    vec![
        case(
            "redrive a running execution",
            "RedriveExecution",
            json!({"executionArn": f.execution}),
            "ExecutionNotRedrivable",
        ),
        case(
            "redrive a running execution with a client token",
            "RedriveExecution",
            json!({"executionArn": f.execution, "clientToken": "first-token"}),
            "ExecutionNotRedrivable",
        ),
        case(
            "start with a running name and another input",
            "StartExecution",
            json!({"stateMachineArn": f.machine, "name": "fixture-run", "input": "{\"a\":2}"}),
            "ExecutionAlreadyExists",
        ),
        accepted(
            "start with a running name and the same input",
            "StartExecution",
            json!({"stateMachineArn": f.machine, "name": "fixture-run", "input": "{\"a\":1}"}),
        ),
        case(
            "create with a taken name and another definition",
            "CreateStateMachine",
            json!({"name": "fixture-standard", "definition": pass(), "roleArn": ROLE}),
            "StateMachineAlreadyExists",
        ),
        case(
            "create with a taken name and another type",
            "CreateStateMachine",
            json!({"name": "fixture-standard", "definition": waiting().to_string(), "roleArn": ROLE, "type": "EXPRESS"}),
            "StateMachineAlreadyExists",
        ),
        accepted(
            "create the same machine with another role and tags",
            "CreateStateMachine",
            json!({"name": "fixture-standard", "definition": waiting().to_string(), "roleArn": OTHER_ROLE, "tags": [{"key": "new", "value": "tag"}]}),
        ),
        accepted(
            "create the same activity again",
            "CreateActivity",
            json!({"name": "fixture-activity", "tags": [{"key": "k", "value": "v"}]}),
        ),
        case(
            "start sync on a STANDARD machine",
            "StartSyncExecution",
            json!({"stateMachineArn": f.machine}),
            "StateMachineTypeNotSupported",
        ),
        case(
            "list executions of an EXPRESS machine",
            "ListExecutions",
            json!({"stateMachineArn": f.express}),
            "StateMachineTypeNotSupported",
        ),
        case(
            "list executions by machine and map run",
            "ListExecutions",
            json!({"stateMachineArn": f.machine, "mapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:m/x:y"}),
            "ValidationException",
        ),
        case(
            "51 tags at once",
            "TagResource",
            json!({"resourceArn": f.machine,
             "tags": (0..51).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect::<Vec<_>>()}),
            "TooManyTags",
        ),
        case(
            "50 new tags beside an existing one",
            "TagResource",
            json!({"resourceArn": f.machine,
             "tags": (0..50).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect::<Vec<_>>()}),
            "TooManyTags",
        ),
        case(
            "publish a revision that is not the current one",
            "PublishStateMachineVersion",
            json!({"stateMachineArn": f.machine, "revisionId": "stale"}),
            "ConflictException",
        ),
        accepted(
            "publish the current revision again",
            "PublishStateMachineVersion",
            json!({"stateMachineArn": f.machine, "revisionId": "INITIAL"}),
        ),
        case(
            "delete a version an alias routes to",
            "DeleteStateMachineVersion",
            json!({"stateMachineVersionArn": f.version}),
            "ConflictException",
        ),
        case(
            "create an alias of a taken name with another routing",
            "CreateStateMachineAlias",
            json!({"name": "live", "description": "another", "routingConfiguration": [
                {"stateMachineVersionArn": f.version, "weight": 100}]}),
            "ConflictException",
        ),
        accepted(
            "create the same alias again",
            "CreateStateMachineAlias",
            json!({"name": "live", "routingConfiguration": [
                {"stateMachineVersionArn": f.version, "weight": 100}]}),
        ),
        case(
            "alias weights that do not sum to 100",
            "CreateStateMachineAlias",
            json!({"name": "half", "routingConfiguration": [
                {"stateMachineVersionArn": f.version, "weight": 50}]}),
            "ValidationException",
        ),
        case(
            "alias with the same version twice",
            "CreateStateMachineAlias",
            json!({"name": "twice", "routingConfiguration": [
                {"stateMachineVersionArn": f.version, "weight": 50},
                {"stateMachineVersionArn": f.version, "weight": 50}]}),
            "ValidationException",
        ),
        case(
            "alias with three routes",
            "CreateStateMachineAlias",
            json!({"name": "three", "routingConfiguration": [
                {"stateMachineVersionArn": f.version, "weight": 50},
                {"stateMachineVersionArn": format!("{}:2", f.machine), "weight": 25},
                {"stateMachineVersionArn": format!("{}:3", f.machine), "weight": 25}]}),
            "ValidationException",
        ),
        case(
            "alias routing to an unqualified machine",
            "CreateStateMachineAlias",
            json!({"name": "plain", "routingConfiguration": [
                {"stateMachineVersionArn": f.machine, "weight": 100}]}),
            "ValidationException",
        ),
        case(
            "alias weight over 100",
            "CreateStateMachineAlias",
            json!({"name": "heavy", "routingConfiguration": [
                {"stateMachineVersionArn": f.version, "weight": 101}]}),
            "ValidationException",
        ),
        case(
            "alias name of digits only",
            "CreateStateMachineAlias",
            json!({"name": "123", "routingConfiguration": [
                {"stateMachineVersionArn": f.version, "weight": 100}]}),
            "ValidationException",
        ),
        case(
            "alias update with nothing to change",
            "UpdateStateMachineAlias",
            json!({"stateMachineAliasArn": f.alias}),
            "ValidationException",
        ),
        case(
            "delete machine by its version ARN",
            "DeleteStateMachine",
            json!({"stateMachineArn": f.version}),
            "ValidationException",
        ),
        case(
            "describe an alias as a machine",
            "DescribeStateMachine",
            json!({"stateMachineArn": f.alias}),
            "ValidationException",
        ),
        case(
            "publish through a version ARN",
            "PublishStateMachineVersion",
            json!({"stateMachineArn": f.version}),
            "ValidationException",
        ),
        case(
            "version description without publish",
            "UpdateStateMachine",
            json!({"stateMachineArn": f.machine, "roleArn": OTHER_ROLE, "versionDescription": "v"}),
            "ValidationException",
        ),
        case(
            "create with 51 tags",
            "CreateStateMachine",
            json!({"name": "new-machine", "definition": pass(), "roleArn": ROLE,
             "tags": (0..51).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect::<Vec<_>>()}),
            "TooManyTags",
        ),
    ]
}

/// TestState requests AWS refuses, each with AWS's error, and requests it accepts: a
/// test stores nothing either way.
fn test_states() -> Vec<Case> {
    let task =
        |resource: &str| json!({"Type": "Task", "Resource": resource, "End": true}).to_string();
    let lambda = task("arn:aws:states:::lambda:invoke");
    let map = json!({"Type": "Map", "End": true, "ItemProcessor": {
        "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}})
    .to_string();
    let parallel = json!({"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}]})
    .to_string();
    let machine = pass();
    let test = |label: &str, body: Value, code: &'static str| case(label, "TestState", body, code);
    vec![
        test(
            "a mock on a Pass state",
            json!({"definition": pass_state(), "mock": {"result": "{}"}}),
            "ValidationException",
        ),
        test(
            "a mock with a result and an error",
            json!({"definition": lambda, "mock": {"result": "{}", "errorOutput": {"error": "E"}}}),
            "ValidationException",
        ),
        test(
            "a mock with neither",
            json!({"definition": lambda, "mock": {}}),
            "ValidationException",
        ),
        test(
            "a mock and revealSecrets",
            json!({"definition": lambda, "revealSecrets": true, "mock": {"result": "{}"}}),
            "ValidationException",
        ),
        test(
            "a mocked result that is not JSON",
            json!({"definition": lambda, "mock": {"result": "{nope"}}),
            "ValidationException",
        ),
        test(
            "a mocked result of the wrong shape",
            json!({"definition": lambda, "mock": {"result": "{\"StatusCode\": \"200\"}"}}),
            "ValidationException",
        ),
        test(
            "a mocked result of a Parallel state, too short",
            json!({"definition": parallel, "mock": {"result": "[]"}}),
            "ValidationException",
        ),
        test(
            "a mocked result of a Map state, not an array",
            json!({"definition": map, "mock": {"result": "{}"}}),
            "ValidationException",
        ),
        test(
            "a Map state without a mock",
            json!({"definition": map}),
            "InvalidDefinition",
        ),
        test(
            "a Parallel state without a mock",
            json!({"definition": parallel}),
            "InvalidDefinition",
        ),
        test(
            "a callback Task without a mock",
            json!({"definition": task("arn:aws:states:::sqs:sendMessage.waitForTaskToken"), "roleArn": ROLE}),
            "InvalidDefinition",
        ),
        test(
            "an activity without a mock",
            json!({"definition": task("arn:aws:states:us-east-1:123456789012:activity:a"), "roleArn": ROLE}),
            "InvalidDefinition",
        ),
        test(
            "a Task without a mock or a role",
            json!({"definition": lambda}),
            "ValidationException",
        ),
        test(
            "a malformed role",
            json!({"definition": lambda, "roleArn": "role"}),
            "InvalidArn",
        ),
        test(
            "a state that is not valid",
            json!({"definition": "{\"Type\": \"Pass\"}"}),
            "InvalidDefinition",
        ),
        test(
            "a definition that is not JSON",
            json!({"definition": "{nope"}),
            "InvalidDefinition",
        ),
        test(
            "a definition that is an array",
            json!({"definition": "[]"}),
            "InvalidDefinition",
        ),
        test(
            "an empty definition",
            json!({"definition": ""}),
            "ValidationException",
        ),
        test(
            "a state name not in the machine",
            json!({"definition": machine, "stateName": "Nope"}),
            "ValidationException",
        ),
        test(
            "an empty state name",
            json!({"definition": machine, "stateName": ""}),
            "ValidationException",
        ),
        test(
            "a state name of 81 characters",
            json!({"definition": machine, "stateName": "s".repeat(81)}),
            "ValidationException",
        ),
        test(
            "input that is not JSON",
            json!({"definition": pass_state(), "input": "{nope"}),
            "InvalidExecutionInput",
        ),
        test(
            "variables that are not an object",
            json!({"definition": pass_state(), "variables": "[1]"}),
            "ValidationException",
        ),
        test(
            "variables that are not JSON",
            json!({"definition": pass_state(), "variables": "{"}),
            "ValidationException",
        ),
        test(
            "context that is not JSON",
            json!({"definition": pass_state(), "context": "{"}),
            "ValidationException",
        ),
        test(
            "an unknown inspection level",
            json!({"definition": pass_state(), "inspectionLevel": "ALL"}),
            "ValidationException",
        ),
        test(
            "an unknown field validation mode",
            json!({"definition": lambda, "mock": {"result": "{}", "fieldValidationMode": "LOOSE"}}),
            "ValidationException",
        ),
        test(
            "a mock error of the wrong type",
            json!({"definition": lambda, "mock": {"errorOutput": "E"}}),
            "SerializationException",
        ),
        test(
            "a mocked result of the wrong type",
            json!({"definition": lambda, "mock": {"result": {}}}),
            "SerializationException",
        ),
        test(
            "a negative retry count",
            json!({"definition": lambda, "mock": {"result": "{}"}, "stateConfiguration": {"retrierRetryCount": -1}}),
            "ValidationException",
        ),
        test(
            "a retry count of the wrong type",
            json!({"definition": lambda, "mock": {"result": "{}"}, "stateConfiguration": {"retrierRetryCount": "1"}}),
            "SerializationException",
        ),
        test(
            "a Map failure count for a Pass state",
            json!({"definition": pass_state(), "stateConfiguration": {"mapIterationFailureCount": 1}}),
            "ValidationException",
        ),
        test(
            "an error origin outside the Map",
            json!({"definition": map, "mock": {"errorOutput": {"error": "E"}}, "stateConfiguration": {"errorCausedByState": "Elsewhere"}}),
            "ValidationException",
        ),
        test(
            "reader data for a Map without a reader",
            json!({"definition": map, "mock": {"result": "[]"}, "stateConfiguration": {"mapItemReaderData": "[]"}}),
            "ValidationException",
        ),
        accepted(
            "a Pass state",
            "TestState",
            json!({"definition": pass_state(), "input": "{\"a\": 1}", "inspectionLevel": "TRACE"}),
        ),
        accepted(
            "a mocked Task",
            "TestState",
            json!({"definition": lambda, "mock": {"result": "{}"}}),
        ),
        accepted(
            "a mocked Map",
            "TestState",
            json!({"definition": map, "input": "[1]", "mock": {"result": "[2]"}}),
        ),
        accepted(
            "a state of a machine",
            "TestState",
            json!({"definition": machine, "stateName": "P"}),
        ),
    ]
}

fn corpus(f: &Fixture) -> Vec<(&'static str, Vec<Case>)> {
    vec![
        ("not JSON / not an object", not_json()),
        ("wrong member types", wrong_types(f)),
        ("missing required members", missing_members(f)),
        ("unknown members", unknown_members(f)),
        ("length limits", lengths(f)),
        ("forbidden name characters", forbidden_names(f)),
        ("malformed and wrong-type ARNs", arns(f)),
        ("nonexistent resources", nonexistent(f)),
        ("bad definitions", definitions(f)),
        ("bad roles", roles(f)),
        ("bad execution input", inputs(f)),
        ("enums and configurations", enums(f)),
        ("pagination", pagination(f)),
        ("targets and unknown operations", targets()),
        ("content types", content_types(f)),
        ("bodies over 1 MiB", huge(f)),
        ("conflicts with existing resources", conflicts(f)),
        ("TestState", test_states()),
    ]
}

/// Sends a body with `Transfer-Encoding: chunked` over a raw socket, so the server
/// cannot know its size in advance, and returns the status and JSON body. The server may
/// answer (and close) before the whole body is written; that is not a failure.
async fn send_chunked(base: &str, target: &str, body: &[u8]) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: AWSStepFunctions.{target}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let mut written = stream.write_all(head.as_bytes()).await.is_ok();
    for chunk in body.chunks(64 * 1024) {
        if !written {
            break;
        }
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        written = stream.write_all(&frame).await.is_ok();
    }
    if written {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

/// Sends one case; returns what went wrong, if anything, besides the database.
async fn run(h: &Harness, case: &Case) -> Option<String> {
    let (status, body, content_type) = match &case.transport {
        Transport::Boto(op) => {
            let reply = h
                .send(&format!("AWSStepFunctions.{op}"), case.body.clone(), None)
                .await;
            (reply.status, reply.body, reply.content_type)
        }
        Transport::Raw(headers) => {
            let headers: Vec<(&str, &[u8])> =
                headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
            let reply = h.send_raw(&headers, case.body.clone()).await;
            (reply.status, reply.body, reply.content_type)
        }
        Transport::Chunked(op) => {
            let (status, body) = send_chunked(&h.base, op, &case.body).await;
            (status, body, cairn_api::CONTENT_TYPE.to_string())
        }
    };
    let code = body["__type"]
        .as_str()
        .and_then(|t| t.rsplit('#').next())
        .unwrap_or_default();
    let mut problems = Vec::new();
    if status >= 500 {
        problems.push(format!("a server error {status}"));
    }
    if status != case.status || code != case.code {
        problems.push(format!(
            "expected {} {}, got {status} {code}",
            case.status, case.code
        ));
    }
    if content_type != cairn_api::CONTENT_TYPE {
        problems.push(format!("content type {content_type:?}"));
    }
    if !case.code.is_empty() {
        let message = body["message"].as_str().unwrap_or_default();
        if message.is_empty() || !body["__type"].as_str().unwrap_or_default().contains('#') {
            problems.push("no AWS-shaped error body".to_string());
        }
    }
    if problems.is_empty() {
        None
    } else {
        let shown: String = body.to_string().chars().take(300).collect();
        Some(format!("{}: {}", problems.join("; "), shown))
    }
}

/// Sends every case, comparing the database before and after each; panics listing every
/// case that got the wrong answer or changed anything. Returns the number of cases.
async fn check_corpus(
    h: &Harness,
    before: &mut Snapshot,
    corpus: Vec<(&'static str, Vec<Case>)>,
) -> usize {
    let total: usize = corpus.iter().map(|(_, cases)| cases.len()).sum();
    let mut failures = Vec::new();
    let mut counts = BTreeMap::new();
    for (category, cases) in &corpus {
        counts.insert(*category, cases.len());
        for case in cases {
            let label = format!("[{category}] {}", case.label);
            if let Some(problem) = run(h, case).await {
                failures.push(format!("{label}: {problem}"));
            }
            let after = Snapshot::take(h.store.pool()).await;
            if after != *before {
                failures.push(format!(
                    "{label}: changed the database: {:?}",
                    before.differences(&after)
                ));
                // Judge the next case on its own.
                *before = after;
            }
        }
    }
    eprintln!("bad-input corpus: {total} cases: {counts:#?}");
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_aws_errors_and_change_nothing() {
    let h = Harness::fresh("bad_input_corpus").await;
    let fixture = Fixture::create(&h).await;
    let mut before = Snapshot::take(h.store.pool()).await;
    // The comparison means something only if the fixture is in the database.
    for table in [
        "state_machines",
        "definitions",
        "executions",
        "history_batches",
        "inbox",
        "tags",
        "activities",
    ] {
        assert!(before.rows(table) > 0, "the fixture left {table} empty");
    }

    let total = check_corpus(&h, &mut before, corpus(&fixture)).await;
    assert!(total >= 200, "the corpus has only {total} cases");

    // The server is still healthy: a valid request still works end to end.
    let machine = h.machine("after-the-corpus", &support::pass_choice()).await;
    let started = h
        .call(
            "StartExecution",
            json!({"stateMachineArn": machine, "input": "{\"fail\": false}"}),
        )
        .await
        .ok();
    let described = h
        .run_to_end(started["executionArn"].as_str().expect("an ARN"))
        .await;
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    let fixture_run = h
        .call(
            "DescribeExecution",
            json!({"executionArn": fixture.execution}),
        )
        .await
        .ok();
    assert_eq!(fixture_run["status"], "RUNNING");
    assert_eq!(fixture_run["input"], "{\"a\":1}");
}

/// Runs `requests` at once (released together by a barrier) and returns each body sent
/// with its reply, in the order given.
async fn race(
    h: &std::sync::Arc<Harness>,
    op: &str,
    requests: Vec<Value>,
) -> Vec<(Value, support::Reply)> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let mut tasks = Vec::new();
    for body in requests {
        let (h, barrier, op) = (h.clone(), barrier.clone(), op.to_string());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let reply = h.call(&op, body.clone()).await;
            (body, reply)
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("a racing request"));
    }
    out
}

/// Splits replies into the successes and the codes of the failures; no reply may be a
/// server error.
fn outcomes(replies: &[(Value, support::Reply)]) -> (Vec<&(Value, support::Reply)>, Vec<&str>) {
    for (_, reply) in replies {
        assert!(reply.status < 500, "a server error: {}", reply.body);
    }
    let won = replies.iter().filter(|(_, r)| r.status == 200).collect();
    let lost = replies
        .iter()
        .filter(|(_, r)| r.status != 200)
        .map(|(_, r)| {
            assert_eq!(r.status, 400, "{}", r.body);
            r.code()
        })
        .collect();
    (won, lost)
}

async fn count(h: &Harness, query: &str, arg: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_string()))
        .bind(arg)
        .fetch_one(h.store.pool())
        .await
        .expect("count rows")
}

async fn rows(h: &Harness, table: &str) -> i64 {
    Snapshot::take(h.store.pool()).await.rows(table)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_starts_on_one_name_make_one_execution() {
    let h = std::sync::Arc::new(Harness::fresh("bad_input_race_start").await);
    let machine = h.machine("race-machine", &waiting()).await;

    // Twenty inputs, one name: one execution starts, the others are refused.
    let requests = (0..20)
        .map(|i| json!({"stateMachineArn": machine, "name": "contested", "input": format!("{{\"i\":{i}}}")}))
        .collect();
    let replies = race(&h, "StartExecution", requests).await;
    let (won, lost) = outcomes(&replies);
    assert_eq!(won.len(), 1, "exactly one start wins: {lost:?}");
    assert_eq!(lost, vec!["ExecutionAlreadyExists"; 19]);
    let (winner, reply) = won[0];
    let arn = reply.body["executionArn"]
        .as_str()
        .expect("an ARN")
        .to_string();
    assert_eq!(
        count(
            &h,
            "select count(*) from executions where name = $1",
            "contested"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &h,
            "select count(*) from inbox where execution_arn = $1",
            &arn
        )
        .await,
        1
    );
    let described = h
        .call("DescribeExecution", json!({"executionArn": arn}))
        .await
        .ok();
    assert_eq!(
        described["input"], winner["input"],
        "the stored input is the winner's"
    );

    // Twenty identical starts are one idempotent start: the same ARN and date for all.
    let requests = (0..20)
        .map(
            |_| json!({"stateMachineArn": machine, "name": "repeated", "input": "{\"same\":true}"}),
        )
        .collect();
    let replies = race(&h, "StartExecution", requests).await;
    let (won, lost) = outcomes(&replies);
    assert!(lost.is_empty(), "{lost:?}");
    let first = &won[0].1.body;
    for (_, reply) in &won {
        assert_eq!(reply.body["executionArn"], first["executionArn"]);
        assert_eq!(reply.body["startDate"], first["startDate"]);
    }
    assert_eq!(
        count(
            &h,
            "select count(*) from executions where name = $1",
            "repeated"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_on_one_name_make_one_machine() {
    let h = std::sync::Arc::new(Harness::fresh("bad_input_race_create").await);
    let definitions_before = rows(&h, "definitions").await;

    // Twenty definitions, one name: one machine, the others refused, and no definition
    // row left behind by a loser.
    let definition = |i: i64| {
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": i, "End": true}}})
            .to_string()
    };
    let requests = (0..20)
        .map(|i| json!({"name": "contested", "definition": definition(i), "roleArn": ROLE}))
        .collect();
    let replies = race(&h, "CreateStateMachine", requests).await;
    let (won, lost) = outcomes(&replies);
    assert_eq!(won.len(), 1, "exactly one create wins: {lost:?}");
    assert_eq!(lost, vec!["StateMachineAlreadyExists"; 19]);
    let (winner, reply) = won[0];
    let arn = reply.body["stateMachineArn"]
        .as_str()
        .expect("an ARN")
        .to_string();
    assert_eq!(
        count(
            &h,
            "select count(*) from state_machines where name = $1",
            "contested"
        )
        .await,
        1
    );
    let described = h
        .call("DescribeStateMachine", json!({"stateMachineArn": arn}))
        .await
        .ok();
    assert_eq!(described["definition"], winner["definition"]);
    assert_eq!(
        rows(&h, "definitions").await,
        definitions_before + 1,
        "a losing create left its definition behind"
    );

    // The same definition twenty times, with different roles and tags: idempotent (AWS
    // ignores the role and tags of a repeat), one machine.
    let requests = (0..20)
        .map(|i| json!({"name": "repeated", "definition": definition(1), "roleArn": format!("{ROLE}-{i}"),
                        "tags": [{"key": format!("k{i}"), "value": "v"}]}))
        .collect();
    let replies = race(&h, "CreateStateMachine", requests).await;
    let (won, lost) = outcomes(&replies);
    assert!(lost.is_empty(), "{lost:?}");
    let first = &won[0].1.body;
    for (_, reply) in &won {
        assert_eq!(reply.body, *first);
    }
    let arn = first["stateMachineArn"].as_str().expect("an ARN");
    assert_eq!(
        count(
            &h,
            "select count(*) from state_machines where name = $1",
            "repeated"
        )
        .await,
        1
    );
    assert_eq!(
        count(&h, "select count(*) from tags where resource_arn = $1", arn).await,
        1,
        "only the winner's tags are kept"
    );

    // Activities: idempotent by name.
    let requests = (0..20)
        .map(|_| json!({"name": "contested-activity"}))
        .collect();
    let replies = race(&h, "CreateActivity", requests).await;
    let (won, lost) = outcomes(&replies);
    assert!(lost.is_empty(), "{lost:?}");
    for (_, reply) in &won {
        assert_eq!(reply.body, won[0].1.body);
    }
    assert_eq!(
        count(
            &h,
            "select count(*) from activities where name = $1",
            "contested-activity"
        )
        .await,
        1
    );
}

/// Callback tokens Cairn never issued: SendTaskSuccess/Failure/Heartbeat answer
/// `InvalidToken` (or a validation error) and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_task_tokens_are_invalid_and_change_nothing() {
    let h = Harness::fresh("bad_input_tokens").await;
    let fixture = Fixture::create(&h).await;
    let mut before = Snapshot::take(h.store.pool()).await;
    let garbage = [
        ("garbage", "not-a-token".to_string()),
        ("base64 of nothing", "aGVsbG8gd29ybGQ".to_string()),
        ("an execution ARN", fixture.execution.clone()),
        ("a long random token", "A".repeat(2048)),
        ("unicode", "t\u{e9}k\u{1f600}n".to_string()),
    ];
    let operations = [
        ("SendTaskSuccess", json!({"output": "{}"})),
        ("SendTaskFailure", json!({"error": "E", "cause": "C"})),
        ("SendTaskHeartbeat", json!({})),
    ];
    let mut cases = Vec::new();
    for (op, base) in &operations {
        for (label, token) in &garbage {
            cases.push(case(
                format!("{op} with {label}"),
                op,
                with(base, "taskToken", json!(token)),
                "InvalidToken",
            ));
        }
        cases.push(case(
            format!("{op} without a token"),
            op,
            base.clone(),
            "ValidationException",
        ));
        cases.push(case(
            format!("{op} with an empty token"),
            op,
            with(base, "taskToken", json!("")),
            "ValidationException",
        ));
        cases.push(case(
            format!("{op} with a token of 2049"),
            op,
            with(base, "taskToken", json!("A".repeat(2049))),
            "ValidationException",
        ));
        cases.push(case(
            format!("{op} with a numeric token"),
            op,
            with(base, "taskToken", json!(7)),
            "SerializationException",
        ));
    }
    let token = json!("not-a-token");
    cases.extend([
        case(
            "SendTaskSuccess without output",
            "SendTaskSuccess",
            json!({"taskToken": token}),
            "ValidationException",
        ),
        case(
            "SendTaskSuccess with an object output",
            "SendTaskSuccess",
            json!({"taskToken": token, "output": {}}),
            "SerializationException",
        ),
        case(
            "SendTaskSuccess with output over 256 KiB",
            "SendTaskSuccess",
            json!({"taskToken": token, "output": format!("\"{}\"", "a".repeat(256 * 1024))}),
            "ValidationException",
        ),
        case(
            "SendTaskFailure with error 257",
            "SendTaskFailure",
            json!({"taskToken": token, "error": "e".repeat(257)}),
            "ValidationException",
        ),
        case(
            "SendTaskFailure with cause 32769",
            "SendTaskFailure",
            json!({"taskToken": token, "cause": "c".repeat(32_769)}),
            "ValidationException",
        ),
    ]);
    check_corpus(&h, &mut before, vec![("task tokens", cases)]).await;
}

/// boto3 against bad input: each refusal reaches it as the modelled exception (or a
/// `ClientError` with AWS's code), and an oversized request as a readable 413 rather than
/// a connection error botocore would retry.
const BOTO3_BAD_INPUT: &str = r#"
import json, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, machine = sys.argv[1:3]
sfn = boto3.client(
    "stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id="test", aws_secret_access_key="test",
    config=Config(retries={"mode": "standard", "max_attempts": 3}),
)

def refused(expected, call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        code = e.response["Error"]["Code"]
        if code != expected:
            sys.exit(f"{call.__name__}: expected {expected}, got {code}: {e}")
        return e
    sys.exit(f"{call.__name__} was accepted")

refused("InvalidName", sfn.create_state_machine, name="a b", definition="{}", roleArn="arn:aws:iam::123456789012:role/r")
refused("InvalidDefinition", sfn.create_state_machine, name="ok", definition="{\"StartAt\": 1}", roleArn="arn:aws:iam::123456789012:role/r")
refused("InvalidArn", sfn.describe_state_machine, stateMachineArn="not-an-arn")
refused("StateMachineDoesNotExist", sfn.start_execution, stateMachineArn=machine + "-missing")
refused("InvalidExecutionInput", sfn.start_execution, stateMachineArn=machine, input="{not json")
refused("ExecutionAlreadyExists", sfn.start_execution, stateMachineArn=machine, name="fixture-run", input="{\"a\": 2}")
refused("InvalidToken", sfn.list_state_machines, nextToken="garbage")
refused("ValidationException", sfn.start_execution, stateMachineArn=machine, input=json.dumps("x" * (300 * 1024)))
try:
    sfn.describe_state_machine(stateMachineArn="not-an-arn")
except sfn.exceptions.InvalidArn:
    pass
big = refused("ValidationException", sfn.start_execution, stateMachineArn=machine, input=json.dumps("x" * (12 * 1024 * 1024)))
status = big.response["ResponseMetadata"]["HTTPStatusCode"]
if status != 413:
    sys.exit(f"an oversized request answered {status}")
print("ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_reads_every_refusal_and_nothing_changes() {
    let h = Harness::fresh("bad_input_boto3").await;
    let fixture = Fixture::create(&h).await;
    let before = Snapshot::take(h.store.pool()).await;
    // std's Command on a blocking thread: the server keeps answering meanwhile.
    let (base, machine) = (h.base.clone(), fixture.machine.clone());
    let script = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg("-c")
            .arg(BOTO3_BAD_INPUT)
            .arg(base)
            .arg(machine)
            .output()
    })
    .await
    .expect("the script's thread")
    .expect("python3 with boto3 runs");
    assert!(
        script.status.success(),
        "the boto3 script failed: {}{}",
        String::from_utf8_lossy(&script.stdout),
        String::from_utf8_lossy(&script.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&script.stdout).trim(), "ok");
    let after = Snapshot::take(h.store.pool()).await;
    assert_eq!(before, after, "{:?}", before.differences(&after));
}

/// Requests to a server that requires SigV4, each signed wrongly (or not at all) on an
/// operation that would change something: every one refused with AWS's error for it,
/// and the database exactly as it was. The fixture is made with good signatures.
fn bad_signatures(f: &Fixture, base: &str) -> Vec<Case> {
    const GOOD: (&str, &str) = ("GOODKEY", "good-secret-0123456789");
    let now = std::time::SystemTime::now();
    let minutes = |m: u64| std::time::Duration::from_secs(m * 60);
    let operations = [
        (
            "StartExecution",
            json!({"stateMachineArn": f.machine, "name": "never-started"}),
        ),
        (
            "CreateStateMachine",
            json!({"name": "never-created", "definition": pass(), "roleArn": ROLE}),
        ),
        ("DeleteStateMachine", json!({"stateMachineArn": f.machine})),
        ("StopExecution", json!({"executionArn": f.execution})),
        ("DeleteActivity", json!({"activityArn": f.activity})),
        (
            "UntagResource",
            json!({"resourceArn": f.machine, "tagKeys": ["team"]}),
        ),
        (
            "DeleteStateMachineAlias",
            json!({"stateMachineAliasArn": f.alias}),
        ),
        (
            "SendTaskFailure",
            json!({"taskToken": "a".repeat(40), "error": "E"}),
        ),
    ];
    let mut cases = Vec::new();
    for (op, body) in operations {
        let target = format!("AWSStepFunctions.{op}");
        let body = body.to_string().into_bytes();
        let signed = |key: (&str, &str),
                      service: &str,
                      time,
                      signed_target: &str,
                      signed_body: &[u8]| {
            let mut headers = vec![
                ("content-type", b"application/x-amz-json-1.0".to_vec()),
                ("x-amz-target", target.clone().into_bytes()),
            ];
            for (name, value) in
                support::sigv4_headers(base, None, signed_target, signed_body, key, service, time)
            {
                let name: &'static str = match name.as_str() {
                    "authorization" => "authorization",
                    "x-amz-date" => "x-amz-date",
                    other => panic!("an unexpected signing header {other}"),
                };
                headers.push((name, value.into_bytes()));
            }
            headers
        };
        let good = signed(GOOD, "states", now, &target, &body);
        let with = |mut headers: Vec<(&'static str, Vec<u8>)>, name: &'static str, value: &[u8]| {
            headers.retain(|(n, _)| *n != name);
            headers.push((name, value.to_vec()));
            headers
        };
        let authorization = good
            .iter()
            .find(|(n, _)| *n == "authorization")
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let raw = |label: &str, headers: Vec<(&'static str, Vec<u8>)>, status: u16, code| Case {
            label: format!("{op}: {label}"),
            transport: Transport::Raw(headers),
            body: body.clone(),
            status,
            code,
        };
        let invalid = "InvalidSignatureException";
        let incomplete = "IncompleteSignatureException";
        let mut unsigned = good.clone();
        unsigned.retain(|(n, _)| *n == "content-type" || *n == "x-amz-target");
        cases.extend([
            raw("no signature", unsigned, 403, "MissingAuthenticationTokenException"),
            raw(
                "an unknown key",
                signed(("NOSUCHKEY", "x"), "states", now, &target, &body),
                400,
                "UnrecognizedClientException",
            ),
            raw(
                "a session token",
                with(good.clone(), "x-amz-security-token", b"token"),
                400,
                "UnrecognizedClientException",
            ),
            raw(
                "the wrong secret",
                signed((GOOD.0, "wrong-secret"), "states", now, &target, &body),
                400,
                invalid,
            ),
            raw(
                "signed 6 minutes ago",
                signed(GOOD, "states", now - minutes(6), &target, &body),
                400,
                invalid,
            ),
            raw(
                "signed 6 minutes ahead",
                signed(GOOD, "states", now + minutes(6), &target, &body),
                400,
                invalid,
            ),
            raw(
                "signed for another body",
                signed(GOOD, "states", now, &target, b"{}"),
                400,
                invalid,
            ),
            raw(
                "signed for another operation",
                signed(GOOD, "states", now, "AWSStepFunctions.ListStateMachines", &body),
                400,
                invalid,
            ),
            raw(
                "scoped to another service",
                signed(GOOD, "events", now, &target, &body),
                400,
                invalid,
            ),
            raw(
                "a signature of the wrong length",
                with(good.clone(), "authorization", authorization.replacen("Signature=", "Signature=0", 1).as_bytes()),
                400,
                incomplete,
            ),
            raw(
                "another algorithm",
                with(good.clone(), "authorization", authorization.replacen("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1).as_bytes()),
                400,
                incomplete,
            ),
            raw(
                "no SignedHeaders",
                with(good.clone(), "authorization", b"AWS4-HMAC-SHA256 Credential=GOODKEY/20261207/us-east-1/states/aws4_request, Signature=00"),
                400,
                incomplete,
            ),
            raw(
                "a bearer token",
                with(good.clone(), "authorization", b"Bearer abc"),
                400,
                incomplete,
            ),
            raw(
                "non-ASCII authorization",
                with(good.clone(), "authorization", b"AWS4-HMAC-SHA256 \xe9\xff"),
                400,
                incomplete,
            ),
            raw(
                "no X-Amz-Date",
                good.iter().filter(|(n, _)| *n != "x-amz-date").cloned().collect(),
                400,
                incomplete,
            ),
            raw(
                "a malformed X-Amz-Date",
                with(good.clone(), "x-amz-date", b"2026-12-07T00:00:00Z"),
                400,
                incomplete,
            ),
            raw(
                "a read-only key",
                signed(("READER", "reader-secret-0123456789"), "states", now, &target, &body),
                400,
                "AccessDeniedException",
            ),
        ]);
    }
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_refused_and_change_nothing() {
    use cairn_api::auth::keys::{Keys, KeysConfig, Source};
    let keys = Keys::load(KeysConfig {
        credentials: Source::Inline(
            "GOODKEY:good-secret-0123456789,READER:reader-secret-0123456789".to_string(),
        ),
        policies: Some(Source::Inline(r#"{"READER": "read-only"}"#.to_string())),
    })
    .expect("keys");
    let h = Harness::fresh_signed(
        "bad_input_signatures",
        cairn_api::auth::Auth::with_keys(keys),
        ("GOODKEY", "good-secret-0123456789"),
    )
    .await;
    let fixture = Fixture::create(&h).await;
    let mut before = Snapshot::take(h.store.pool()).await;
    let cases = bad_signatures(&fixture, &h.base);
    let total = check_corpus(&h, &mut before, vec![("signatures", cases)]).await;
    assert!(total >= 100, "only {total} signature cases");
    // A good signature still works, and sees the fixture untouched.
    let described = h
        .call(
            "DescribeExecution",
            json!({"executionArn": fixture.execution}),
        )
        .await
        .ok();
    assert_eq!(described["status"], "RUNNING");
}
