//! Versions and aliases: publishing per revision, numbers never reused, executions that
//! run a version, aliases that route to versions and keep them from being deleted.

use cairn_store::catalog::{
    CreateOutcome, DeleteOutcome, MachineType, StateMachineChanges, UpdateOutcome,
};
use cairn_store::executions::ExecutionsOf;
use cairn_store::testing::{self, machine_spec, new_execution};
use cairn_store::versions::{
    AliasChanges, AliasOutcome, AliasSpec, DeleteVersionOutcome, Publish, PublishOutcome, Route,
    VersionRecord,
};
use serde_json::json;

use super::common::*;

fn result_machine(result: &str) -> String {
    json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result, "End": true}}})
        .to_string()
}

fn publish(description: &str) -> Publish {
    Publish {
        description: Some(description.to_string()),
    }
}

fn published(outcome: PublishOutcome) -> VersionRecord {
    match outcome {
        PublishOutcome::Published(version) => version,
        other => panic!("not published: {other:?}"),
    }
}

fn redefine(definition: String, revision: &str) -> StateMachineChanges {
    StateMachineChanges {
        definition: Some(definition),
        revision_id: revision.to_string(),
        ..StateMachineChanges::default()
    }
}

async fn update<S: Store>(store: &S, arn: &str, changes: &StateMachineChanges) -> UpdateOutcome {
    store
        .update_state_machine(arn, changes)
        .await
        .expect("update")
}

fn route(version: &VersionRecord, weight: i64) -> Route {
    Route {
        version_arn: version.arn(),
        weight,
    }
}

pub async fn publish_is_idempotent_per_revision_and_never_reuses_a_number<S: Store>(store: S) {
    let arn = testing::create_machine(&store, "versioned", &result_machine("one")).await;
    let first = published(
        store
            .publish_version(&arn, None, &publish("first"))
            .await
            .expect("publish"),
    );
    assert_eq!(first.version, 1);
    assert_eq!(first.arn(), format!("{arn}:1"));
    assert_eq!(
        first.revision_id, None,
        "published from the initial revision"
    );
    assert_eq!(first.description.as_deref(), Some("first"));
    assert_eq!(first.definition, result_machine("one"));
    // The same revision again: the same version, its description kept.
    let again = published(
        store
            .publish_version(&arn, Some("INITIAL"), &publish("ignored"))
            .await
            .expect("publish"),
    );
    assert_eq!(again, first);

    assert!(matches!(
        update(&store, &arn, &redefine(result_machine("two"), "r2")).await,
        UpdateOutcome::Updated { .. }
    ));
    // A revision that is not the current one publishes nothing.
    assert!(matches!(
        store
            .publish_version(&arn, Some("INITIAL"), &Publish::default())
            .await
            .expect("publish"),
        PublishOutcome::StaleRevision { current: Some(ref c) } if c == "r2"
    ));
    let second = published(
        store
            .publish_version(&arn, Some("r2"), &Publish::default())
            .await
            .expect("publish"),
    );
    assert_eq!(
        (second.version, second.revision_id.as_deref()),
        (2, Some("r2"))
    );
    assert_eq!(second.definition, result_machine("two"));
    assert_eq!(second.description, None);

    // Deleted, a number is not given again; a deleted version that did not exist is
    // the same answer.
    assert_eq!(
        store.delete_version(&arn, 2).await.expect("delete"),
        DeleteVersionOutcome::Deleted
    );
    assert_eq!(
        store.delete_version(&arn, 2).await.expect("delete"),
        DeleteVersionOutcome::Deleted
    );
    assert!(store
        .state_machine_version(&arn, 2)
        .await
        .expect("lookup")
        .is_none());
    update(&store, &arn, &redefine(result_machine("three"), "r3")).await;
    let third = published(
        store
            .publish_version(&arn, None, &Publish::default())
            .await
            .expect("publish"),
    );
    assert_eq!(third.version, 3);

    // Listed newest first, and paged by number.
    let numbers = |versions: Vec<VersionRecord>| -> Vec<i64> {
        versions.into_iter().map(|v| v.version).collect()
    };
    let all = store
        .list_versions(&arn, None, 10)
        .await
        .expect("list")
        .expect("a machine");
    assert_eq!(numbers(all), [3, 1]);
    let older = store
        .list_versions(&arn, Some(3), 10)
        .await
        .expect("list")
        .expect("a machine");
    assert_eq!(numbers(older), [1]);
    let described = store
        .state_machine_version(&arn, 1)
        .await
        .expect("lookup")
        .expect("version 1");
    assert_eq!(
        described, first,
        "a version does not change with its machine"
    );

    let unknown = format!("{}:stateMachine:nobody", testing::ARN_PREFIX);
    assert!(matches!(
        store
            .publish_version(&unknown, None, &Publish::default())
            .await
            .expect("publish"),
        PublishOutcome::NoMachine { deleting: false }
    ));
    assert!(store
        .list_versions(&unknown, None, 10)
        .await
        .expect("list")
        .is_none());
}

