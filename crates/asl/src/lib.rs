//! `cairn-asl`: the Amazon States Language, pure.
//!
//! This crate performs no I/O, reads no clock and draws no randomness of its own. A
//! driver (the durable scheduler, the in-memory driver used by tests and Express
//! executions) feeds it events and carries out the commands it returns; time and
//! entropy arrive inside those events.
//!
//! Where to look:
//! - [`model`]: the definition as typed Rust values; [`parse`] builds it from JSON and
//!   [`validate`] checks it, both reporting AWS-shaped [`diagnostic::Diagnostic`]s.
//! - [`path`], [`template`], [`intrinsics`], [`choice`], [`timestamp`]: the data language;
//!   [`variables`]: workflow variables (`Assign`, `$name`); [`jsonata`]: the JSONata
//!   query language (`{% … %}`).
//! - [`interpreter`]: `start` and `step`, the sans-IO core; [`driver`] runs it in memory;
//!   [`test_state`] runs one state on its own, as AWS's TestState API does;
//!   [`mock_config`] reads Step Functions Local's mocked responses for test cases.

pub mod callback;
pub mod choice;
pub mod diagnostic;
pub mod distributed;
pub mod driver;
pub mod error;
pub mod history;
pub mod interpreter;
pub mod intrinsics;
pub mod jsonata;
pub mod mock_config;
pub mod model;
pub mod parse;
pub mod path;
pub mod payload;
pub mod random;
pub mod status;
pub mod task;
pub mod template;
pub mod test_state;
pub mod timestamp;
pub mod validate;
pub mod variables;

pub use diagnostic::{Diagnostic, DiagnosticCode};
pub use error::Failure;
pub use model::StateMachine;
pub use status::ExecutionStatus;
