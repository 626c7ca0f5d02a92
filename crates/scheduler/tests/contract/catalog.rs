//! The resource catalogue: state machines, activities and tags.

use cairn_asl::ExecutionStatus;
use cairn_store::catalog::{
    CreateOutcome, DeleteOutcome, MachineStatus, MachineType, StateMachineChanges,
    StateMachineRecord, Tag, TagOutcome, UpdateOutcome,
};
use cairn_store::executions::ExecutionsOf;
use cairn_store::testing::{self, machine_spec, ARN_PREFIX, ROLE_ARN};
use serde_json::json;

use super::common::*;

fn result_machine(result: &str) -> String {
    json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result, "End": true}}})
        .to_string()
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn pairs(tags: &[Tag]) -> Vec<(&str, &str)> {
    tags.iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect()
}

fn created(outcome: CreateOutcome) -> StateMachineRecord {
    match outcome {
        CreateOutcome::Created {
            machine,
            version: None,
        } => machine,
        other => panic!("not created: {other:?}"),
    }
}

pub async fn create_is_created_then_existing_or_conflict<S: Store>(store: S) {
    let definition = result_machine("one");
    let mut spec = machine_spec("catalogued", MachineType::Standard, &definition);
    spec.tags = vec![tag("team", "a"), tag("env", "dev"), tag("team", "b")];
    let record = created(store.create_state_machine(&spec).await.expect("create"));
    assert_eq!(record.arn, spec.arn);
    assert_eq!(record.name, "catalogued");
    assert_eq!(record.machine_type, MachineType::Standard);
    assert_eq!(record.definition, definition);
    assert_eq!(record.role_arn, ROLE_ARN);
    assert_eq!(record.status, MachineStatus::Active);
    assert_eq!(record.revision_id, None, "no revision until an update");
    assert_eq!(record.logging.as_deref(), Some(spec.logging.as_str()));
    assert_eq!(record.tracing.as_deref(), Some(spec.tracing.as_str()));
    assert!(record.updated_at >= record.created_at);

    let described = store
        .state_machine(&spec.arn)
        .await
        .expect("describe")
        .expect("the machine");
    assert_eq!(described.definition, definition);
    assert_eq!(described.definition_id, record.definition_id);
    assert_eq!(described.created_at, record.created_at);
    assert_eq!(described.machine_type, MachineType::Standard);
    assert_eq!(described.logging, record.logging);
    assert_eq!(
        pairs(
            &store
                .list_tags(&spec.arn)
                .await
                .expect("tags")
                .expect("a resource")
        ),
        [("env", "dev"), ("team", "b")],
        "in key order, the last value of a key winning"
    );

    // The same call again is a repeat: nothing changes.
    let mut repeat = spec.clone();
    repeat.tags = vec![tag("other", "x")];
    match store.create_state_machine(&repeat).await.expect("repeat") {
        CreateOutcome::Existing {
            machine: existing,
            version: None,
        } => {
            assert_eq!(existing.arn, spec.arn);
            assert_eq!(existing.created_at, record.created_at);
            assert_eq!(existing.definition_id, record.definition_id);
        }
        other => panic!("a repeat: {other:?}"),
    }
    assert_eq!(
        store
            .list_tags(&spec.arn)
            .await
            .expect("tags")
            .map(|t| t.len()),
        Some(2),
        "a repeat adds no tags"
    );

    // Anything else under the same name is a conflict, and changes nothing either.
    let other_definition =
        machine_spec("catalogued", MachineType::Standard, &result_machine("two"));
    let other_type = machine_spec("catalogued", MachineType::Express, &definition);
    let mut other_logging = spec.clone();
    other_logging.logging = r#"{"level":"ALL","includeExecutionData":true}"#.to_string();
    for conflicting in [other_definition, other_type, other_logging] {
        let outcome = store
            .create_state_machine(&conflicting)
            .await
            .expect("create");
        assert!(
            matches!(outcome, CreateOutcome::Conflict),
            "{conflicting:?}: {outcome:?}"
        );
    }
    let after = store
        .state_machine(&spec.arn)
        .await
        .expect("describe")
        .expect("the machine");
    assert_eq!(after.definition, definition);
    assert_eq!(after.machine_type, MachineType::Standard);
    assert_eq!(after.logging, record.logging);

    let unknown = format!("{ARN_PREFIX}:stateMachine:nobody");
    assert!(store
        .state_machine(&unknown)
        .await
        .expect("lookup")
        .is_none());
}

