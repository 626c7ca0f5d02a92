//! The Step Functions API end to end: real HTTP on loopback, real Postgres, the
//! scheduler ticked by hand to run executions.

mod support;

use serde_json::{json, Value};
use support::{pass_choice, unique, waiting, Harness, NS, ROLE};

fn text(value: &Value) -> &str {
    value.as_str().expect("a string")
}

#[tokio::test]
async fn state_machine_lifecycle() {
    let h = Harness::start().await;
    let name = unique("lifecycle");
    let definition = pass_choice().to_string();
    let created = h
        .call(
            "CreateStateMachine",
            json!({"name": name, "definition": definition, "roleArn": ROLE,
                   "tags": [{"key": "team", "value": "core"}]}),
        )
        .await;
    assert_eq!(created.content_type, "application/x-amz-json-1.0");
    assert!(created.request_id.is_some());
    let created = created.ok();
    let arn = text(&created["stateMachineArn"]).to_string();
    assert_eq!(
        arn,
        format!("arn:aws:states:us-east-1:123456789012:stateMachine:{name}")
    );
    assert!(created["creationDate"].is_f64(), "{created}");

    // The same call again is idempotent, even with another role and tags (AWS's rule).
    let again = h
        .call(
            "CreateStateMachine",
            json!({"name": name, "definition": definition,
                   "roleArn": "arn:aws:iam::123456789012:role/other"}),
        )
        .await
        .ok();
    assert_eq!(again, created);
    // Another definition under the same name is refused.
    let other = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    h.call(
        "CreateStateMachine",
        json!({"name": name, "definition": other.to_string(), "roleArn": ROLE}),
    )
    .await
    .err("StateMachineAlreadyExists");
    // So is another type.
    h.call(
        "CreateStateMachine",
        json!({"name": name, "definition": definition, "roleArn": ROLE, "type": "EXPRESS"}),
    )
    .await
    .err("StateMachineAlreadyExists");

    let described = h
        .call("DescribeStateMachine", json!({"stateMachineArn": arn}))
        .await
        .ok();
    assert_eq!(described["name"], name.as_str());
    assert_eq!(described["status"], "ACTIVE");
    assert_eq!(described["type"], "STANDARD");
    assert_eq!(described["roleArn"], ROLE);
    assert_eq!(described["definition"], definition.as_str());
    assert_eq!(described["creationDate"], created["creationDate"]);
    assert_eq!(
        described["loggingConfiguration"],
        json!({"level": "OFF", "includeExecutionData": false})
    );
    assert_eq!(described["tracingConfiguration"], json!({"enabled": false}));
    let metadata = h
        .call(
            "DescribeStateMachine",
            json!({"stateMachineArn": arn, "includedData": "METADATA_ONLY"}),
        )
        .await
        .ok();
    assert_eq!(metadata["definition"], "{}");

    let updated = h
        .call(
            "UpdateStateMachine",
            json!({"stateMachineArn": arn, "definition": other.to_string(),
                   "roleArn": "arn:aws:iam::123456789012:role/new",
                   "tracingConfiguration": {"enabled": true}}),
        )
        .await
        .ok();
    assert!(updated["updateDate"].is_f64());
    let revision = text(&updated["revisionId"]).to_string();
    let described = h
        .call("DescribeStateMachine", json!({"stateMachineArn": arn}))
        .await
        .ok();
    assert_eq!(described["definition"], other.to_string().as_str());
    assert_eq!(described["roleArn"], "arn:aws:iam::123456789012:role/new");
    assert_eq!(described["tracingConfiguration"], json!({"enabled": true}));
    assert_eq!(described["revisionId"], revision.as_str());

    h.call("DeleteStateMachine", json!({"stateMachineArn": arn}))
        .await
        .ok();
    h.call("DescribeStateMachine", json!({"stateMachineArn": arn}))
        .await
        .err("StateMachineDoesNotExist");
    // Deleting again is not an error, as on AWS.
    h.call("DeleteStateMachine", json!({"stateMachineArn": arn}))
        .await
        .ok();
}

#[tokio::test]
async fn update_state_machine_errors() {
    let h = Harness::start().await;
    let arn = h.machine(&unique("upd"), &pass_choice()).await;
    h.call("UpdateStateMachine", json!({"stateMachineArn": arn}))
        .await
        .err("MissingRequiredParameter");
    h.call(
        "UpdateStateMachine",
        json!({"stateMachineArn": arn, "definition": "{\"StartAt\": \"Nope\", \"States\": {}}"}),
    )
    .await
    .err("InvalidDefinition");
    let reply = h
        .call(
            "UpdateStateMachine",
            json!({"stateMachineArn": arn, "roleArn": ROLE, "versionDescription": "v"}),
        )
        .await;
    reply.err("ValidationException");
    assert!(
        reply.message().contains("only be set when publish is true"),
        "{}",
        reply.body
    );
    h.call(
        "UpdateStateMachine",
        json!({"stateMachineArn": format!("{arn}:1"), "roleArn": ROLE}),
    )
    .await
    .err("StateMachineDoesNotExist");
    let missing = arn.replace("stateMachine:", "stateMachine:missing-");
    h.call(
        "UpdateStateMachine",
        json!({"stateMachineArn": missing, "roleArn": ROLE}),
    )
    .await
    .err("StateMachineDoesNotExist");
}

#[tokio::test]
async fn invalid_definition_uses_aws_message() {
    let h = Harness::start().await;
    let definition = json!({
        "StartAt": "pass1",
        "States": {
            "pass1": {"Type": "Pass", "Next": "pass3"},
            "pass2": {"Type": "Pass", "End": true}
        }
    });
    let reply = h
        .call(
            "CreateStateMachine",
            json!({"name": unique("bad"), "definition": definition.to_string(), "roleArn": ROLE}),
        )
        .await;
    reply.err("InvalidDefinition");
    assert_eq!(reply.body["__type"], format!("{NS}#InvalidDefinition"));
    assert!(
        reply
            .message()
            .starts_with("Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: "),
        "{}",
        reply.body
    );
    assert!(
        reply.message().contains("at /States/pass1/Next"),
        "{}",
        reply.body
    );

    let reply = h
        .call(
            "CreateStateMachine",
            json!({"name": unique("bad"), "definition": "not json", "roleArn": ROLE}),
        )
        .await;
    reply.err("InvalidDefinition");
    assert!(
        reply.message().contains("INVALID_JSON_DESCRIPTION"),
        "{}",
        reply.body
    );
}

