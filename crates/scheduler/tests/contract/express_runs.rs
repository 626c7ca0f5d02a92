//! Asynchronous Express runs (at least once): a run is recorded with its owner's lease,
//! renewed in one call for many runs, taken over by exactly one of two replicas once
//! the lease has expired, and gone when it ends. Expiry is reached by asking with a
//! later `now`, so no scenario waits on the clock.

use cairn_store::catalog::{CreateOutcome, MachineType};
use cairn_store::express_runs::ExpressRun;
use cairn_store::testing;
use cairn_store::time::to_micros;
use cairn_store::Time;
use chrono::{TimeDelta, Utc};

use super::common::*;

const DEFINITION: &str = r#"{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}"#;

async fn express_machine<S: Store>(store: &S, name: &str) -> (String, i64) {
    let spec = testing::machine_spec(name, MachineType::Express, DEFINITION);
    match store.create_state_machine(&spec).await {
        Ok(CreateOutcome::Created { machine, .. }) => (machine.arn, machine.definition_id),
        other => panic!("machine {name} not created: {other:?}"),
    }
}

fn run(machine: &str, definition_id: i64, name: &str, started_at: Time) -> ExpressRun {
    ExpressRun {
        arn: format!(
            "{}:{name}:0000",
            machine.replace(":stateMachine:", ":express:")
        ),
        state_machine_arn: machine.to_string(),
        state_machine_name: "m".to_string(),
        definition_id,
        role_arn: "arn:aws:iam::123456789012:role/r".to_string(),
        logging: Some(r#"{"level":"OFF"}"#.to_string()),
        tracing: None,
        name: name.to_string(),
        input: r#"{"b": 2, "a": 1}"#.to_string(),
        started_at,
    }
}

fn seconds(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

pub async fn an_express_run_is_leased_renewed_taken_over_once_and_deleted<S: Store>(store: S) {
    let (machine, definition_id) = express_machine(&store, "express-at-least-once").await;
    let t0 = to_micros(Utc::now());
    let first = run(&machine, definition_id, "first", t0);
    let second = run(&machine, definition_id, "second", t0);
    for r in [&first, &second] {
        store
            .record_express_run(r, "replica-a", t0 + seconds(30))
            .await
            .expect("record");
    }
    assert_eq!(store.express_runs_in_flight().await.expect("count"), 2);

    // While the lease holds, nobody takes the runs over.
    let early = store
        .take_over_express_runs("replica-b", t0 + seconds(29), t0 + seconds(59), 10)
        .await
        .expect("takeover");
    assert!(early.is_empty(), "{early:?}");

    // One renewal for both runs; an ARN the owner does not hold is not renewed.
    let arns = vec![
        first.arn.clone(),
        second.arn.clone(),
        "arn:aws:states:us-east-1:123456789012:express:m:gone:0".to_string(),
    ];
    let renewed = store
        .renew_express_leases("replica-a", &arns, t0 + seconds(60))
        .await
        .expect("renew");
    assert_eq!(renewed, 2);
    assert_eq!(
        store
            .renew_express_leases("replica-b", &arns, t0 + seconds(600))
            .await
            .expect("renew by a non-owner"),
        0
    );
    let renewed_early = store
        .take_over_express_runs("replica-b", t0 + seconds(45), t0 + seconds(75), 10)
        .await
        .expect("takeover");
    assert!(renewed_early.is_empty(), "renewed leases are not expired");

    // The first run ends: deleted, and nothing is left of it to take over.
    let ended = [first.arn.clone()];
    assert_eq!(store.finish_express_runs(&ended).await.expect("finish"), 1);
    assert_eq!(store.finish_express_runs(&ended).await.expect("again"), 0);

    // replica-a stops renewing; after its lease, replica-b takes the second run over
    // with what is needed to run it again from the start.
    let taken = store
        .take_over_express_runs("replica-b", t0 + seconds(61), t0 + seconds(91), 10)
        .await
        .expect("takeover");
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].run, second);
    assert_eq!(taken[0].definition, DEFINITION);
    assert_eq!(taken[0].takeovers, 1);
    // It is replica-b's now: replica-a's renewal no longer reaches it.
    assert_eq!(
        store
            .renew_express_leases("replica-a", &arns, t0 + seconds(600))
            .await
            .expect("renew by the old owner"),
        0
    );
    assert_eq!(
        store
            .renew_express_leases("replica-b", &arns, t0 + seconds(120))
            .await
            .expect("renew by the new owner"),
        1
    );
    // Taken over again after that lease: the count goes on.
    let again = store
        .take_over_express_runs("replica-c", t0 + seconds(121), t0 + seconds(151), 10)
        .await
        .expect("takeover");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].takeovers, 2);

    assert_eq!(
        store
            .finish_express_runs(&[second.arn.clone(), first.arn.clone()])
            .await
            .expect("finish"),
        1
    );
    assert_eq!(store.express_runs_in_flight().await.expect("count"), 0);
}

pub async fn concurrent_takeovers_give_each_expired_run_to_one_replica<S: Store>(store: S) {
    let (machine, definition_id) = express_machine(&store, "express-takeover-race").await;
    let t0 = to_micros(Utc::now());
    // Recorded at once, as concurrent StartExecution calls are (Postgres batches them).
    let mut recording = tokio::task::JoinSet::new();
    let mut arns = Vec::new();
    for i in 0..40 {
        let r = run(&machine, definition_id, &format!("run-{i}"), t0);
        arns.push(r.arn.clone());
        let store = store.clone();
        recording.spawn(async move {
            store
                .record_express_run(&r, "dead-replica", t0 + seconds(1))
                .await
        });
    }
    while let Some(recorded) = recording.join_next().await {
        recorded.expect("joined").expect("recorded");
    }
    assert_eq!(store.express_runs_in_flight().await.expect("count"), 40);
    let later = t0 + seconds(2);
    let claim = |owner: &'static str| {
        let store = store.clone();
        async move {
            let mut mine = Vec::new();
            loop {
                let taken = store
                    .take_over_express_runs(owner, later, later + seconds(30), 3)
                    .await
                    .expect("takeover");
                if taken.is_empty() {
                    return mine;
                }
                mine.extend(taken.into_iter().map(|t| t.run.arn));
            }
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(claim("replica-a")),
        tokio::spawn(claim("replica-b"))
    );
    let (a, b) = (a.expect("a"), b.expect("b"));
    let mut all: Vec<String> = a.iter().chain(b.iter()).cloned().collect();
    all.sort();
    let mut expected = arns.clone();
    expected.sort();
    assert_eq!(all, expected, "every expired run taken over exactly once");
    assert_eq!(
        store.express_runs_in_flight().await.expect("count"),
        40,
        "a takeover keeps the row"
    );
}
