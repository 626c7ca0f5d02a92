//! What the Distributed Map tests of the pure interpreter share: a definition validated
//! as the API validates it (features not built refused), and run options with a fixed
//! start time and seed.

use cairn_asl::driver::RunOptions;
use cairn_asl::interpreter::{ExecutionInfo, Limits};
use cairn_asl::timestamp::Timestamp;
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_asl::StateMachine;
use serde_json::Value;

pub fn machine(definition: &Value) -> StateMachine {
    let options = ValidateOptions {
        refuse_not_built: true,
        ..ValidateOptions::default()
    };
    match validate(&definition.to_string(), &options) {
        Ok((machine, _)) => machine,
        Err(diagnostics) => panic!("invalid definition: {diagnostics:?}"),
    }
}

pub fn options() -> RunOptions {
    RunOptions {
        info: ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(1_700_000_000_000)),
        limits: Limits::default(),
        seed: 3,
    }
}
