//! The names of a Map Run and of its child executions, shaped as AWS's.
//!
//! AWS documents a Map Run ARN as
//! `arn:<partition>:states:<region>:<account>:mapRun:<machine>/<label>:<id>` (for example
//! `…:mapRun:demoWorkflow/demoLabel:3c39a231-69bb-3d89-8607-9e124eddbb0b`), its child
//! executions as executions of the labelled machine `…:stateMachine:<machine>/<label>`,
//! so a child's ARN is `…:execution:<machine>/<label>:<child name>`.
//!
//! The Map state names its Map Run here (`MapRunStarted`'s `mapRunArn`), its id derived
//! from the execution and the run's key so a replay names the same run; a STANDARD run's
//! children are named with [`MapRunArn::child_execution_arn`] (`interpreter/children.rs`).
//! An EXPRESS run's children carry the same names in AWS's Express execution ARN form,
//! `…:express:<machine>/<label>:<name>:<id>` ([`MapRunArn::express_child_execution_arn`]),
//! which is what `$$.Execution.Id` shows inside such an iteration
//! (`interpreter/context.rs`). Pure: the id comes in.

use crate::callback::derived_uuid;
use crate::parse::{is_invalid_label_char, MAX_LABEL_CHARS};

/// The name of a Map Run's child for item `index` (STANDARD or EXPRESS): derived from
/// the run and the index, so a replayed step names the same child, a redrive of the
/// parent redrives that child, and a result record names it without asking the child.
pub fn child_name(map_run_arn: &str, index: u64) -> String {
    derived_uuid(&format!("{map_run_arn}/{index}"))
}

/// A Map Run's ARN, in parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRunArn {
    pub partition: String,
    pub region: String,
    pub account: String,
    /// The name of the state machine whose execution ran the Distributed Map.
    pub machine: String,
    /// The Map's `Label`, or [`default_label`] of its state name.
    pub label: String,
    /// Unique per Map Run (a UUID).
    pub id: String,
}

impl MapRunArn {
    /// The Map Run `id` of a Distributed Map labelled `label` in the execution
    /// `execution_arn` (`arn:…:execution:<machine>:<name>`). `None` when that is no
    /// execution ARN. A child execution's ARN (`…:execution:<machine>/<label>:<name>`)
    /// names its root machine, so a nested Map Run stays under it.
    pub fn for_execution(execution_arn: &str, label: &str, id: &str) -> Option<MapRunArn> {
        let parts: Vec<&str> = execution_arn.split(':').collect();
        let [arn, partition, states, region, account, "execution", machine, name] = parts[..]
        else {
            return None;
        };
        if arn != "arn" || states != "states" || partition.is_empty() || name.is_empty() {
            return None;
        }
        let machine = machine.split('/').next().unwrap_or(machine);
        // A `/` in the label would make the ARN ambiguous (`parse` refuses it).
        if machine.is_empty() || label.is_empty() || label.contains('/') || id.is_empty() {
            return None;
        }
        Some(MapRunArn {
            partition: partition.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            machine: machine.to_string(),
            label: label.to_string(),
            id: id.to_string(),
        })
    }

    /// Reads `arn:<partition>:states:<region>:<account>:mapRun:<machine>/<label>:<id>`;
    /// `None` for anything else.
    pub fn parse(text: &str) -> Option<MapRunArn> {
        let parts: Vec<&str> = text.split(':').collect();
        let [arn, partition, states, region, account, "mapRun", qualified, id] = parts[..] else {
            return None;
        };
        let (machine, label) = qualified.split_once('/')?;
        let fine = arn == "arn"
            && states == "states"
            && !partition.is_empty()
            && !machine.is_empty()
            && !label.is_empty()
            && !label.contains('/')
            && !id.is_empty();
        fine.then(|| MapRunArn {
            partition: partition.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            machine: machine.to_string(),
            label: label.to_string(),
            id: id.to_string(),
        })
    }

    fn prefix(&self) -> String {
        format!(
            "arn:{}:states:{}:{}",
            self.partition, self.region, self.account
        )
    }

    /// The ARN as text.
    pub fn arn(&self) -> String {
        format!(
            "{}:mapRun:{}/{}:{}",
            self.prefix(),
            self.machine,
            self.label,
            self.id
        )
    }

    /// The labelled machine the children are executions of.
    pub fn child_state_machine_arn(&self) -> String {
        format!(
            "{}:stateMachine:{}/{}",
            self.prefix(),
            self.machine,
            self.label
        )
    }

    /// A child execution's ARN, for its `name`.
    pub fn child_execution_arn(&self, name: &str) -> String {
        format!(
            "{}:execution:{}/{}:{name}",
            self.prefix(),
            self.machine,
            self.label
        )
    }

