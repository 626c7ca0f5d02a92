//! The verifier: reads each execution back through the API and checks it ended as its
//! kind must, with a history that records every transition exactly once.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::workload::Expected;

/// What one execution's check found; `None` fields are clean.
#[derive(Default)]
pub struct Verdict {
    /// The history breaks an invariant of exactly-once transitions.
    pub duplicated: Option<String>,
    /// It ended otherwise than its input says it must.
    pub wrong: Option<String>,
    /// Task attempts its history scheduled.
    pub scheduled: usize,
    /// Of those, how many the target never saw.
    pub never_invoked: usize,
    /// Invocations beyond the first of each attempt.
    pub duplicate_invocations: u32,
}

const TERMINAL: [&str; 4] = [
    "ExecutionSucceeded",
    "ExecutionFailed",
    "ExecutionTimedOut",
    "ExecutionAborted",
];

/// Checks one finished execution: `describe` is DescribeExecution's answer, `history`
/// every event in order, `invocations` what the target saw by idempotency key.
pub fn check(
    arn: &str,
    expected: &Expected,
    describe: &Value,
    history: &[Value],
    invocations: &HashMap<String, u32>,
) -> Verdict {
    let mut verdict = Verdict {
        duplicated: history_invariants(history).err(),
        ..Verdict::default()
    };
    let types: Vec<&str> = history
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    verdict.scheduled = types.iter().filter(|t| t.ends_with("Scheduled")).count();

    // Every scheduled attempt reached the target; repeats are duplicated invocations.
    let prefix = format!("{arn}/");
    let seen: Vec<u32> = invocations
        .iter()
        .filter(|(key, _)| key.starts_with(&prefix))
        .map(|(_, count)| *count)
        .collect();
    verdict.never_invoked = verdict.scheduled.saturating_sub(seen.len());
    verdict.duplicate_invocations = seen.iter().map(|c| c - 1).sum();

    verdict.wrong = outcome(expected, describe, history, verdict.scheduled).err();
    if verdict.duplicated.is_none() {
        // A state entered more often than the workflow's path goes through it is a
        // repeated transition, even when its entries and exits balance.
        if let Some((state, times, allowed)) = entries(history)
            .into_iter()
            .map(|(state, times)| {
                let allowed = expected
                    .entered
                    .iter()
                    .find(|(s, _)| *s == state)
                    .map_or(0, |e| e.1);
                (state, times, allowed)
            })
            .find(|(_, times, allowed)| times > allowed)
        {
            verdict.duplicated = Some(format!(
                "{state} entered {times} times, its path enters it {allowed}"
            ));
        }
    }
    verdict
}