pub async fn update_changes_new_executions_only<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let arn = testing::create_machine(&store, "updated", &result_machine("old")).await;
    let before = store
        .state_machine(&arn)
        .await
        .expect("describe")
        .expect("machine");
    let early = testing::start(&store, &arn, "early", "{}").await;

    let changes = StateMachineChanges {
        definition: Some(result_machine("new")),
        revision_id: "2".to_string(),
        ..StateMachineChanges::default()
    };
    let UpdateOutcome::Updated {
        updated_at,
        revision_id,
        version: None,
    } = store
        .update_state_machine(&arn, &changes)
        .await
        .expect("update")
    else {
        panic!("the machine exists")
    };
    assert_eq!(revision_id.as_deref(), Some("2"));
    assert!(updated_at >= before.created_at);
    let after = store
        .state_machine(&arn)
        .await
        .expect("describe")
        .expect("machine");
    assert_eq!(after.definition, result_machine("new"));
    assert_ne!(after.definition_id, before.definition_id);
    assert_eq!(after.revision_id.as_deref(), Some("2"));
    assert_eq!(after.role_arn, ROLE_ARN, "unchanged");
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(after.updated_at, updated_at);

    // The same definition again changes nothing: no new revision.
    let same = StateMachineChanges {
        definition: Some(result_machine("new")),
        revision_id: "unused".to_string(),
        ..StateMachineChanges::default()
    };
    assert!(matches!(
        store
            .update_state_machine(&arn, &same)
            .await
            .expect("update"),
        UpdateOutcome::Updated {
            revision_id: None,
            ..
        }
    ));
    assert_eq!(
        store
            .state_machine(&arn)
            .await
            .expect("describe")
            .expect("machine")
            .revision_id
            .as_deref(),
        Some("2")
    );

    let role = "arn:aws:iam::123456789012:role/other";
    let role_only = StateMachineChanges {
        role_arn: Some(role.to_string()),
        revision_id: "3".to_string(),
        ..StateMachineChanges::default()
    };
    assert!(matches!(
        store
            .update_state_machine(&arn, &role_only)
            .await
            .expect("update"),
        UpdateOutcome::Updated { .. }
    ));
    let after = store
        .state_machine(&arn)
        .await
        .expect("describe")
        .expect("machine");
    assert_eq!(
        (
            after.role_arn.as_str(),
            after.definition.as_str(),
            after.revision_id.as_deref()
        ),
        (role, result_machine("new").as_str(), Some("3"))
    );

    // The execution started before the update runs the definition it started with.
    let late = testing::start(&store, &arn, "late", "{}").await;
    assert_eq!(
        store
            .execution_definition(&early)
            .await
            .expect("definition")
            .expect("exists")
            .definition,
        result_machine("old")
    );
    let late_definition = store
        .execution_definition(&late)
        .await
        .expect("definition")
        .expect("exists");
    assert_eq!(late_definition.definition, result_machine("new"));
    assert_eq!(late_definition.role_arn, role);
    settle(&scheduler).await;
    assert_eq!(output(&describe(&store, &early).await), json!("old"));
    assert_eq!(output(&describe(&store, &late).await), json!("new"));

    let unknown = format!("{ARN_PREFIX}:stateMachine:nobody");
    assert!(matches!(
        store
            .update_state_machine(&unknown, &changes)
            .await
            .expect("update"),
        UpdateOutcome::NotFound
    ));
    assert!(store
        .state_machine(&unknown)
        .await
        .expect("lookup")
        .is_none());
}

