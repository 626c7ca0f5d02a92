//! The `cairn` command line.

mod config;
mod mocked;
mod server;
mod tls;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use cairn_asl::diagnostic::invalid_definition_message;
use cairn_asl::distributed::results::WRITE_RESULTS_RESOURCE;
use cairn_asl::driver::{self, RunOptions, TaskHandler};
use cairn_asl::error::names;
use cairn_asl::interpreter::{ExecutionInfo, Limits};
use cairn_asl::interpreter::{TaskRequest, READ_ITEMS_RESOURCE};
use cairn_asl::task::TaskOutcome;
use cairn_asl::timestamp::Timestamp;
use cairn_asl::validate::{validate, ValidateOptions};
use clap::{Parser, Subcommand};
use config::Config;
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
    /// Run the Step Functions API, the schedulers and the task workers against Postgres.
    ///
    /// The database (DATABASE_URL) is created and migrated if needed. Stops cleanly on
    /// SIGTERM or Ctrl-C: no new work is claimed, running tasks finish and are recorded.
    Server {
        /// Configuration file (TOML); environment variables override it.
        #[arg(long, env = "CAIRN_CONFIG")]
        config: Option<PathBuf>,
        /// Address for the API (overrides the file and CAIRN_LISTEN).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Run the API, the schedulers and the task workers of `cairn server` in this
    /// process's memory: no Postgres, nothing to install. Nothing survives a restart.
    ///
    /// The same settings as `cairn server` (`--listen`, the configuration file,
    /// `CAIRN_FUNCTIONS`, `AWS_ENDPOINT_URL_*`, ...); `DATABASE_URL` is not read.
    Dev {
        /// Configuration file (TOML); environment variables override it.
        #[arg(long, env = "CAIRN_CONFIG")]
        config: Option<PathBuf>,
        /// Address for the API (overrides the file and CAIRN_LISTEN).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Run task workers only (no API, no scheduler), for scaling invocation separately.
    Worker {
        /// Configuration file (TOML); environment variables override it.
        #[arg(long, env = "CAIRN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Create the database if needed and apply migrations, then exit.
    Migrate {
        /// Configuration file (TOML); environment variables override it.
        #[arg(long, env = "CAIRN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check a state machine definition as AWS's ValidateStateMachineDefinition does.
    ///
    /// Prints one line per diagnostic (code, location, message), then `OK` when the
    /// definition is valid.
    ///
    /// Exit status: 0 when the definition is valid (warnings do not count); 1 when it is
    /// invalid, text that is not JSON included (AWS's summary on standard error); 2 on bad
    /// usage or a file that cannot be read (the error on standard error).
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
    /// with none fails with `States.TaskFailed`. With `--mock-config` and `--test-case`,
    /// the states the test case mocks are answered by its mocked responses, as Step
    /// Functions Local answers them (the history is printed then).
    ///
    /// Exit status: 0 when the execution SUCCEEDED; 1 when it did not (FAILED, TIMED_OUT,
    /// ABORTED, or still RUNNING when nothing is left to do), its outcome printed all the
    /// same; 2 on bad usage, a definition that cannot be read or is invalid, or an
    /// `--input` or `--task-result` that is not JSON (the error on standard error; nothing
    /// is run).
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
        /// A Step Functions Local mock configuration (MockConfigFile.json).
        #[arg(long, value_name = "FILE", requires = "test_case")]
        mock_config: Option<PathBuf>,
        /// The test case of the mock configuration to run.
        #[arg(long, value_name = "NAME", requires = "mock_config")]
        test_case: Option<String>,
        /// The state machine whose test case it is, in the mock configuration (default:
        /// the definition file's name without `.asl.json`, or the one machine that has
        /// the test case).
        #[arg(long, value_name = "NAME", requires = "mock_config")]
        state_machine: Option<String>,
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
        Command::Server { config, listen } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            long_running(server::run(config, server::Role::Server))
        }
        Command::Dev { config, listen } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            long_running(server::dev(config))
        }
        Command::Worker { config } => {
            let config = Config::load(config.as_deref())?;
            long_running(server::run(config, server::Role::Worker))
        }
        Command::Migrate { config } => {
            let config = Config::load(config.as_deref())?;
            long_running(async move {
                server::migrate(&config).await?;
                println!("database is migrated");
                Ok(())
            })
        }
        Command::Validate {
            definition,
            express,
        } => {
            use std::io::Write as _;
            let text = read_source(&definition)?;
            let options = ValidateOptions {
                express,
                refuse_not_built: true,
                ..ValidateOptions::default()
            };
            // Written, not `println!`ed: a closed standard output (`| head`) is an error
            // (exit status 2), not a panic.
            let mut out = std::io::stdout().lock();
            let written = "writing to standard output";
            match validate(&text, &options) {
                Ok((_, warnings)) => {
                    for w in &warnings {
                        let (code, at, message) = (w.code.as_str(), &w.location, &w.message);
                        writeln!(out, "WARNING {code} {at} {message}").context(written)?;
                    }
                    writeln!(out, "OK").context(written)?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(diagnostics) => {
                    for d in &diagnostics {
                        let (code, at, message) = (d.code.as_str(), &d.location, &d.message);
                        writeln!(out, "ERROR {code} {at} {message}").context(written)?;
                    }
                    out.flush().context(written)?;
                    let _ = writeln!(
                        std::io::stderr(),
                        "{}",
                        invalid_definition_message(&diagnostics)
                    );
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
            mock_config,
            test_case,
            state_machine,
        } => {
            use std::io::Write as _;
            let text = read_source(&definition)?;
            let options = ValidateOptions {
                refuse_not_built: true,
                ..ValidateOptions::default()
            };
            let machine = match validate(&text, &options) {
                Ok((machine, _)) => machine,
                Err(diagnostics) => {
                    anyhow::bail!("{}", invalid_definition_message(&diagnostics));
                }
            };
            let input: Value = serde_json::from_str(&input).context("--input is not JSON")?;
            let fixed = FixedResults::parse(&task_results)?;
            let machine_name = definition
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("local")
                .trim_end_matches(".asl")
                .to_string();
            let mut tasks: Box<dyn TaskHandler> = match (&mock_config, &test_case) {
                (Some(file), Some(case)) => Box::new(mocked::MockedTasks::load(
                    file,
                    state_machine.as_deref(),
                    &machine_name,
                    case,
                    fixed,
                )?),
                _ => Box::new(fixed),
            };
            let history = history || mock_config.is_some();
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
            let outcome = driver::run(&machine, input, &options, tasks.as_mut());
            let succeeded = outcome.status == cairn_asl::status::ExecutionStatus::Succeeded;
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
            let report = serde_json::to_string_pretty(&Value::Object(report))?;
            // A closed standard output is an error (exit status 2), not a panic.
            writeln!(std::io::stdout().lock(), "{report}").context("writing to standard output")?;
            Ok(if succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// Starts logging and a runtime for a server-side command.
fn long_running(work: impl std::future::Future<Output = Result<()>>) -> Result<ExitCode> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;

    // One TLS crypto provider for the whole process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    // The gRPC exporter needs the runtime as it is built.
    let traces = {
        let _runtime = runtime.enter();
        cairn_telemetry::trace::Tracing::from_env().context("setting up tracing (OTEL_*)")?
    };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let json = std::env::var("CAIRN_LOG_FORMAT").is_ok_and(|f| f == "json");
    let text_logs = (!json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter())
    });
    let json_logs = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter())
    });
    // Only the spans that make up an execution's trace are exported (the execution's
    // and states' spans are drawn by the scheduler directly): task attempts, and Express
    // executions run inline. RUST_LOG does not filter them.
    let spans = traces.as_ref().map(|t| {
        t.layer()
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.is_span() && matches!(meta.name(), "attempt" | "express_execution")
            }))
    });
    tracing_subscriber::registry()
        .with(text_logs)
        .with(json_logs)
        .with(spans)
        .init();
    if traces.is_some() {
        tracing::info!("exporting traces with OTLP");
    }
    {
        // The gRPC metrics exporter, too, needs the runtime as it is built.
        let _runtime = runtime.enter();
        if cairn_telemetry::otlp_metrics::start_from_env()
            .context("setting up the OTLP metrics exporter (OTEL_*)")?
        {
            tracing::info!("exporting metrics with OTLP, beside /metrics");
        }
    }
    if cairn_telemetry::otlp_logs::start_from_env()
        .context("setting up the OTLP logs exporter (OTEL_*)")?
    {
        tracing::info!("exporting execution logs with OTLP, beside stdout");
    }
    let result = runtime.block_on(work);
    cairn_telemetry::otlp_logs::flush(std::time::Duration::from_secs(5));
    if let Some(traces) = traces {
        traces.shutdown();
    }
    result?;
    Ok(ExitCode::SUCCESS)
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
    fn invoke(&mut self, task: &TaskRequest) -> TaskOutcome {
        // A Distributed Map's S3 work is a task of the engine's own: `cairn run` reads
        // no S3, so an ItemReader's items are given under the reader's own Resource,
        // and a ResultWriter cannot write.
        if task.resource == READ_ITEMS_RESOURCE {
            let reader = match task.input["Reader"]["source"].as_object() {
                Some(source) if source.contains_key("List") => "arn:aws:states:::s3:listObjectsV2",
                _ => "arn:aws:states:::s3:getObject",
            };
            return match self.0.iter().find(|(resource, _)| resource == reader) {
                Some((_, items)) => TaskOutcome::Succeeded(serde_json::json!({ "Items": items })),
                None => TaskOutcome::Failed {
                    error: names::ITEM_READER_FAILED.to_string(),
                    cause: Some(format!(
                        "cairn run reads nothing from S3: give the ItemReader's items as a JSON array with --task-result '{reader}=[...]'"
                    )),
                },
            };
        }
        if task.resource == WRITE_RESULTS_RESOURCE {
            return TaskOutcome::Failed {
                error: names::RESULT_WRITER_FAILED.to_string(),
                cause: Some(
                    "cairn run writes nothing to S3: a Map with a ResultWriter runs under `cairn server` or `cairn dev`"
                        .to_string(),
                ),
            };
        }
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
