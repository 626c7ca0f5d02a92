//! Test support: a fresh, migrated database per test, on the Postgres the tests are
//! given (`CAIRN_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432`), and
//! the resources tests create most.

use crate::catalog::{MachineType, StateMachineSpec};
use crate::postgres::PgStore;
use crate::Result;

/// The ARN prefix tests' resources share.
pub const ARN_PREFIX: &str = "arn:aws:states:us-east-1:123456789012";
/// The role tests' machines run with.
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/r";

/// A machine named `name` of `machine_type` with `definition`, without tags, logging
/// or tracing, as a test creates it.
pub fn machine_spec(name: &str, machine_type: MachineType, definition: &str) -> StateMachineSpec {
    StateMachineSpec {
        arn: format!("{ARN_PREFIX}:stateMachine:{name}"),
        name: name.to_string(),
        machine_type,
        definition: definition.to_string(),
        role_arn: ROLE_ARN.to_string(),
        logging: r#"{"level":"OFF","includeExecutionData":false}"#.to_string(),
        tracing: r#"{"enabled":false}"#.to_string(),
        tags: Vec::new(),
        publish: None,
    }
}

/// The server URL tests connect to, without a database name.
pub fn server_url() -> String {
    std::env::var("CAIRN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// The URL of a database named after `label` that does not exist yet (names are unique
/// per call): [`PgStore::connect`] creates it.
pub fn fresh_database_url(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name: String = format!("cairn_test_{label}_{}_{nanos}", std::process::id())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{}/{name}", server_url())
}

/// Creates a new database named after `label`, migrates it and returns a store on it
/// together with its URL. Databases are left behind for inspection; their names say
/// which test made them.
pub async fn fresh_store(label: &str, max_connections: u32) -> Result<(PgStore, String)> {
    let url = fresh_database_url(label);
    let store = PgStore::connect(&url, max_connections).await?;
    store.migrate().await?;
    Ok((store, url))
}

/// Creates the STANDARD machine `name` with `definition`; its ARN.
pub async fn create_machine<S: crate::Store>(store: &S, name: &str, definition: &str) -> String {
    let spec = machine_spec(name, MachineType::Standard, definition);
    match store.create_state_machine(&spec).await {
        Ok(crate::catalog::CreateOutcome::Created { machine, .. }) => machine.arn,
        other => panic!("machine {name} not created: {other:?}"),
    }
}

/// The execution `name` of `machine_arn`, as StartExecution would start it.
pub fn new_execution(
    machine_arn: &str,
    name: &str,
    input: &str,
) -> crate::executions::NewExecution {
    let machine_name = machine_arn.rsplit(':').next().unwrap_or_default();
    crate::executions::NewExecution {
        machine_arn: machine_arn.to_string(),
        version: None,
        alias_arn: None,
        arn: format!("{ARN_PREFIX}:execution:{machine_name}:{name}"),
        name: name.to_string(),
        input: input.to_string(),
        started_at: chrono::Utc::now(),
        trace: None,
    }
}

/// Starts execution `name` of the STANDARD machine `machine_arn`; its ARN.
pub async fn start<S: crate::Store>(
    store: &S,
    machine_arn: &str,
    name: &str,
    input: &str,
) -> String {
    match store
        .start_execution(&new_execution(machine_arn, name, input))
        .await
    {
        Ok(Some(started)) => started.arn,
        other => panic!("execution {name} not started: {other:?}"),
    }
}

/// Every event of `arn`'s history, in order.
pub async fn history<S: crate::Store>(store: &S, arn: &str) -> Vec<crate::executions::StoredEvent> {
    match store.history_page(arn, None, 1_000_000, false).await {
        Ok(Some(events)) => events,
        other => panic!("no history for {arn}: {other:?}"),
    }
}