/// An INLINE Map's `ItemReader` (and `ItemBatcher`, `ResultWriter`) would not run (only a
/// Distributed Map runs them): a new definition with one is refused, never accepted and
/// run differently from AWS.
#[tokio::test]
async fn distributed_map_parts_not_run_yet_are_refused() {
    let h = Harness::start().await;
    let map = |extra: Value| {
        let mut state = json!({"Type": "Map", "End": true,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"},
                              "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}});
        for (k, v) in extra.as_object().expect("an object") {
            state[k] = v.clone();
        }
        json!({"StartAt": "M", "States": {"M": state}}).to_string()
    };
    let reader = map(
        json!({"ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
        "Parameters": {"Bucket": "b", "Key": "rows.csv"}}}),
    );
    let name = unique("dmap");
    let reply = h
        .call(
            "CreateStateMachine",
            json!({"name": name, "definition": reader, "roleArn": ROLE}),
        )
        .await;
    reply.err("InvalidDefinition");
    assert!(
        reply
            .message()
            .contains("SCHEMA_VALIDATION_FAILED: Cairn does not support a Map's 'ItemReader' yet")
            && reply.message().contains("at /States/M/ItemReader"),
        "{}",
        reply.body
    );
    h.call("ListStateMachines", json!({})).await.ok()["stateMachines"]
        .as_array()
        .expect("a list")
        .iter()
        .for_each(|m| assert_ne!(m["name"], name.as_str(), "nothing stored"));

    // The same Map over its input is accepted; updating it to read S3 is refused.
    let created = h
        .call(
            "CreateStateMachine",
            json!({"name": name, "definition": map(json!({"MaxConcurrency": 2})), "roleArn": ROLE}),
        )
        .await
        .ok();
    let writer = map(
        json!({"ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "b", "Prefix": "out"}}}),
    );
    let reply = h
        .call(
            "UpdateStateMachine",
            json!({"stateMachineArn": created["stateMachineArn"], "definition": writer}),
        )
        .await;
    reply.err("InvalidDefinition");
    assert!(reply.message().contains("'ResultWriter'"), "{}", reply.body);

    let batcher = map(json!({"ItemBatcher": {"MaxItemsPerBatch": 10}}));
    let validated = h
        .call(
            "ValidateStateMachineDefinition",
            json!({"definition": batcher}),
        )
        .await
        .ok();
    assert_eq!(validated["result"], "FAIL", "{validated}");
    assert_eq!(
        validated["diagnostics"][0]["location"], "/States/M/ItemBatcher",
        "{validated}"
    );
}

#[tokio::test]
async fn validate_state_machine_definition() {
    let h = Harness::start().await;
    let ok = h
        .call(
            "ValidateStateMachineDefinition",
            json!({"definition": pass_choice().to_string()}),
        )
        .await
        .ok();
    assert_eq!(
        ok,
        json!({"result": "OK", "diagnostics": [], "truncated": false})
    );

    let bad = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}});
    let failed = h
        .call(
            "ValidateStateMachineDefinition",
            json!({"definition": bad.to_string(), "type": "STANDARD"}),
        )
        .await
        .ok();
    assert_eq!(failed["result"], "FAIL");
    let diagnostics = failed["diagnostics"].as_array().expect("diagnostics");
    assert!(!diagnostics.is_empty());
    for d in diagnostics {
        assert_eq!(d["severity"], "ERROR");
        assert!(d["code"].is_string() && d["message"].is_string(), "{d}");
    }
    assert!(diagnostics
        .iter()
        .any(|d| d["code"] == "MISSING_TRANSITION_TARGET" && d["location"] == "/States/A/Next"));

    // Express machines refuse .sync integrations.
    let sync = json!({"StartAt": "T", "States": {"T": {"Type": "Task",
        "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": true}}});
    let express = h
        .call(
            "ValidateStateMachineDefinition",
            json!({"definition": sync.to_string(), "type": "EXPRESS"}),
        )
        .await
        .ok();
    assert_eq!(express["result"], "FAIL");

    let truncated = h
        .call(
            "ValidateStateMachineDefinition",
            json!({"definition": "{\"StartAt\": 1, \"States\": 2, \"Extra\": 3}", "maxResults": 1}),
        )
        .await
        .ok();
    assert_eq!(truncated["result"], "FAIL");
    assert_eq!(truncated["diagnostics"].as_array().map(Vec::len), Some(1));

    h.call("ValidateStateMachineDefinition", json!({}))
        .await
        .err("ValidationException");
    h.call(
        "ValidateStateMachineDefinition",
        json!({"definition": "{}", "severity": "LOUD"}),
    )
    .await
    .err("ValidationException");
}

