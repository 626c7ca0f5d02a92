//! A STANDARD Distributed Map's iterations as child executions: started in the commit
//! of the parent's advance that counts them running, never more running than
//! MaxConcurrency, each end taken in by the parent once, and stopped with their run.

use cairn_asl::interpreter::MapRunStatus;
use cairn_asl::ExecutionStatus;
use cairn_store::executions::{ExecutionSummary, ExecutionsOf};
use serde_json::{json, Value};

use super::common::*;

fn fan_out(max_concurrency: u64) -> Value {
    json!({"StartAt": "Fan", "States": {"Fan": {"Type": "Map", "Label": "fan",
        "MaxConcurrency": max_concurrency,
        "ItemSelector": {"n.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": LAMBDA, "End": true}}},
        "End": true}}})
}

async fn children<S: Store>(store: &S, run_arn: &str) -> Vec<ExecutionSummary> {
    store
        .list_executions(
            &ExecutionsOf::MapRun(run_arn.to_string()),
            None,
            None,
            None,
            1000,
        )
        .await
        .expect("list")
}

async fn running<S: Store>(store: &S, run_arn: &str) -> usize {
    children(store, run_arn)
        .await
        .iter()
        .filter(|c| c.status == ExecutionStatus::Running)
        .count()
}

async fn run_of<S: Store>(store: &S, execution: &str) -> String {
    let runs = store
        .list_map_runs(execution, None, 10)
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].arn.clone()
}

pub async fn map_children_start_in_the_parents_commit_under_max_concurrency<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "fanned", fan_out(2)).await;
    let arn = start(&store, &machine, "five", json!([1, 2, 3, 4, 5])).await;
    // The parent's first advance, alone: it starts two children in its commit.
    assert_eq!(scheduler.tick().await.expect("tick"), 1);
    let run_arn = run_of(&store, &arn).await;
    let first = children(&store, &run_arn).await;
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first.iter().all(|c| c.status == ExecutionStatus::Running));
    assert!(first
        .iter()
        .all(|c| c.state_machine_arn.ends_with(":stateMachine:fanned/fan")));
    let child = describe(&store, &first[0].arn).await;
    assert_eq!(child.map_run_arn.as_deref(), Some(run_arn.as_str()));
    assert_eq!(
        store
            .list_executions(
                &ExecutionsOf::Machine(machine.clone()),
                None,
                None,
                None,
                10
            )
            .await
            .expect("list")
            .len(),
        1,
        "the children are not the machine's executions"
    );

    // One task answered at a time: never more than two children run.
    settle(&scheduler).await;
    let mut answered = 0;
    loop {
        assert!(running(&store, &run_arn).await <= 2);
        let tasks = lease(&store, "contract-worker").await;
        assert!(tasks.len() <= 2, "{tasks:?}");
        let Some(task) = tasks.first() else {
            break;
        };
        let input = input_of(task);
        assert!(complete(&store, task, succeeded(task, json!({"done": input}))).await);
        answered += 1;
        settle(&scheduler).await;
        if answered > 20 {
            panic!("tasks kept coming");
        }
        // Leased but unanswered tasks wait for their lease to lapse: answer them too.
        for other in &tasks[1..] {
            let input = input_of(other);
            assert!(complete(&store, other, succeeded(other, json!({"done": input}))).await);
            answered += 1;
        }
        settle(&scheduler).await;
    }
    assert_eq!(answered, 5, "each child's task once");
    let parent = describe(&store, &arn).await;
    assert_eq!(parent.status, ExecutionStatus::Succeeded, "{parent:?}");
    let results: Vec<Value> = (1..=5).map(|n| json!({"done": {"n": n}})).collect();
    assert_eq!(
        output(&parent),
        Value::Array(results),
        "each child's end, once, in order"
    );
    let all = children(&store, &run_arn).await;
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|c| c.status == ExecutionStatus::Succeeded));
    let run = store
        .describe_map_run(&run_arn)
        .await
        .expect("describe")
        .expect("kept");
    assert_eq!(
        (run.status, run.succeeded, run.failed, run.running),
        (MapRunStatus::Succeeded, 5, 0, 0)
    );
    let history = event_types(&store, &all[0].arn).await;
    assert_eq!(
        history.first().map(String::as_str),
        Some("ExecutionStarted")
    );
    assert_eq!(
        history.last().map(String::as_str),
        Some("ExecutionSucceeded")
    );
}

pub async fn a_stopped_parent_aborts_its_map_children<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "stopped", fan_out(3)).await;
    let arn = start(&store, &machine, "stop", json!([1, 2, 3, 4])).await;
    settle(&scheduler).await;
    let run_arn = run_of(&store, &arn).await;
    assert_eq!(running(&store, &run_arn).await, 3);
    store
        .stop_execution(&arn, Some("Operator.Stop"), None)
        .await
        .expect("stop");
    settle(&scheduler).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Aborted);
    let all = children(&store, &run_arn).await;
    assert_eq!(all.len(), 3, "the fourth item never started");
    assert!(
        all.iter().all(|c| c.status == ExecutionStatus::Aborted),
        "{all:?}"
    );
    let run = store
        .describe_map_run(&run_arn)
        .await
        .expect("describe")
        .expect("kept");
    assert_eq!(run.status, MapRunStatus::Aborted);
    // Their tasks are cancelled with them: nothing is left to lease.
    assert!(lease(&store, "contract-worker").await.is_empty());
}