    /// An EXPRESS child's ARN, for its `name`: an Express execution's ARN ends with an
    /// id after the name, here derived from the run and the name, so the iteration's
    /// `$$.Execution.Id` and its result record name the same child.
    pub fn express_child_execution_arn(&self, name: &str) -> String {
        let id = derived_uuid(&format!("{}/{name}/express", self.arn()));
        format!(
            "{}:express:{}/{}:{name}:{id}",
            self.prefix(),
            self.machine,
            self.label
        )
    }
}

/// The label of a Distributed Map without `Label`: its state name when that is a valid
/// label, else the name without the characters a label may not hold, cut to
/// [`MAX_LABEL_CHARS`] (`Map` if nothing is left). AWS generates a label of its own here;
/// the state name is Cairn's choice, so an operator can tell Map Runs apart.
pub fn default_label(state_name: &str) -> String {
    let label: String = state_name
        .chars()
        .filter(|c| !is_invalid_label_char(*c) && *c != '/')
        .take(MAX_LABEL_CHARS)
        .collect();
    if label.is_empty() {
        "Map".to_string()
    } else {
        label
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:demoWorkflow:run-1";
    const ID: &str = "3c39a231-69bb-3d89-8607-9e124eddbb0b";

    #[test]
    fn a_map_run_arn_is_shaped_as_aws_documents_it() {
        let run = MapRunArn::for_execution(EXECUTION, "demoLabel", ID).expect("an execution");
        assert_eq!(
            run.arn(),
            "arn:aws:states:us-east-1:123456789012:mapRun:demoWorkflow/demoLabel:3c39a231-69bb-3d89-8607-9e124eddbb0b"
        );
        assert_eq!(MapRunArn::parse(&run.arn()), Some(run.clone()));
        assert_eq!(
            run.child_state_machine_arn(),
            "arn:aws:states:us-east-1:123456789012:stateMachine:demoWorkflow/demoLabel"
        );
        assert_eq!(
            run.child_execution_arn("c1"),
            "arn:aws:states:us-east-1:123456789012:execution:demoWorkflow/demoLabel:c1"
        );
        let express = run.express_child_execution_arn("c1");
        let prefix = "arn:aws:states:us-east-1:123456789012:express:demoWorkflow/demoLabel:c1:";
        let id = express.strip_prefix(prefix).expect("the Express form");
        assert_eq!(id.len(), 36, "{express}");
        assert_ne!(express, run.express_child_execution_arn("c2"));
    }

    #[test]
    fn a_child_executions_map_run_stays_under_the_root_machine() {
        let child = "arn:aws-cn:states:cn-north-1:123456789012:execution:root/outer:c1";
        let run = MapRunArn::for_execution(child, "inner", ID).expect("an execution");
        assert_eq!(
            run.arn(),
            format!("arn:aws-cn:states:cn-north-1:123456789012:mapRun:root/inner:{ID}")
        );
    }

    #[test]
    fn what_is_not_an_execution_or_a_map_run_is_refused() {
        for bad in [
            "",
            "arn:aws:states:us-east-1:123456789012:stateMachine:m",
            "arn:aws:states:us-east-1:123456789012:execution:m",
            "arn:aws:states:us-east-1:123456789012:execution:m:",
            "arn:aws:lambda:us-east-1:123456789012:execution:m:n",
            "arn::states:us-east-1:123456789012:execution:m:n",
        ] {
            assert_eq!(MapRunArn::for_execution(bad, "l", ID), None, "{bad}");
        }
        assert_eq!(MapRunArn::for_execution(EXECUTION, "", ID), None);
        assert_eq!(MapRunArn::for_execution(EXECUTION, "l", ""), None);
        assert_eq!(MapRunArn::for_execution(EXECUTION, "a/b", ID), None);
        for bad in [
            "",
            "arn:aws:states:us-east-1:123456789012:mapRun:m:id",
            "arn:aws:states:us-east-1:123456789012:mapRun:m/:id",
            "arn:aws:states:us-east-1:123456789012:mapRun:/l:id",
            "arn:aws:states:us-east-1:123456789012:mapRun:m/l/x:id",
            "arn:aws:states:us-east-1:123456789012:mapRun:m/l:",
            "arn:aws:states:us-east-1:123456789012:mapRun:m/l:id:extra",
            "arn:aws:states:us-east-1:123456789012:execution:m/l:id",
        ] {
            assert_eq!(MapRunArn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_default_label_is_the_state_name_made_valid() {
        assert_eq!(default_label("Process-Batch_1"), "Process-Batch_1");
        assert_eq!(default_label("Process batch: {all}"), "Processbatchall");
        assert_eq!(default_label("a/b"), "ab");
        assert_eq!(default_label(&"x".repeat(80)), "x".repeat(MAX_LABEL_CHARS));
        assert_eq!(default_label(" ${}"), "Map");
    }
}