#[tokio::test]
async fn list_state_machines_pages() {
    let h = Harness::start().await;
    let prefix = unique("page");
    let mut arns = Vec::new();
    for i in 0..5 {
        arns.push(h.machine(&format!("{prefix}-{i}"), &pass_choice()).await);
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = json!({"maxResults": 2});
        if let Some(t) = &token {
            request["nextToken"] = json!(t);
        }
        let page = h.call("ListStateMachines", request).await.ok();
        pages += 1;
        let items = page["stateMachines"].as_array().expect("stateMachines");
        assert!(items.len() <= 2);
        for item in items {
            assert!(item["creationDate"].is_f64());
            assert!(item["type"] == "STANDARD" || item["type"] == "EXPRESS");
            seen.push(text(&item["stateMachineArn"]).to_string());
        }
        match page.get("nextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
        assert!(pages < 10_000);
    }
    for arn in &arns {
        assert_eq!(seen.iter().filter(|s| *s == arn).count(), 1, "{arn}");
    }
    h.call("ListStateMachines", json!({"nextToken": "garbage!"}))
        .await
        .err("InvalidToken");
    h.call("ListStateMachines", json!({"maxResults": 1001}))
        .await
        .err("ValidationException");
}

#[tokio::test]
async fn execution_runs_to_completion_with_history() {
    let h = Harness::start().await;
    let machine = h.machine(&unique("run"), &pass_choice()).await;
    let started = h
        .call(
            "StartExecution",
            json!({"stateMachineArn": machine, "name": "first", "input": "{\"fail\": false, \"n\": 1}"}),
        )
        .await
        .ok();
    let arn = text(&started["executionArn"]).to_string();
    assert_eq!(
        arn,
        format!("{}:first", machine.replace(":stateMachine:", ":execution:"))
    );
    assert!(started["startDate"].is_f64());

    let described = h.run_to_end(&arn).await;
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert_eq!(described["stateMachineArn"], machine.as_str());
    assert_eq!(described["name"], "first");
    assert_eq!(described["input"], "{\"fail\": false, \"n\": 1}");
    assert_eq!(described["inputDetails"], json!({"included": true}));
    let output: Value = serde_json::from_str(text(&described["output"])).expect("output json");
    assert_eq!(output, json!({"fail": false, "n": 1, "greeting": "hello"}));
    assert_eq!(described["outputDetails"], json!({"included": true}));
    assert_eq!(described["startDate"], started["startDate"]);
    assert!(described["stopDate"].as_f64() >= described["startDate"].as_f64());
    assert_eq!(described["redriveCount"], 0);

    // The whole history, in order.
    let history = h
        .call("GetExecutionHistory", json!({"executionArn": arn}))
        .await
        .ok();
    assert!(history.get("nextToken").is_none());
    let events = history["events"].as_array().expect("events").clone();
    let types: Vec<&str> = events.iter().map(|e| text(&e["type"])).collect();
    assert_eq!(types.first(), Some(&"ExecutionStarted"));
    assert_eq!(types.last(), Some(&"ExecutionSucceeded"));
    assert!(types.contains(&"PassStateEntered") && types.contains(&"ChoiceStateExited"));
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["id"], json!(i as u64 + 1));
        assert!(event["timestamp"].is_f64());
        assert!(event.get("previousEventId").is_some(), "{event}");
    }
    assert_eq!(events[0]["previousEventId"], 0);
    let started_details = &events[0]["executionStartedEventDetails"];
    assert_eq!(started_details["input"], "{\"fail\":false,\"n\":1}");
    assert_eq!(started_details["roleArn"], ROLE);
    let entered = &events[1]["stateEnteredEventDetails"];
    assert_eq!(entered["name"], "Greet");
    let last = events.last().expect("last");
    assert!(last["executionSucceededEventDetails"]["output"].is_string());

    // Reverse order.
    let reversed = h
        .call(
            "GetExecutionHistory",
            json!({"executionArn": arn, "reverseOrder": true}),
        )
        .await
        .ok();
    let mut back = reversed["events"].as_array().expect("events").clone();
    back.reverse();
    assert_eq!(back, events);

    // Pages of two, both ways.
    for reverse in [false, true] {
        let mut collected = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request =
                json!({"executionArn": arn, "maxResults": 2, "reverseOrder": reverse});
            if let Some(t) = &token {
                request["nextToken"] = json!(t);
            }
            let page = h.call("GetExecutionHistory", request).await.ok();
            let items = page["events"].as_array().expect("events");
            assert!(items.len() <= 2);
            collected.extend(items.iter().cloned());
            match page.get("nextToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        if reverse {
            collected.reverse();
        }
        assert_eq!(collected, events, "reverse: {reverse}");
    }

    // A token of one direction is refused in the other.
    let page = h
        .call(
            "GetExecutionHistory",
            json!({"executionArn": arn, "maxResults": 1}),
        )
        .await
        .ok();
    let token = text(&page["nextToken"]).to_string();
    h.call(
        "GetExecutionHistory",
        json!({"executionArn": arn, "maxResults": 1, "reverseOrder": true, "nextToken": token}),
    )
    .await
    .err("InvalidToken");

    // Without execution data.
    let bare = h
        .call(
            "GetExecutionHistory",
            json!({"executionArn": arn, "includeExecutionData": false}),
        )
        .await
        .ok();
    for event in bare["events"].as_array().expect("events") {
        for (key, value) in event.as_object().expect("event") {
            if key.ends_with("EventDetails") {
                assert!(
                    value.get("input").is_none() && value.get("output").is_none(),
                    "{event}"
                );
            }
        }
    }
    assert_eq!(
        bare["events"][1]["stateEnteredEventDetails"],
        json!({"name": "Greet"})
    );

    // The machine the execution ran.
    let for_execution = h
        .call(
            "DescribeStateMachineForExecution",
            json!({"executionArn": arn}),
        )
        .await
        .ok();
    assert_eq!(for_execution["stateMachineArn"], machine.as_str());
    assert_eq!(
        for_execution["definition"],
        pass_choice().to_string().as_str()
    );
    assert_eq!(for_execution["roleArn"], ROLE);
    assert!(for_execution["updateDate"].is_f64());
}

