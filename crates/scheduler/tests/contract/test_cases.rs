//! [`cairn_store::TestCases`]: the test case an execution runs under a mock configuration, and the
//! mocked invocations each of its states has made.

use cairn_store::Store;

const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:m:run";

pub async fn a_test_case_is_attached_once_and_detached<S: Store>(store: S) {
    assert_eq!(
        store
            .test_case_of(EXECUTION)
            .await
            .expect("the store answers"),
        None
    );
    assert!(store
        .attach_test_case(EXECUTION, "HappyPath")
        .await
        .expect("the store answers"));
    // A second attach keeps the first test case.
    assert!(!store
        .attach_test_case(EXECUTION, "Other")
        .await
        .expect("the store answers"));
    assert_eq!(
        store
            .test_case_of(EXECUTION)
            .await
            .expect("the store answers")
            .as_deref(),
        Some("HappyPath")
    );
    store
        .detach_test_case(EXECUTION)
        .await
        .expect("the store answers");
    assert_eq!(
        store
            .test_case_of(EXECUTION)
            .await
            .expect("the store answers"),
        None
    );
    // Detaching what is not there is harmless.
    store
        .detach_test_case(EXECUTION)
        .await
        .expect("the store answers");
}

pub async fn each_state_counts_its_mocked_invocations_from_zero<S: Store>(store: S) {
    let next = |state: &'static str| {
        let store = store.clone();
        async move {
            store
                .next_mocked_invocation(EXECUTION, state)
                .await
                .expect("the store answers")
        }
    };
    assert_eq!(next("Pay").await, 0);
    assert_eq!(next("Pay").await, 1);
    assert_eq!(next("Check").await, 0);
    assert_eq!(next("Pay").await, 2);
    // Invocations counted at once all get their own number.
    let numbers = futures_join((0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.next_mocked_invocation(EXECUTION, "Map").await })
    }))
    .await;
    let mut numbers: Vec<u64> = numbers.into_iter().collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..8).collect::<Vec<_>>());
}

async fn futures_join(
    handles: impl Iterator<Item = tokio::task::JoinHandle<cairn_store::Result<u64>>>,
) -> Vec<u64> {
    let mut numbers = Vec::new();
    for handle in handles {
        numbers.push(handle.await.expect("the task ran").expect("counted"));
    }
    numbers
}
