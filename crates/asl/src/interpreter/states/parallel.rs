//! The Parallel state: one child frame per branch, joined in `join`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::Failure;
use crate::history::Details;
use crate::interpreter::frame::{Frame, Waiting};
use crate::interpreter::join::Join;
use crate::interpreter::jsonata::States;
use crate::interpreter::run::{Progress, Run};
use crate::interpreter::FrameId;
use crate::model::State;

impl Run<'_> {
    pub(super) fn run_parallel(
        &mut self,
        frame_id: FrameId,
        frame: &mut Frame,
        state: &State,
        parallel: &crate::model::Parallel,
    ) -> Result<Progress, Failure> {
        let effective = self.effective_input(frame, state)?;
        let branch_input = match (&parallel.parameters, &parallel.arguments) {
            (Some(parameters), _) => self.evaluate(frame, parameters, &effective, "Parameters")?,
            (None, Some(arguments)) => {
                self.jsonata_value(frame, arguments, States::input(&effective), "Arguments")?
            }
            (None, None) => effective,
        };
        self.record_for_frame(frame, "ParallelStateStarted", Details::default());
        let mut join = Join {
            is_map: false,
            effective_input: Value::Null,
            items: Vec::new(),
            next_item: 0,
            running: BTreeMap::new(),
            results: vec![None; parallel.branches.len()],
            done: 0,
            failures: 0,
            timed_out: 0,
            tolerated_failures: Some(0),
            max_concurrency: 0,
            stored: None,
            redo: BTreeMap::new(),
            relaunch: Default::default(),
            redriven: false,
            map_run: None,
            children: false,
            child_dates: BTreeMap::new(),
            batched_items: 0,
        };
        for (index, branch) in parallel.branches.iter().enumerate() {
            let child = self.child_frame(
                frame_id,
                frame,
                index,
                index,
                branch,
                branch_input.clone(),
                frame.quiet,
                None,
            );
            join.running.insert(index, child);
            self.ready.push_back(child);
        }
        if parallel.branches.is_empty() {
            return self.join_complete(frame, Join { ..join });
        }
        frame.waiting = Waiting::Children(Box::new(join));
        Ok(Progress::Blocked)
    }
}