#[tokio::test]
async fn failed_execution_reports_error_and_cause() {
    let h = Harness::start().await;
    let machine = h.machine(&unique("fail"), &pass_choice()).await;
    let started = h
        .call(
            "StartExecution",
            json!({"stateMachineArn": machine, "input": "{\"fail\": true}"}),
        )
        .await
        .ok();
    let arn = text(&started["executionArn"]).to_string();
    // The name defaults to a UUID.
    let name = arn.rsplit(':').next().expect("name");
    assert!(uuid::Uuid::parse_str(name).is_ok(), "{name}");
    let described = h.run_to_end(&arn).await;
    assert_eq!(described["status"], "FAILED");
    assert_eq!(described["error"], "Custom.Broken");
    assert_eq!(described["cause"], "asked to fail");
    assert!(described.get("output").is_none());
    let history = h
        .call(
            "GetExecutionHistory",
            json!({"executionArn": arn, "reverseOrder": true, "maxResults": 1}),
        )
        .await
        .ok();
    let last = &history["events"][0];
    assert_eq!(last["type"], "ExecutionFailed");
    assert_eq!(
        last["executionFailedEventDetails"],
        json!({"error": "Custom.Broken", "cause": "asked to fail"})
    );
}

#[tokio::test]
async fn start_execution_idempotency_and_input() {
    let h = Harness::start().await;
    let machine = h.machine(&unique("idem"), &waiting()).await;
    let request = json!({"stateMachineArn": machine, "name": "once", "input": "{\"a\": 1}"});
    let first = h.call("StartExecution", request.clone()).await.ok();
    // The same name and input while it runs: the same answer.
    let second = h.call("StartExecution", request).await.ok();
    assert_eq!(first, second);
    // Another input: ExecutionAlreadyExists.
    let reply = h
        .call(
            "StartExecution",
            json!({"stateMachineArn": machine, "name": "once", "input": "{\"a\": 2}"}),
        )
        .await;
    reply.err("ExecutionAlreadyExists");
    assert_eq!(
        reply.message(),
        format!(
            "Execution Already Exists: '{}'",
            text(&first["executionArn"])
        )
    );

    let reply = h
        .call(
            "StartExecution",
            json!({"stateMachineArn": machine, "input": "{not json"}),
        )
        .await;
    reply.err("InvalidExecutionInput");
    assert!(reply
        .message()
        .starts_with("Invalid State Machine Execution Input: '"));

    let big = format!("\"{}\"", "x".repeat(256 * 1024));
    h.call(
        "StartExecution",
        json!({"stateMachineArn": machine, "input": big}),
    )
    .await
    .err("ValidationException");

    // Input is optional and defaults to {}.
    let started = h
        .call("StartExecution", json!({"stateMachineArn": machine}))
        .await
        .ok();
    let described = h
        .call(
            "DescribeExecution",
            json!({"executionArn": started["executionArn"]}),
        )
        .await
        .ok();
    assert_eq!(described["input"], "{}");
    assert_eq!(described["status"], "RUNNING");
    assert!(described.get("stopDate").is_none());
    assert_eq!(
        described["redriveStatusReason"],
        "Execution is RUNNING and cannot be redriven"
    );
}

#[tokio::test]
async fn stop_execution_aborts() {
    let h = Harness::start().await;
    let machine = h.machine(&unique("stop"), &waiting()).await;
    let started = h
        .call("StartExecution", json!({"stateMachineArn": machine}))
        .await
        .ok();
    let arn = text(&started["executionArn"]).to_string();
    h.scheduler.tick().await.expect("tick");
    let stopped = h
        .call(
            "StopExecution",
            json!({"executionArn": arn, "error": "Operator.Stop", "cause": "testing"}),
        )
        .await
        .ok();
    assert!(stopped["stopDate"].is_f64());
    let described = h.run_to_end(&arn).await;
    assert_eq!(described["status"], "ABORTED");
    let history = h
        .call(
            "GetExecutionHistory",
            json!({"executionArn": arn, "reverseOrder": true, "maxResults": 1}),
        )
        .await
        .ok();
    assert_eq!(history["events"][0]["type"], "ExecutionAborted");
    // Stopping a stopped execution answers its stop date.
    let again = h
        .call("StopExecution", json!({"executionArn": arn}))
        .await
        .ok();
    assert_eq!(again["stopDate"], described["stopDate"]);
    h.call(
        "StopExecution",
        json!({"executionArn": arn, "error": "e".repeat(257)}),
    )
    .await
    .err("ValidationException");
}

