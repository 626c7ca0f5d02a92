//! `cairn run --mock-config FILE --test-case NAME`: Task states answered by a Step
//! Functions Local test case (see `cairn_asl::mock_config`), each mocked state counting
//! its invocations from 0 across retries, loops and Map iterations, as Step Functions
//! Local counts them. States the test case does not mock fall back to `--task-result`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use cairn_asl::driver::TaskHandler;
use cairn_asl::interpreter::TaskRequest;
use cairn_asl::mock_config::{MockConfig, TestCase};
use cairn_asl::task::TaskOutcome;

/// Answers mocked states from a test case, the others from `fallback`.
pub struct MockedTasks<F> {
    case: TestCase,
    invocations: HashMap<String, u64>,
    fallback: F,
}

impl<F: TaskHandler> MockedTasks<F> {
    /// The test case `case` of `file`, for the state machine `machine` (or, without one,
    /// `default_machine`, or else the only machine that has the case).
    pub fn load(
        file: &Path,
        machine: Option<&str>,
        default_machine: &str,
        case: &str,
        fallback: F,
    ) -> Result<MockedTasks<F>> {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let config = MockConfig::parse(&text).with_context(|| format!("in {}", file.display()))?;
        let machine = match machine {
            Some(machine) => machine.to_string(),
            None if config.test_case(default_machine, case).is_some() => {
                default_machine.to_string()
            }
            None => {
                let having: Vec<&str> = config.machines_with_case(case).collect();
                match having.as_slice() {
                    [only] => only.to_string(),
                    [] => bail!(
                        "no state machine in {} has a test case '{case}'",
                        file.display()
                    ),
                    several => bail!(
                        "test case '{case}' is defined for several state machines ({}): name one with --state-machine",
                        several.join(", ")
                    ),
                }
            }
        };
        let Some(test_case) = config.test_case(&machine, case) else {
            bail!(
                "state machine '{machine}' has no test case '{case}' in {}",
                file.display()
            );
        };
        Ok(MockedTasks {
            case: test_case.clone(),
            invocations: HashMap::new(),
            fallback,
        })
    }
}

impl<F: TaskHandler> TaskHandler for MockedTasks<F> {
    fn invoke(&mut self, task: &TaskRequest) -> TaskOutcome {
        if !self.case.mocks(&task.state_name) {
            return self.fallback.invoke(task);
        }
        let count = self.invocations.entry(task.state_name.clone()).or_insert(0);
        let invocation = *count;
        *count += 1;
        self.case
            .outcome(&task.state_name, invocation)
            .unwrap_or_else(|| self.fallback.invoke(task))
    }
}