pub async fn delete_stops_running_executions_then_the_machine_is_gone<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let waiting =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}})
            .to_string();
    let mut spec = machine_spec("doomed", MachineType::Standard, &waiting);
    spec.tags = vec![tag("k", "v")];
    let arn = created(store.create_state_machine(&spec).await.expect("create")).arn;
    let running = testing::start(&store, &arn, "running", "{}").await;
    settle(&scheduler).await;
    assert_eq!(status(&store, &running).await, ExecutionStatus::Running);

    // With an execution running, the machine is DELETING until it has stopped.
    assert_eq!(
        store.delete_state_machine(&arn).await.expect("delete"),
        DeleteOutcome::Deleting
    );
    let deleting = store
        .state_machine(&arn)
        .await
        .expect("lookup")
        .expect("still there while it runs");
    assert_eq!(deleting.status, MachineStatus::Deleting);
    assert_eq!(
        store
            .start_execution(&testing::new_execution(&arn, "after", "{}"))
            .await
            .expect("start"),
        None,
        "a machine being deleted starts nothing"
    );
    assert!(matches!(
        store.create_state_machine(&spec).await.expect("create"),
        CreateOutcome::Deleting
    ));

    settle(&scheduler).await;
    let row = describe(&store, &running).await;
    assert_eq!(row.status, ExecutionStatus::Aborted);
    assert!(store.state_machine(&arn).await.expect("lookup").is_none());
    assert_eq!(
        store.delete_state_machine(&arn).await.expect("delete"),
        DeleteOutcome::Absent
    );
    assert_eq!(store.list_tags(&arn).await.expect("tags"), None);
    assert!(store
        .list_state_machines(None, 10)
        .await
        .expect("list")
        .is_empty());
    // Its executions stay visible.
    assert_eq!(
        store
            .list_executions(&ExecutionsOf::Machine(arn.clone()), None, None, None, 10)
            .await
            .expect("list")
            .len(),
        1
    );

    // The name can be used again, for a new machine with no tags.
    let again = machine_spec("doomed", MachineType::Standard, &result_machine("other"));
    created(store.create_state_machine(&again).await.expect("create"));
    assert_eq!(store.list_tags(&arn).await.expect("tags"), Some(Vec::new()));
}

pub async fn delete_without_running_executions_is_immediate<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let arn = testing::create_machine(&store, "finished", &result_machine("kept")).await;
    let done = testing::start(&store, &arn, "done", "{}").await;
    settle(&scheduler).await;
    assert_eq!(
        store.delete_state_machine(&arn).await.expect("delete"),
        DeleteOutcome::Deleted
    );
    assert!(store.state_machine(&arn).await.expect("lookup").is_none());
    assert_eq!(output(&describe(&store, &done).await), json!("kept"));
    assert_eq!(
        store.delete_state_machine(&arn).await.expect("delete"),
        DeleteOutcome::Absent
    );
}

pub async fn state_machines_list_in_arn_order_and_page<S: Store>(store: S) {
    for (name, machine_type) in [
        ("m-c", MachineType::Standard),
        ("m-a", MachineType::Standard),
        ("m-e", MachineType::Express),
        ("m-b", MachineType::Standard),
        ("m-d", MachineType::Standard),
    ] {
        created(
            store
                .create_state_machine(&machine_spec(name, machine_type, &result_machine(name)))
                .await
                .expect("create"),
        );
    }
    let all = store.list_state_machines(None, 100).await.expect("list");
    let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["m-a", "m-b", "m-c", "m-d", "m-e"]);
    assert_eq!(all[4].machine_type, MachineType::Express);
    assert_eq!(all[0].arn, format!("{ARN_PREFIX}:stateMachine:m-a"));
    for summary in &all {
        let record = store
            .state_machine(&summary.arn)
            .await
            .expect("describe")
            .expect("machine");
        assert_eq!(summary.created_at, record.created_at);
    }

    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_state_machines(after.as_deref(), 2)
            .await
            .expect("list");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.arn.clone());
        paged.extend(page.into_iter().map(|m| m.name));
    }
    assert_eq!(paged, names);
    let from_the_middle = store
        .list_state_machines(Some(&all[1].arn), 2)
        .await
        .expect("list");
    assert_eq!(
        from_the_middle
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["m-c", "m-d"]
    );
}