pub async fn create_and_update_publish_in_the_same_write<S: Store>(store: S) {
    let mut spec = machine_spec("published", MachineType::Standard, &result_machine("a"));
    spec.publish = Some(publish("at creation"));
    let CreateOutcome::Created {
        machine,
        version: Some(first),
    } = store.create_state_machine(&spec).await.expect("create")
    else {
        panic!("created with a version")
    };
    assert_eq!(first.arn(), format!("{}:1", machine.arn));
    assert_eq!(first.description.as_deref(), Some("at creation"));
    // The same call again answers the same version.
    match store.create_state_machine(&spec).await.expect("repeat") {
        CreateOutcome::Existing {
            version: Some(repeat),
            ..
        } => assert_eq!(repeat, first),
        other => panic!("a repeat: {other:?}"),
    }

    let mut changes = redefine(result_machine("b"), "rb");
    changes.publish = Some(publish("b"));
    let UpdateOutcome::Updated {
        revision_id: Some(revision),
        version: Some(second),
        ..
    } = update(&store, &machine.arn, &changes).await
    else {
        panic!("updated and published")
    };
    assert_eq!(revision, "rb");
    assert_eq!(
        (second.version, second.revision_id.as_deref()),
        (2, Some("rb"))
    );
    // Nothing to change, but asked to publish: no revision, the current one's version.
    let mut unchanged = redefine(result_machine("b"), "unused");
    unchanged.publish = Some(Publish::default());
    let UpdateOutcome::Updated {
        revision_id: None,
        version: Some(same),
        ..
    } = update(&store, &machine.arn, &unchanged).await
    else {
        panic!("a publish without a change")
    };
    assert_eq!(same, second);
    assert_eq!(
        store
            .list_versions(&machine.arn, None, 10)
            .await
            .expect("list")
            .map(|v| v.len()),
        Some(2)
    );
}