#[tokio::test]
async fn list_executions_newest_first_with_filter_and_pages() {
    let h = Harness::start().await;
    let machine = h.machine(&unique("list"), &pass_choice()).await;
    let mut arns = Vec::new();
    for i in 0..5 {
        let input = if i == 2 {
            "{\"fail\": true}"
        } else {
            "{\"fail\": false}"
        };
        let started = h
            .call(
                "StartExecution",
                json!({"stateMachineArn": machine, "name": format!("e{i}"), "input": input}),
            )
            .await
            .ok();
        arns.push(text(&started["executionArn"]).to_string());
    }
    for arn in &arns {
        h.run_to_end(arn).await;
    }
    let all = h
        .call("ListExecutions", json!({"stateMachineArn": machine}))
        .await
        .ok();
    let listed: Vec<String> = all["executions"]
        .as_array()
        .expect("executions")
        .iter()
        .map(|e| text(&e["executionArn"]).to_string())
        .collect();
    let mut newest_first = arns.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    let item = &all["executions"][0];
    assert_eq!(item["stateMachineArn"], machine.as_str());
    assert_eq!(item["name"], "e4");
    assert_eq!(item["status"], "SUCCEEDED");
    assert!(item["startDate"].is_f64() && item["stopDate"].is_f64());

    let failed = h
        .call(
            "ListExecutions",
            json!({"stateMachineArn": machine, "statusFilter": "FAILED"}),
        )
        .await
        .ok();
    assert_eq!(failed["executions"].as_array().map(Vec::len), Some(1));
    assert_eq!(failed["executions"][0]["name"], "e2");

    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request = json!({"stateMachineArn": machine, "maxResults": 2});
        if let Some(t) = &token {
            request["nextToken"] = json!(t);
        }
        let page = h.call("ListExecutions", request).await.ok();
        for e in page["executions"].as_array().expect("executions") {
            paged.push(text(&e["executionArn"]).to_string());
        }
        match page.get("nextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, newest_first);

    h.call("ListExecutions", json!({}))
        .await
        .err("ValidationException");
    h.call(
        "ListExecutions",
        json!({"stateMachineArn": machine, "statusFilter": "DONE"}),
    )
    .await
    .err("ValidationException");
    let missing = machine.replace("stateMachine:", "stateMachine:gone-");
    h.call("ListExecutions", json!({"stateMachineArn": missing}))
        .await
        .err("StateMachineDoesNotExist");
}

#[tokio::test]
async fn missing_resources() {
    let h = Harness::start().await;
    let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:does-not-exist";
    let execution = "arn:aws:states:us-east-1:123456789012:execution:does-not-exist:x";
    let reply = h
        .call("DescribeExecution", json!({"executionArn": execution}))
        .await;
    reply.err("ExecutionDoesNotExist");
    assert_eq!(reply.body["__type"], format!("{NS}#ExecutionDoesNotExist"));
    assert_eq!(
        reply.message(),
        format!("Execution Does Not Exist: '{execution}'")
    );
    for op in [
        "GetExecutionHistory",
        "StopExecution",
        "DescribeStateMachineForExecution",
    ] {
        h.call(op, json!({"executionArn": execution}))
            .await
            .err("ExecutionDoesNotExist");
    }
    let reply = h
        .call("DescribeStateMachine", json!({"stateMachineArn": machine}))
        .await;
    reply.err("StateMachineDoesNotExist");
    assert_eq!(
        reply.message(),
        format!("State Machine Does Not Exist: '{machine}'")
    );
    h.call("StartExecution", json!({"stateMachineArn": machine}))
        .await
        .err("StateMachineDoesNotExist");
    h.call(
        "DescribeActivity",
        json!({"activityArn": "arn:aws:states:us-east-1:123456789012:activity:nope"}),
    )
    .await
    .err("ActivityDoesNotExist");
    h.call("ListTagsForResource", json!({"resourceArn": machine}))
        .await
        .err("ResourceNotFound");
}

#[tokio::test]
async fn names_arns_and_members_are_validated() {
    let h = Harness::start().await;
    let definition = pass_choice().to_string();
    let reply = h
        .call(
            "CreateStateMachine",
            json!({"name": "has space", "definition": definition, "roleArn": ROLE}),
        )
        .await;
    reply.err("InvalidName");
    assert_eq!(reply.message(), "Invalid Name: 'has space'");
    for bad in ["a/b", "a:b", "a*b", "a{b", "a\u{1}b"] {
        h.call(
            "CreateStateMachine",
            json!({"name": bad, "definition": definition, "roleArn": ROLE}),
        )
        .await
        .err("InvalidName");
    }
    let reply = h
        .call(
            "CreateStateMachine",
            json!({"name": "n".repeat(81), "definition": definition, "roleArn": ROLE}),
        )
        .await;
    reply.err("ValidationException");
    assert!(reply.message().contains("at 'name'"), "{}", reply.body);
    assert!(reply
        .message()
        .contains("Member must have length less than or equal to 80"));
    let reply = h
        .call(
            "CreateStateMachine",
            json!({"name": "", "definition": definition, "roleArn": ROLE}),
        )
        .await;
    reply.err("ValidationException");
    let reply = h
        .call(
            "CreateStateMachine",
            json!({"name": unique("x"), "roleArn": ROLE}),
        )
        .await;
    reply.err("ValidationException");
    assert!(reply.message().contains("'definition'"), "{}", reply.body);
    assert!(reply.message().contains("Member must not be null"));
    h.call(
        "CreateStateMachine",
        json!({"name": unique("x"), "definition": definition, "roleArn": "role"}),
    )
    .await
    .err("InvalidArn");
    h.call(
        "CreateStateMachine",
        json!({"name": unique("x"), "definition": definition, "roleArn": ROLE, "type": "FAST"}),
    )
    .await
    .err("ValidationException");
    h.call(
        "CreateStateMachine",
        json!({"name": 42, "definition": definition, "roleArn": ROLE}),
    )
    .await
    .err("SerializationException");

    let reply = h
        .call("DescribeStateMachine", json!({"stateMachineArn": "nope"}))
        .await;
    reply.err("InvalidArn");
    assert_eq!(reply.message(), "Invalid Arn: 'Invalid ARN prefix: nope'");
    let execution = "arn:aws:states:us-east-1:123456789012:execution:m:e";
    let reply = h
        .call(
            "DescribeStateMachine",
            json!({"stateMachineArn": execution}),
        )
        .await;
    reply.err("InvalidArn");
    assert_eq!(
        reply.message(),
        "Invalid Arn: 'Resource type not valid in this context: execution'"
    );
    let long = format!(
        "arn:aws:states:us-east-1:123456789012:stateMachine:{}",
        "m".repeat(250)
    );
    h.call("DescribeStateMachine", json!({"stateMachineArn": long}))
        .await
        .err("ValidationException");
    let machine = h.machine(&unique("names"), &waiting()).await;
    h.call(
        "StartExecution",
        json!({"stateMachineArn": machine, "name": "bad name"}),
    )
    .await
    .err("InvalidName");
    h.call(
        "StartExecution",
        json!({"stateMachineArn": format!("{machine}:1")}),
    )
    .await
    .err("StateMachineDoesNotExist");
    h.call(
        "StartExecution",
        json!({"stateMachineArn": format!("{machine}:bad;alias")}),
    )
    .await
    .err("InvalidArn");
    h.call("CreateActivity", json!({"name": "bad;name"}))
        .await
        .err("InvalidName");
}

#[tokio::test]
async fn protocol_errors() {
    let h = Harness::start().await;
    let reply = h.call("NoSuchOperation", json!({})).await;
    reply.err("UnknownOperationException");
    assert!(reply.message().contains("NoSuchOperation"));

    for operation in cairn_api::UNSUPPORTED {
        let reply = h.call(operation, json!({})).await;
        reply.err("UnknownOperationException");
        assert!(reply.message().contains(operation), "{}", reply.body);
        assert!(reply.message().contains("Cairn does not support"));
    }

    let reply = h.send("SomethingElse", b"{}".to_vec(), None).await;
    reply.err("UnknownOperationException");

    let reply = h
        .send(
            "AWSStepFunctions.ListStateMachines",
            b"{not json".to_vec(),
            None,
        )
        .await;
    reply.err("SerializationException");
    let reply = h
        .send(
            "AWSStepFunctions.ListStateMachines",
            b"[1, 2]".to_vec(),
            None,
        )
        .await;
    reply.err("SerializationException");
    // An empty body is an empty request.
    let reply = h
        .send("AWSStepFunctions.ListStateMachines", Vec::new(), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    // Over 1 MiB: refused with an AWS-shaped error.
    let big = json!({"definition": "x".repeat(1024 * 1024 + 10)}).to_string();
    let reply = h
        .send(
            "AWSStepFunctions.ValidateStateMachineDefinition",
            big.into_bytes(),
            None,
        )
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.code(), "ValidationException");
    assert_eq!(reply.content_type, "application/x-amz-json-1.0");

    // The sync- host prefix reaches the same API.
    let reply = h
        .send(
            "AWSStepFunctions.StartSyncExecution",
            b"{}".to_vec(),
            Some("sync-states.us-east-1.amazonaws.com"),
        )
        .await;
    // Routed to StartSyncExecution, which finds its required member missing.
    reply.err("ValidationException");
    assert!(
        reply.message().contains("stateMachineArn"),
        "{}",
        reply.body
    );
    let reply = h
        .send(
            "AWSStepFunctions.ListActivities",
            b"{}".to_vec(),
            Some("sync-states.us-east-1.amazonaws.com"),
        )
        .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn activities_lifecycle() {
    let h = Harness::start().await;
    let name = unique("act");
    let created = h
        .call(
            "CreateActivity",
            json!({"name": name, "tags": [{"key": "k", "value": "v"}]}),
        )
        .await
        .ok();
    let arn = text(&created["activityArn"]).to_string();
    assert_eq!(
        arn,
        format!("arn:aws:states:us-east-1:123456789012:activity:{name}")
    );
    assert!(created["creationDate"].is_f64());
    // Idempotent by name; the second call's tags are ignored.
    let again = h
        .call(
            "CreateActivity",
            json!({"name": name, "tags": [{"key": "other", "value": "x"}]}),
        )
        .await
        .ok();
    assert_eq!(again, created);
    let tags = h
        .call("ListTagsForResource", json!({"resourceArn": arn}))
        .await
        .ok();
    assert_eq!(tags, json!({"tags": [{"key": "k", "value": "v"}]}));

    let described = h
        .call("DescribeActivity", json!({"activityArn": arn}))
        .await
        .ok();
    assert_eq!(
        described,
        json!({"activityArn": arn, "name": name, "creationDate": created["creationDate"]})
    );
    let mut found = false;
    let mut token: Option<String> = None;
    loop {
        let mut request = json!({"maxResults": 1});
        if let Some(t) = &token {
            request["nextToken"] = json!(t);
        }
        let page = h.call("ListActivities", request).await.ok();
        for item in page["activities"].as_array().expect("activities") {
            if item["activityArn"] == arn.as_str() {
                assert_eq!(item["name"], name.as_str());
                found = true;
            }
        }
        match page.get("nextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert!(found);
    h.call("DeleteActivity", json!({"activityArn": arn}))
        .await
        .ok();
    h.call("DescribeActivity", json!({"activityArn": arn}))
        .await
        .err("ActivityDoesNotExist");
    h.call("ListTagsForResource", json!({"resourceArn": arn}))
        .await
        .err("ResourceNotFound");
    h.call("DeleteActivity", json!({"activityArn": arn}))
        .await
        .ok();
    h.call(
        "DescribeActivity",
        json!({"activityArn": "arn:aws:states:us-east-1:123456789012:stateMachine:x"}),
    )
    .await
    .err("InvalidArn");
}

#[tokio::test]
async fn tags_on_state_machines() {
    let h = Harness::start().await;
    let arn = h.machine(&unique("tags"), &pass_choice()).await;
    h.call(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "b", "value": "2"}, {"key": "a", "value": "1"}]}),
    )
    .await
    .ok();
    h.call(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "b", "value": "3"}]}),
    )
    .await
    .ok();
    let tags = h
        .call("ListTagsForResource", json!({"resourceArn": arn}))
        .await
        .ok();
    assert_eq!(
        tags,
        json!({"tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "3"}]})
    );
    h.call(
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["a", "missing"]}),
    )
    .await
    .ok();
    let tags = h
        .call("ListTagsForResource", json!({"resourceArn": arn}))
        .await
        .ok();
    assert_eq!(tags, json!({"tags": [{"key": "b", "value": "3"}]}));

    let many: Vec<Value> = (0..50)
        .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    h.call("TagResource", json!({"resourceArn": arn, "tags": many}))
        .await
        .err("TooManyTags");
    // Refused whole: the one tag is still the only one.
    let tags = h
        .call("ListTagsForResource", json!({"resourceArn": arn}))
        .await
        .ok();
    assert_eq!(tags["tags"].as_array().map(Vec::len), Some(1));

    let gone = arn.replace("stateMachine:", "stateMachine:gone-");
    h.call(
        "TagResource",
        json!({"resourceArn": gone, "tags": [{"key": "a", "value": "1"}]}),
    )
    .await
    .err("ResourceNotFound");
    h.call(
        "UntagResource",
        json!({"resourceArn": gone, "tagKeys": ["a"]}),
    )
    .await
    .err("ResourceNotFound");
    h.call("TagResource", json!({"resourceArn": arn}))
        .await
        .err("ValidationException");
    h.call(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "", "value": "1"}]}),
    )
    .await
    .err("ValidationException");
    h.call(
        "TagResource",
        json!({"resourceArn": "arn:aws:states:us-east-1:123456789012:execution:m:e",
               "tags": [{"key": "a", "value": "1"}]}),
    )
    .await
    .err("InvalidArn");
}