pub async fn activities_create_once_describe_list_and_delete<S: Store>(store: S) {
    let arn = |name: &str| format!("{ARN_PREFIX}:activity:{name}");
    let first = store
        .create_activity(&arn("pay"), "pay", &[tag("team", "billing")])
        .await
        .expect("create");
    assert_eq!(
        (first.arn.as_str(), first.name.as_str()),
        (arn("pay").as_str(), "pay")
    );
    // A repeat returns the first, and its tags are ignored.
    let repeat = store
        .create_activity(&arn("pay"), "pay", &[tag("team", "other"), tag("new", "x")])
        .await
        .expect("repeat");
    assert_eq!(repeat.arn, first.arn);
    assert_eq!(repeat.created_at, first.created_at);
    assert_eq!(
        pairs(
            &store
                .list_tags(&arn("pay"))
                .await
                .expect("tags")
                .expect("a resource")
        ),
        [("team", "billing")]
    );
    let described = store
        .activity(&arn("pay"))
        .await
        .expect("describe")
        .expect("the activity");
    assert_eq!(described.name, "pay");
    assert_eq!(described.created_at, first.created_at);
    assert!(store
        .activity(&arn("nobody"))
        .await
        .expect("lookup")
        .is_none());

    for name in ["ship", "audit", "refund"] {
        store
            .create_activity(&arn(name), name, &[])
            .await
            .expect("create");
    }
    let all = store.list_activities(None, 100).await.expect("list");
    let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["audit", "pay", "refund", "ship"]);
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_activities(after.as_deref(), 3)
            .await
            .expect("list");
        let Some(last) = page.last() else { break };
        after = Some(last.arn.clone());
        paged.extend(page.into_iter().map(|a| a.name));
    }
    assert_eq!(paged, names);

    assert!(store.delete_activity(&arn("pay")).await.expect("delete"));
    assert!(!store.delete_activity(&arn("pay")).await.expect("delete"));
    assert!(store.activity(&arn("pay")).await.expect("lookup").is_none());
    assert_eq!(store.list_tags(&arn("pay")).await.expect("tags"), None);
    assert_eq!(
        store.list_activities(None, 100).await.expect("list").len(),
        3
    );
    // Created again: a new activity, without the old one's tags.
    store
        .create_activity(&arn("pay"), "pay", &[])
        .await
        .expect("create");
    assert_eq!(
        store.list_tags(&arn("pay")).await.expect("tags"),
        Some(Vec::new())
    );
}

pub async fn tags_add_overwrite_refuse_too_many_and_remove<S: Store>(store: S) {
    let machine = testing::create_machine(&store, "tagged", &result_machine("t")).await;
    let activity = format!("{ARN_PREFIX}:activity:tagged");
    store
        .create_activity(&activity, "tagged", &[])
        .await
        .expect("activity");
    let tags = |arn: String| {
        let store = store.clone();
        async move {
            store
                .list_tags(&arn)
                .await
                .expect("tags")
                .expect("a resource")
        }
    };
    assert!(tags(machine.clone()).await.is_empty());

    assert_eq!(
        store
            .tag_resource(&machine, &[tag("b", "1"), tag("a", "1")], 3)
            .await
            .expect("tag"),
        TagOutcome::Tagged
    );
    // Overwriting a key does not count as another tag.
    assert_eq!(
        store
            .tag_resource(&machine, &[tag("b", "2"), tag("c", "1"), tag("c", "3")], 3)
            .await
            .expect("tag"),
        TagOutcome::Tagged
    );
    assert_eq!(
        pairs(&tags(machine.clone()).await),
        [("a", "1"), ("b", "2"), ("c", "3")]
    );
    // One more would be four: refused, and nothing of the call is kept.
    assert_eq!(
        store
            .tag_resource(&machine, &[tag("a", "changed"), tag("d", "1")], 3)
            .await
            .expect("tag"),
        TagOutcome::TooMany
    );
    assert_eq!(
        pairs(&tags(machine.clone()).await),
        [("a", "1"), ("b", "2"), ("c", "3")]
    );
    assert_eq!(
        store.tag_resource(&machine, &[], 3).await.expect("tag"),
        TagOutcome::Tagged
    );

    assert!(store
        .untag_resource(&machine, &["b".to_string(), "missing".to_string()])
        .await
        .expect("untag"));
    assert_eq!(
        pairs(&tags(machine.clone()).await),
        [("a", "1"), ("c", "3")]
    );

    // Activities carry tags the same way, each resource its own.
    assert_eq!(
        store
            .tag_resource(&activity, &[tag("z", "1"), tag("a", "2")], 50)
            .await
            .expect("tag"),
        TagOutcome::Tagged
    );
    assert_eq!(
        pairs(&tags(activity.clone()).await),
        [("a", "2"), ("z", "1")]
    );
    assert_eq!(
        pairs(&tags(machine.clone()).await),
        [("a", "1"), ("c", "3")]
    );

    let unknown = format!("{ARN_PREFIX}:stateMachine:nobody");
    assert_eq!(
        store
            .tag_resource(&unknown, &[tag("a", "1")], 50)
            .await
            .expect("tag"),
        TagOutcome::NotFound
    );
    assert!(!store
        .untag_resource(&unknown, &["a".to_string()])
        .await
        .expect("untag"));
    assert_eq!(store.list_tags(&unknown).await.expect("tags"), None);
    let execution = execution_arn(&machine, "e");
    testing::start(&store, &machine, "e", "{}").await;
    assert_eq!(
        store
            .tag_resource(&execution, &[tag("a", "1")], 50)
            .await
            .expect("tag"),
        TagOutcome::NotFound,
        "executions are not taggable"
    );
}