pub async fn a_version_runs_its_own_definition_and_executions_record_it<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let arn = testing::create_machine(&store, "pinned", &result_machine("old")).await;
    let old = published(
        store
            .publish_version(&arn, None, &Publish::default())
            .await
            .expect("publish"),
    );
    update(&store, &arn, &redefine(result_machine("new"), "r2")).await;

    let mut through_version = new_execution(&arn, "by-version", "{}");
    through_version.version = Some(old.version);
    let by_version = store
        .start_execution(&through_version)
        .await
        .expect("start")
        .expect("started")
        .arn;
    let current = testing::start(&store, &arn, "by-machine", "{}").await;
    let definition = store
        .execution_definition(&by_version)
        .await
        .expect("definition")
        .expect("exists");
    assert_eq!(definition.definition, result_machine("old"));
    assert_eq!(definition.version_arn.as_deref(), Some(old.arn().as_str()));

    let alias = AliasSpec {
        machine_arn: arn.clone(),
        name: "stable".to_string(),
        description: None,
        routes: vec![route(&old, 100)],
    };
    let AliasOutcome::Done(alias) = store.create_alias(&alias).await.expect("alias") else {
        panic!("alias created")
    };
    let mut through_alias = new_execution(&arn, "by-alias", "{}");
    through_alias.version = Some(old.version);
    through_alias.alias_arn = Some(alias.arn.clone());
    let by_alias = store
        .start_execution(&through_alias)
        .await
        .expect("start")
        .expect("started")
        .arn;

    settle(&scheduler).await;
    let version_row = describe(&store, &by_version).await;
    assert_eq!(output(&version_row), json!("old"));
    assert_eq!(version_row.state_machine_arn, arn, "the machine's own ARN");
    assert_eq!(version_row.version_arn, Some(old.arn()));
    assert_eq!(version_row.alias_arn, None);
    let alias_row = describe(&store, &by_alias).await;
    assert_eq!(output(&alias_row), json!("old"));
    assert_eq!(alias_row.alias_arn, Some(alias.arn.clone()));
    assert_eq!(alias_row.version_arn, Some(old.arn()));
    let current_row = describe(&store, &current).await;
    assert_eq!(output(&current_row), json!("new"));
    assert_eq!(
        (current_row.version_arn, current_row.alias_arn),
        (None, None)
    );

    let listed = |of: ExecutionsOf| {
        let store = store.clone();
        async move {
            let mut names: Vec<String> = store
                .list_executions(&of, None, None, None, 10)
                .await
                .expect("list")
                .into_iter()
                .map(|e| e.name)
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(
        listed(ExecutionsOf::Machine(arn.clone())).await,
        ["by-alias", "by-machine", "by-version"]
    );
    assert_eq!(
        listed(ExecutionsOf::Version(old.arn())).await,
        ["by-alias", "by-version"]
    );
    assert_eq!(listed(ExecutionsOf::Alias(alias.arn)).await, ["by-alias"]);
    let summaries = store
        .list_executions(&ExecutionsOf::Machine(arn.clone()), None, None, None, 10)
        .await
        .expect("list");
    let summary = summaries
        .iter()
        .find(|e| e.name == "by-alias")
        .expect("listed");
    assert_eq!(summary.version_arn, Some(old.arn()));

    // A version that does not exist starts nothing.
    let mut missing = new_execution(&arn, "by-missing", "{}");
    missing.version = Some(42);
    assert_eq!(store.start_execution(&missing).await.expect("start"), None);
}

pub async fn aliases_route_to_versions_and_keep_them_from_deletion<S: Store>(store: S) {
    let arn = testing::create_machine(&store, "aliased", &result_machine("one")).await;
    let one = published(
        store
            .publish_version(&arn, None, &Publish::default())
            .await
            .expect("publish"),
    );
    update(&store, &arn, &redefine(result_machine("two"), "r2")).await;
    let two = published(
        store
            .publish_version(&arn, None, &Publish::default())
            .await
            .expect("publish"),
    );
    let spec = AliasSpec {
        machine_arn: arn.clone(),
        name: "live".to_string(),
        description: Some("production".to_string()),
        routes: vec![route(&one, 90), route(&two, 10)],
    };
    let AliasOutcome::Done(created) = store.create_alias(&spec).await.expect("create") else {
        panic!("created")
    };
    assert_eq!(created.arn, format!("{arn}:live"));
    assert_eq!(created.routes, spec.routes);
    assert_eq!(created.description.as_deref(), Some("production"));
    match store.create_alias(&spec).await.expect("repeat") {
        AliasOutcome::Existing(existing) => assert_eq!(existing, created),
        other => panic!("a repeat: {other:?}"),
    }
    let mut other = spec.clone();
    other.routes = vec![route(&two, 100)];
    assert!(matches!(
        store.create_alias(&other).await.expect("create"),
        AliasOutcome::Conflict
    ));
    let mut to_nothing = spec.clone();
    to_nothing.name = "nowhere".to_string();
    to_nothing.routes = vec![Route {
        version_arn: format!("{arn}:9"),
        weight: 100,
    }];
    assert!(matches!(
        store.create_alias(&to_nothing).await.expect("create"),
        AliasOutcome::NoSuchVersion(ref v) if *v == format!("{arn}:9")
    ));
    let mut no_machine = spec.clone();
    no_machine.machine_arn = format!("{}:stateMachine:nobody", testing::ARN_PREFIX);
    assert!(matches!(
        store.create_alias(&no_machine).await.expect("create"),
        AliasOutcome::NotFound
    ));

    // A routed version cannot be deleted.
    assert_eq!(
        store
            .delete_version(&arn, one.version)
            .await
            .expect("delete"),
        DeleteVersionOutcome::RoutedBy(vec!["live".to_string()])
    );
    let moved = AliasChanges {
        description: None,
        routes: Some(vec![route(&two, 100)]),
    };
    let AliasOutcome::Done(updated) = store
        .update_alias(&created.arn, &moved)
        .await
        .expect("update")
    else {
        panic!("updated")
    };
    assert_eq!(updated.routes, [route(&two, 100)]);
    assert_eq!(updated.description.as_deref(), Some("production"), "kept");
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(
        store
            .delete_version(&arn, one.version)
            .await
            .expect("delete"),
        DeleteVersionOutcome::Deleted
    );
    assert!(matches!(
        store
            .update_alias(&format!("{arn}:ghost"), &moved)
            .await
            .expect("update"),
        AliasOutcome::NotFound
    ));

    let mut second = spec.clone();
    second.name = "canary".to_string();
    second.routes = vec![route(&two, 100)];
    store.create_alias(&second).await.expect("create");
    let names = |aliases: Vec<cairn_store::versions::AliasRecord>| -> Vec<String> {
        aliases.into_iter().map(|a| a.name).collect()
    };
    assert_eq!(
        names(
            store
                .list_aliases(&arn, None, 10)
                .await
                .expect("list")
                .expect("a machine")
        ),
        ["canary", "live"]
    );
    assert_eq!(
        names(
            store
                .list_aliases(&arn, Some(&format!("{arn}:canary")), 10)
                .await
                .expect("list")
                .expect("a machine")
        ),
        ["live"]
    );
    assert!(store.delete_alias(&created.arn).await.expect("delete"));
    assert!(!store.delete_alias(&created.arn).await.expect("delete"));
    assert!(store.alias(&created.arn).await.expect("lookup").is_none());

    // Deleting the machine takes its versions and aliases with it.
    assert_eq!(
        store.delete_state_machine(&arn).await.expect("delete"),
        DeleteOutcome::Deleted
    );
    assert!(store
        .alias(&format!("{arn}:canary"))
        .await
        .expect("lookup")
        .is_none());
    assert!(store
        .state_machine_version(&arn, two.version)
        .await
        .expect("lookup")
        .is_none());
    assert!(store
        .list_aliases(&arn, None, 10)
        .await
        .expect("list")
        .is_none());
}

/// The catalog generation once the store can follow changes (Postgres: once its
/// listener is listening).
async fn generation<S: Store>(store: &S) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(generation) = store.catalog_generation() {
            return generation;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the catalog's changes are never followed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Asserts that `change` moves the catalog generation by the time it returns: a cache
/// of what starts read is stale from the moment a change commits, in the process that
/// made it.
async fn moves<S: Store, F: std::future::Future>(store: &S, what: &str, change: F) -> F::Output {
    let before = generation(store).await;
    let done = change.await;
    assert_ne!(
        generation(store).await,
        before,
        "{what} left the generation"
    );
    done
}

pub async fn the_catalog_generation_moves_with_each_change_a_start_reads<S: Store>(store: S) {
    let arn = testing::create_machine(&store, "cached", &result_machine("one")).await;
    let one = published(
        store
            .publish_version(&arn, None, &Publish::default())
            .await
            .expect("publish"),
    );
    moves(
        &store,
        "an update",
        update(&store, &arn, &redefine(result_machine("two"), "r2")),
    )
    .await;
    let two = published(
        store
            .publish_version(&arn, None, &Publish::default())
            .await
            .expect("publish"),
    );
    let spec = AliasSpec {
        machine_arn: arn.clone(),
        name: "live".to_string(),
        description: None,
        routes: vec![route(&one, 100)],
    };
    let AliasOutcome::Done(alias) = store.create_alias(&spec).await.expect("create") else {
        panic!("created")
    };
    let moved = AliasChanges {
        description: None,
        routes: Some(vec![route(&two, 100)]),
    };
    let updated = moves(
        &store,
        "an alias update",
        store.update_alias(&alias.arn, &moved),
    );
    assert!(matches!(
        updated.await.expect("update"),
        AliasOutcome::Done(_)
    ));
    let deleted = moves(&store, "a version deletion", store.delete_version(&arn, 1));
    assert_eq!(
        deleted.await.expect("delete"),
        DeleteVersionOutcome::Deleted
    );
    let deleted = moves(&store, "an alias deletion", store.delete_alias(&alias.arn));
    assert!(deleted.await.expect("delete"));
    let deleted = moves(
        &store,
        "a machine deletion",
        store.delete_state_machine(&arn),
    );
    assert!(matches!(
        deleted.await.expect("delete"),
        DeleteOutcome::Deleted
    ));
}