/// EXPRESS machines run in process and leave no execution row (see tests/express.rs).
#[tokio::test]
async fn express_machines_start_without_a_stored_execution() {
    let h = Harness::isolated("express").await;
    let name = unique("express");
    let created = h
        .call(
            "CreateStateMachine",
            json!({"name": name, "definition": pass_choice().to_string(),
                   "roleArn": ROLE, "type": "EXPRESS"}),
        )
        .await
        .ok();
    let machine = text(&created["stateMachineArn"]).to_string();
    let described = h
        .call("DescribeStateMachine", json!({"stateMachineArn": machine}))
        .await
        .ok();
    assert_eq!(described["type"], "EXPRESS");
    let started = h
        .call(
            "StartExecution",
            json!({"stateMachineArn": machine, "name": "e1", "input": "{\"fail\": false}"}),
        )
        .await
        .ok();
    let arn = text(&started["executionArn"]);
    assert!(
        arn.starts_with(&format!(
            "arn:aws:states:us-east-1:123456789012:express:{name}:e1:"
        )),
        "{arn}"
    );
    let rows: i64 = sqlx::query_scalar("select count(*) from executions")
        .fetch_one(h.store.pool())
        .await
        .expect("count executions");
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn deleted_machine_keeps_its_executions_describable() {
    let h = Harness::start().await;
    let machine = h.machine(&unique("del"), &pass_choice()).await;
    let started = h
        .call(
            "StartExecution",
            json!({"stateMachineArn": machine, "input": "{\"fail\": false}"}),
        )
        .await
        .ok();
    let arn = text(&started["executionArn"]).to_string();
    h.run_to_end(&arn).await;
    h.call("DeleteStateMachine", json!({"stateMachineArn": machine}))
        .await
        .ok();
    let described = h
        .call("DescribeExecution", json!({"executionArn": arn}))
        .await
        .ok();
    assert_eq!(described["status"], "SUCCEEDED");
    let for_execution = h
        .call(
            "DescribeStateMachineForExecution",
            json!({"executionArn": arn}),
        )
        .await
        .ok();
    assert_eq!(for_execution["stateMachineArn"], machine.as_str());
    h.call("ListExecutions", json!({"stateMachineArn": machine}))
        .await
        .err("StateMachineDoesNotExist");
}

/// Row counts of every table, in a database no other test writes to.
async fn counts(h: &Harness) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for table in [
        "definitions",
        "state_machines",
        "tags",
        "executions",
        "history_batches",
        "inbox",
        "tasks",
        "activities",
        "task_tokens",
    ] {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
                .fetch_one(h.store.pool())
                .await
                .expect("count");
        out.push((table.to_string(), count));
    }
    out
}