/// How many times each state was entered.
fn entries(history: &[Value]) -> BTreeMap<String, usize> {
    let mut entered = BTreeMap::new();
    for event in history {
        if event["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("StateEntered"))
        {
            let name = event["stateEnteredEventDetails"]["name"]
                .as_str()
                .unwrap_or("");
            *entered.entry(name.to_string()).or_default() += 1;
        }
    }
    entered
}

/// Exactly-once, whatever the workflow: dense numbering, one start, one end per attempt
/// (each redrive follows an end), every task attempt started and ended once, every state
/// entered once per exit (a failed attempt may leave a state open, once per redrive),
/// every Parallel/Map joined once (a failed join is joined again after a redrive), every
/// Map iteration succeeded once.
fn history_invariants(history: &[Value]) -> Result<(), String> {
    for (i, event) in history.iter().enumerate() {
        let id = event["id"].as_u64().unwrap_or(0);
        if id != i as u64 + 1 {
            return Err(format!("event {i} has id {id}: numbering is not dense"));
        }
        let previous = event["previousEventId"].as_u64().unwrap_or(u64::MAX);
        if previous >= id {
            return Err(format!("event {id} follows {previous}"));
        }
    }
    let count = |t: &str| history.iter().filter(|e| e["type"] == t).count();
    if history.first().map(|e| &e["type"]) != Some(&Value::from("ExecutionStarted"))
        || count("ExecutionStarted") != 1
    {
        return Err("not exactly one ExecutionStarted, first".into());
    }
    let redrives = count("ExecutionRedriven");
    let ends: usize = TERMINAL.iter().map(|t| count(t)).sum();
    let last = history
        .last()
        .and_then(|e| e["type"].as_str())
        .unwrap_or("");
    if ends != redrives + 1 || !TERMINAL.contains(&last) {
        return Err(format!(
            "{ends} terminal events for {redrives} redrives, the last event is {last}"
        ));
    }
    for pair in history.windows(2) {
        let previous = pair[0]["type"].as_str().unwrap_or("");
        if pair[1]["type"] == "ExecutionRedriven" && !TERMINAL.contains(&previous) {
            return Err(format!("ExecutionRedriven follows {previous}"));
        }
    }
    for family in ["Task", "LambdaFunction"] {
        let scheduled = count(&format!("{family}Scheduled"));
        let started = count(&format!("{family}Started"));
        let ended = count(&format!("{family}Succeeded"))
            + count(&format!("{family}Failed"))
            + count(&format!("{family}TimedOut"));
        if scheduled != started || scheduled != ended {
            return Err(format!(
                "{family}: {scheduled} scheduled, {started} started, {ended} ended"
            ));
        }
    }
    let mut balance: BTreeMap<String, i64> = BTreeMap::new();
    for event in history {
        let t = event["type"].as_str().unwrap_or("");
        let name = |details: &str| event[details]["name"].as_str().unwrap_or("").to_string();
        if t.ends_with("StateEntered") && t != "FailStateEntered" {
            *balance.entry(name("stateEnteredEventDetails")).or_default() += 1;
        } else if t.ends_with("StateExited") {
            *balance.entry(name("stateExitedEventDetails")).or_default() -= 1;
        }
    }
    if let Some((state, n)) = balance
        .iter()
        .find(|(_, n)| **n < 0 || **n > redrives as i64)
    {
        return Err(format!("state {state} entered {n} more times than exited"));
    }
    for kind in ["Parallel", "Map"] {
        let entered = count(&format!("{kind}StateEntered"));
        let joined = count(&format!("{kind}StateSucceeded")) + count(&format!("{kind}StateFailed"));
        if joined < entered || joined > entered + redrives {
            return Err(format!("{kind}: entered {entered} times, joined {joined}"));
        }
    }
    let mut iterations: Vec<u64> = history
        .iter()
        .filter(|e| e["type"] == "MapIterationSucceeded")
        .map(|e| {
            e["mapIterationSucceededEventDetails"]["index"]
                .as_u64()
                .unwrap_or(u64::MAX)
        })
        .collect();
    let total = iterations.len();
    iterations.sort_unstable();
    iterations.dedup();
    if iterations.len() != total {
        return Err(format!(
            "{total} Map iterations succeeded, {} distinct",
            iterations.len()
        ));
    }
    Ok(())
}

fn outcome(
    expected: &Expected,
    describe: &Value,
    history: &[Value],
    scheduled: usize,
) -> Result<(), String> {
    let status = describe["status"].as_str().unwrap_or("");
    if status != expected.status {
        return Err(format!(
            "{status} ({} / {}), expected {}",
            describe["error"], describe["cause"], expected.status
        ));
    }
    if let Some(error) = expected.error {
        if describe["error"] != error {
            return Err(format!("error {}, expected {error}", describe["error"]));
        }
    }
    if let Some(output) = &expected.output {
        let got: Value = describe["output"]
            .as_str()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or(Value::Null);
        if &got != output {
            return Err(format!("output {got}, expected {output}"));
        }
    }
    if describe["redriveCount"].as_u64() != Some(expected.redrives as u64) {
        return Err(format!(
            "redriveCount {}, expected {}",
            describe["redriveCount"], expected.redrives
        ));
    }
    if scheduled != expected.scheduled {
        return Err(format!(
            "{scheduled} task attempts, expected {}",
            expected.scheduled
        ));
    }
    let entered = entries(history);
    for (state, times) in &expected.entered {
        let got = entered.get(*state).copied().unwrap_or(0);
        if got != *times {
            return Err(format!("{state} entered {got} times, expected {times}"));
        }
    }
    if let Some(items) = expected.map_items {
        let done = history
            .iter()
            .filter(|e| e["type"] == "MapIterationSucceeded")
            .count();
        if done != items {
            return Err(format!("{done} Map iterations, expected {items}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Kind;
    use serde_json::json;

    const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:wait:e5";

    /// The history of a Wait execution as Cairn records it.
    fn wait_history() -> Vec<Value> {
        let events = [
            ("ExecutionStarted", None),
            ("WaitStateEntered", Some("Nap")),
            ("WaitStateExited", Some("Nap")),
            ("PassStateEntered", Some("Done")),
            ("PassStateExited", Some("Done")),
            ("ExecutionSucceeded", None),
        ];
        events
            .iter()
            .enumerate()
            .map(|(i, (t, name))| {
                let mut event = json!({"id": i + 1, "previousEventId": i, "type": t});
                if let Some(name) = name {
                    let key = if t.ends_with("Entered") {
                        "stateEnteredEventDetails"
                    } else {
                        "stateExitedEventDetails"
                    };
                    event[key] = json!({"name": name});
                }
                event
            })
            .collect()
    }

    fn succeeded() -> Value {
        json!({"status": "SUCCEEDED", "redriveCount": 0, "output": json!({"id": 5, "nap": "rested"}).to_string()})
    }

    #[test]
    fn a_clean_history_passes() {
        let verdict = check(
            ARN,
            &Kind::Wait.expected(5),
            &succeeded(),
            &wait_history(),
            &HashMap::new(),
        );
        assert_eq!(verdict.duplicated, None);
        assert_eq!(verdict.wrong, None);
    }

    #[test]
    fn a_repeated_transition_is_caught() {
        let expected = Kind::Wait.expected(5);
        let renumber = |history: &mut Vec<Value>| {
            for (i, event) in history.iter_mut().enumerate() {
                event["id"] = json!(i + 1);
                event["previousEventId"] = json!(i);
            }
        };
        // The Pass state recorded twice: entries and exits balance, yet Done is entered
        // twice where the path goes through it once.
        let mut history = wait_history();
        history.insert(3, history[3].clone());
        history.insert(4, history[5].clone());
        renumber(&mut history);
        let verdict = check(ARN, &expected, &succeeded(), &history, &HashMap::new());
        assert!(verdict
            .duplicated
            .is_some_and(|why| why.contains("Done entered 2 times")));
        // An entry without its exit.
        history.remove(4);
        renumber(&mut history);
        let verdict = check(ARN, &expected, &succeeded(), &history, &HashMap::new());
        assert!(verdict
            .duplicated
            .is_some_and(|why| why.contains("state Done entered 1 more")));
    }

    #[test]
    fn gaps_wrong_outputs_and_missed_invocations_are_caught() {
        let mut history = wait_history();
        history.remove(2);
        let verdict = check(
            ARN,
            &Kind::Wait.expected(5),
            &succeeded(),
            &history,
            &HashMap::new(),
        );
        assert!(verdict.duplicated.is_some_and(|why| why.contains("dense")));

        let other = json!({"status": "SUCCEEDED", "redriveCount": 0, "output": "{\"id\": 6}"});
        let verdict = check(
            ARN,
            &Kind::Wait.expected(5),
            &other,
            &wait_history(),
            &HashMap::new(),
        );
        assert!(verdict.wrong.is_some_and(|why| why.contains("output")));

        // A callback whose task was scheduled but never reached the target, and a task
        // invoked three times.
        let mut history = wait_history();
        history.insert(1, json!({"type": "TaskScheduled"}));
        for (i, event) in history.iter_mut().enumerate() {
            event["id"] = json!(i + 1);
            event["previousEventId"] = json!(i);
        }
        let verdict = check(
            ARN,
            &Kind::Wait.expected(5),
            &succeeded(),
            &history,
            &HashMap::new(),
        );
        assert_eq!(verdict.never_invoked, 1);
        assert!(verdict
            .duplicated
            .is_some_and(|why| why.contains("1 scheduled, 0 started")));
        let seen = HashMap::from([(format!("{ARN}/Ask/1/0"), 3)]);
        let verdict = check(ARN, &Kind::Wait.expected(5), &succeeded(), &history, &seen);
        assert_eq!(
            (verdict.never_invoked, verdict.duplicate_invocations),
            (0, 2)
        );
    }
}
