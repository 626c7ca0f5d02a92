//! What the scheduler's tests share: a machine and an execution in the store, and a
//! worker that answers tasks.

use std::time::Duration;

use cairn_asl::interpreter::Event;
use cairn_store::executions::StoredEvent;
use cairn_store::tasks::Completion;
use cairn_store::{testing, Store};
use serde_json::Value;

/// A STANDARD machine named `name`: its ARN.
pub async fn machine<S: Store>(store: &S, name: &str, definition: Value) -> String {
    testing::create_machine(store, name, &definition.to_string()).await
}

/// Starts execution `name` of `machine`; its ARN.
pub async fn start<S: Store>(store: &S, machine: &str, name: &str, input: Value) -> String {
    testing::start(store, machine, name, &input.to_string()).await
}

/// Leases every task that is due and records `output(input)` as its result: the
/// completions, and which of them were recorded.
pub async fn answer_tasks<S: Store>(
    store: &S,
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

/// Every event of `arn`'s history, in order.
pub async fn history<S: Store>(store: &S, arn: &str) -> Vec<StoredEvent> {
    testing::history(store, arn).await
}