#[tokio::test]
async fn bad_requests_change_nothing() {
    let h = Harness::isolated("quiet").await;
    let machine = h.machine("quiet-machine", &waiting()).await;
    let running = h
        .call(
            "StartExecution",
            json!({"stateMachineArn": machine, "name": "held", "input": "{}"}),
        )
        .await
        .ok();
    h.call(
        "TagResource",
        json!({"resourceArn": machine, "tags": [{"key": "keep", "value": "me"}]}),
    )
    .await
    .ok();
    let before = counts(&h).await;
    let definition = pass_choice().to_string();
    let many: Vec<Value> = (0..50)
        .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    let bad: Vec<(&str, Value, &str)> = vec![
        (
            "CreateStateMachine",
            json!({"name": "bad name", "definition": definition, "roleArn": ROLE}),
            "InvalidName",
        ),
        (
            "CreateStateMachine",
            json!({"name": "ok", "definition": "{}", "roleArn": ROLE}),
            "InvalidDefinition",
        ),
        (
            "CreateStateMachine",
            json!({"name": "ok", "definition": definition, "roleArn": ROLE,
            "tags": [{"key": "", "value": "x"}]}),
            "ValidationException",
        ),
        (
            "CreateStateMachine",
            json!({"name": "ok", "definition": definition, "roleArn": ROLE,
            "versionDescription": "no publish"}),
            "ValidationException",
        ),
        (
            "CreateStateMachine",
            json!({"name": "ok", "definition": definition, "roleArn": ROLE,
            "publish": true, "versionDescription": "d".repeat(257)}),
            "ValidationException",
        ),
        (
            "CreateStateMachine",
            json!({"name": "quiet-machine", "definition": definition, "roleArn": ROLE}),
            "StateMachineAlreadyExists",
        ),
        (
            "UpdateStateMachine",
            json!({"stateMachineArn": machine, "definition": "{}"}),
            "InvalidDefinition",
        ),
        (
            "StartExecution",
            json!({"stateMachineArn": machine, "name": "held", "input": "{\"x\": 1}"}),
            "ExecutionAlreadyExists",
        ),
        (
            "StartExecution",
            json!({"stateMachineArn": machine, "input": "nope"}),
            "InvalidExecutionInput",
        ),
        (
            "StartExecution",
            json!({"stateMachineArn": machine, "name": "a b"}),
            "InvalidName",
        ),
        (
            "StopExecution",
            json!({"executionArn": running["executionArn"], "cause": "c".repeat(40_000)}),
            "ValidationException",
        ),
        (
            "TagResource",
            json!({"resourceArn": machine, "tags": many}),
            "TooManyTags",
        ),
        ("CreateActivity", json!({"name": "bad|name"}), "InvalidName"),
        (
            "CreateActivity",
            json!({"name": "fine", "tags": [{"key": 1}]}),
            "SerializationException",
        ),
        (
            "StartSyncExecution",
            json!({"stateMachineArn": machine}),
            "StateMachineTypeNotSupported",
        ),
        (
            "DeleteStateMachine",
            json!({"stateMachineArn": "not-an-arn"}),
            "InvalidArn",
        ),
    ];
    for (operation, body, code) in bad {
        let reply = h.call(operation, body).await;
        assert_eq!(reply.code(), code, "{operation}: {}", reply.body);
    }
    assert_eq!(counts(&h).await, before);
    let described = h
        .call("DescribeStateMachine", json!({"stateMachineArn": machine}))
        .await
        .ok();
    assert_eq!(described["definition"], waiting().to_string().as_str());
    h.store.pool().close().await;
    drop_database(&h.database).await;
}

