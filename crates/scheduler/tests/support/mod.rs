//! What the scheduler's tests share: a machine and an execution in the store, and a
//! worker that answers tasks.

use std::time::Duration;

use cairn_asl::interpreter::Event;
use cairn_store::postgres::PgStore;
use cairn_store::{Completion, NewExecution, NewStateMachine, Store};
use serde_json::Value;

const ACCOUNT_PREFIX: &str = "arn:aws:states:us-east-1:123456789012";

pub async fn machine(store: &PgStore, name: &str, definition: Value) -> (String, i64) {
    let arn = format!("{ACCOUNT_PREFIX}:stateMachine:{name}");
    let row = store
        .create_state_machine(&NewStateMachine {
            arn: arn.clone(),
            name: name.to_string(),
            machine_type: "STANDARD".to_string(),
            definition: definition.to_string(),
            role_arn: "arn:aws:iam::123456789012:role/r".to_string(),
        })
        .await
        .expect("create machine");
    (arn, row.definition_id)
}

pub async fn start(store: &PgStore, machine: &(String, i64), name: &str, input: Value) -> String {
    let machine_name = machine.0.rsplit(':').next().unwrap_or_default();
    let arn = format!("{ACCOUNT_PREFIX}:execution:{machine_name}:{name}");
    store
        .start_execution(&NewExecution {
            arn: arn.clone(),
            state_machine_arn: machine.0.clone(),
            name: name.to_string(),
            definition_id: machine.1,
            role_arn: "arn:aws:iam::123456789012:role/r".to_string(),
            input: input.to_string(),
            started_at: chrono::Utc::now(),
            trace: None,
        })
        .await
        .expect("start");
    arn
}

/// Leases every task that is due and records `output(input)` as its result: the
/// completions, and which of them were recorded.
pub async fn answer_tasks(
    store: &PgStore,
    output: impl Fn(Value) -> Value,
) -> (Vec<Completion>, Vec<bool>) {
    let tasks = store
        .lease_tasks("test-worker", 100, Duration::from_secs(30))
        .await
        .expect("lease");
    let completions: Vec<Completion> = tasks
        .iter()
        .map(|task| Completion {
            task: task.clone(),
            event: Event::TaskSucceeded {
                task: task.task_id as u64,
                output: output(serde_json::from_str(&task.input).expect("json")),
            },
        })
        .collect();
    let recorded = store.complete_tasks(&completions).await.expect("complete");
    (completions, recorded)
}
