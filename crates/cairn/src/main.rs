//! The `cairn` command line.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use cairn_asl::diagnostic::invalid_definition_message;
use cairn_asl::driver::{self, RunOptions, TaskHandler, TaskInvocation, TaskOutcome};
use cairn_asl::interpreter::{ExecutionInfo, Limits};
use cairn_asl::timestamp::Timestamp;
use cairn_asl::validate::{validate, ValidateOptions};
use clap::{Parser, Subcommand};
use serde_json::Value;

/// Cairn runs Amazon States Language state machines (the language of AWS Step Functions).
#[derive(Parser)]
#[command(name = "cairn", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a state machine definition as AWS's ValidateStateMachineDefinition does.
    ///
    /// Prints one line per diagnostic (code, location, message) and exits with status 1
    /// when the definition is invalid.
    Validate {
        /// The definition file (ASL JSON); `-` reads standard input.
        definition: PathBuf,
        /// Validate as an EXPRESS state machine (refuses `.sync` and `.waitForTaskToken`).
        #[arg(long)]
        express: bool,
    },
    /// Run a state machine to completion in memory, with waits and retries on a virtual
    /// clock, and print the result as JSON.
    ///
    /// Nothing is persisted. Task states are answered by `--task-result` values; a task
    /// with none fails with `States.TaskFailed`.
    Run {
        /// The definition file (ASL JSON); `-` reads standard input.
        definition: PathBuf,
        /// The execution input, as JSON text.
        #[arg(long, default_value = "{}")]
        input: String,
        /// Answer Task states whose Resource is RESOURCE with JSON: `RESOURCE=JSON`.
        /// Repeat for several resources.
        #[arg(long = "task-result", value_name = "RESOURCE=JSON")]
        task_results: Vec<String>,
        /// Also print the execution history.
        #[arg(long)]
        history: bool,
        /// The execution name used in `$$.Execution`.
        #[arg(long, default_value = "local")]
        name: String,
    },
}

fn main() -> ExitCode {
    match dispatch(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("cairn: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Validate {
            definition,
            express,
        } => {
            let text = read_source(&definition)?;
            let options = ValidateOptions {
                express,
                ..ValidateOptions::default()
            };
            match validate(&text, &options) {
                Ok((_, warnings)) => {
                    for w in &warnings {
                        println!("WARNING {} {} {}", w.code.as_str(), w.location, w.message);
                    }
                    println!("OK");
                    Ok(ExitCode::SUCCESS)
                }
                Err(diagnostics) => {
                    for d in &diagnostics {
                        println!("ERROR {} {} {}", d.code.as_str(), d.location, d.message);
                    }
                    eprintln!("{}", invalid_definition_message(&diagnostics));
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Run {
            definition,
            input,
            task_results,
            history,
            name,
        } => {
            let text = read_source(&definition)?;
            let machine = match validate(&text, &ValidateOptions::default()) {
                Ok((machine, _)) => machine,
                Err(diagnostics) => {
                    anyhow::bail!("{}", invalid_definition_message(&diagnostics));
                }
            };
            let input: Value = serde_json::from_str(&input).context("--input is not JSON")?;
            let mut tasks = FixedResults::parse(&task_results)?;
            let machine_name = definition
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("local")
                .trim_end_matches(".asl")
                .to_string();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let options = RunOptions {
                info: ExecutionInfo::example(
                    &machine_name,
                    &name,
                    Timestamp::from_unix_millis(now),
                ),
                limits: Limits::default(),
                seed: now as u64,
            };
            let outcome = driver::run(&machine, input, &options, &mut tasks);
            let mut report = serde_json::Map::new();
            report.insert(
                "status".into(),
                Value::String(outcome.status.as_str().into()),
            );
            if let Some(output) = outcome.output {
                report.insert("output".into(), output);
            }
            if let Some(error) = outcome.error {
                report.insert("error".into(), Value::String(error));
            }
            if let Some(cause) = outcome.cause {
                report.insert("cause".into(), Value::String(cause));
            }
            if history {
                report.insert("history".into(), serde_json::to_value(&outcome.history)?);
            }
            println!("{}", serde_json::to_string_pretty(&Value::Object(report))?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read_source(path: &Path) -> Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Answers each Task resource with a fixed JSON result given on the command line.
struct FixedResults(Vec<(String, Value)>);

impl FixedResults {
    fn parse(args: &[String]) -> Result<Self> {
        let mut results = Vec::new();
        for arg in args {
            let (resource, json) = arg
                .split_once('=')
                .with_context(|| format!("--task-result '{arg}' is not RESOURCE=JSON"))?;
            let value = serde_json::from_str(json)
                .with_context(|| format!("--task-result for '{resource}' is not JSON"))?;
            results.push((resource.to_string(), value));
        }
        Ok(FixedResults(results))
    }
}

impl TaskHandler for FixedResults {
    fn invoke(&mut self, task: &TaskInvocation) -> TaskOutcome {
        match self
            .0
            .iter()
            .find(|(resource, _)| *resource == task.resource)
        {
            Some((_, value)) => TaskOutcome::Succeeded(value.clone()),
            None => TaskOutcome::Failed {
                error: "States.TaskFailed".to_string(),
                cause: Some(format!(
                    "cairn run has no result for resource '{}' (give one with --task-result)",
                    task.resource
                )),
            },
        }
    }
}