async fn drop_database(name: &str) {
    use sqlx::Connection;
    let url = std::env::var("CAIRN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1".into());
    if let Ok(mut conn) = sqlx::PgConnection::connect(&format!("{url}/postgres")).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database if exists \"{name}\" with (force)"
        )))
        .execute(&mut conn)
        .await;
    }
}

#[tokio::test]
async fn running_execution_keeps_its_definition_after_update() {
    let h = Harness::start().await;
    let machine = h.machine(&unique("keep"), &waiting()).await;
    let started = h
        .call(
            "StartExecution",
            json!({"stateMachineArn": machine, "input": "{\"secret\": 1}"}),
        )
        .await
        .ok();
    let arn = text(&started["executionArn"]).to_string();
    let before = h
        .call(
            "DescribeStateMachineForExecution",
            json!({"executionArn": arn}),
        )
        .await
        .ok();
    assert!(
        before.get("revisionId").is_none(),
        "a machine never updated has no revision id: {before}"
    );
    h.call(
        "UpdateStateMachine",
        json!({"stateMachineArn": machine, "definition": pass_choice().to_string()}),
    )
    .await
    .ok();
    let after = h
        .call(
            "DescribeStateMachineForExecution",
            json!({"executionArn": arn}),
        )
        .await
        .ok();
    assert_eq!(after["definition"], waiting().to_string().as_str());
    assert!(after.get("revisionId").is_none(), "{after}");
    let current = h
        .call("DescribeStateMachine", json!({"stateMachineArn": machine}))
        .await
        .ok();
    assert_eq!(current["definition"], pass_choice().to_string().as_str());

    let metadata = h
        .call(
            "DescribeExecution",
            json!({"executionArn": arn, "includedData": "METADATA_ONLY"}),
        )
        .await
        .ok();
    assert!(metadata.get("input").is_none() && metadata.get("inputDetails").is_none());
    assert_eq!(metadata["status"], "RUNNING");
    h.call(
        "DescribeExecution",
        json!({"executionArn": arn, "includedData": "SOME"}),
    )
    .await
    .err("ValidationException");
    // Errors carry a request id too.
    let reply = h
        .call("DescribeExecution", json!({"executionArn": "nope"}))
        .await;
    reply.err("InvalidArn");
    assert!(reply.request_id.is_some());
}

/// DescribeMapRun counts a STANDARD child that timed out in `timedOut`, not in `failed`,
/// as AWS does (`total` is the sum of the counts), in `itemCounts` and
/// `executionCounts` alike.
#[tokio::test]
async fn describe_map_run_counts_a_timed_out_child_apart_from_the_failed() {
    use cairn_scheduler::{Scheduler, SchedulerConfig};

    let h = Harness::isolated("timedout").await;
    let machine = h
        .machine(
            &unique("slowfan"),
            &json!({"StartAt": "Fan", "States": {"Fan": {"Type": "Map", "Label": "fan",
                "ToleratedFailureCount": 2,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Kind", "States": {
                        "Kind": {"Type": "Choice", "Default": "Done", "Choices": [
                            {"Variable": "$", "StringEquals": "slow", "Next": "Slow"},
                            {"Variable": "$", "StringEquals": "bad", "Next": "Broken"}]},
                        "Slow": {"Type": "Wait", "Seconds": 5, "Next": "Done"},
                        "Broken": {"Type": "Fail", "Error": "Broken"},
                        "Done": {"Type": "Pass", "End": true}}},
                "End": true}}}),
        )
        .await;
    let execution = h
        .call(
            "StartExecution",
            json!({"stateMachineArn": machine, "input": r#"["slow", "bad", "fine"]"#}),
        )
        .await
        .ok()["executionArn"]
        .as_str()
        .expect("an execution ARN")
        .to_string();
    // A STANDARD child times out only at the execution cap (an ItemProcessor takes no
    // TimeoutSeconds; AWS's cap is a year). The parent starts under the default limits
    // and starts its children in that commit; a scheduler that caps executions at one
    // second then starts the children, so only they are capped.
    assert_eq!(h.scheduler.tick().await.expect("tick"), 1);
    let capped = Harness {
        scheduler: Scheduler::new(
            h.store.clone(),
            SchedulerConfig {
                limits: SchedulerConfig::default().limits.capping_executions_at(1),
                ..SchedulerConfig::default()
            },
        ),
        ..h
    };
    let ended = capped.run_to_end(&execution).await;
    assert_eq!(ended["status"], "SUCCEEDED", "{ended}");
    let runs = capped
        .call("ListMapRuns", json!({"executionArn": execution}))
        .await
        .ok();
    let run_arn = runs["mapRuns"][0]["mapRunArn"]
        .as_str()
        .expect("a Map Run")
        .to_string();
    let timed_out = capped
        .call(
            "ListExecutions",
            json!({"mapRunArn": run_arn, "statusFilter": "TIMED_OUT"}),
        )
        .await
        .ok();
    assert_eq!(
        timed_out["executions"].as_array().map(Vec::len),
        Some(1),
        "{timed_out}"
    );
    let run = capped
        .call("DescribeMapRun", json!({"mapRunArn": run_arn}))
        .await
        .ok();
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    for counts in ["itemCounts", "executionCounts"] {
        assert_eq!(
            run[counts],
            json!({"pending": 0, "running": 0, "succeeded": 1, "failed": 1,
                   "timedOut": 1, "aborted": 0, "total": 3, "resultsWritten": 0,
                   "failuresNotRedrivable": 0, "pendingRedrive": 0}),
            "{counts}: {run}"
        );
    }
}
