//! `cairn-api`: the Step Functions API over the AWS JSON 1.0 protocol, so boto3, the AWS
//! CLI and every AWS SDK talk to Cairn by changing the endpoint.
//!
//! The protocol: `POST /` with `X-Amz-Target: AWSStepFunctions.<Operation>` and a JSON
//! body (content type `application/x-amz-json-1.0`, which axum's `Json` extractor
//! refuses, so the body is read as bytes). Answers are JSON with the same content type;
//! errors are `{"__type": "...#<Name>", "message": "..."}` (see [`error`]). The host is
//! ignored, so the `sync-` host prefix AWS uses for StartSyncExecution and TestState
//! reaches the same router.
//!
//! Mount it with [`router`]:
//! `cairn_api::router(ApiState::new(store, ApiConfig::default(), targets))`. EXPRESS
//! machines run in this process, through `targets`; asynchronous ones are recorded until
//! they end, so that another replica runs them again after a crash (see
//! `operations/express.rs`).
//! Which operations exist, and which Cairn lacks, is in `docs/api-support.md`. The web
//! console's routes ([`console::router`]) call the same operations.

pub mod approval;
pub mod arn;
pub mod auth;
mod body;
mod catalog_cache;
pub mod console;
pub mod error;
pub mod events;
pub mod input;
mod operations;
pub mod page;
pub mod scheduler;
pub mod throttle;
mod traced;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use cairn_asl::interpreter::Limits;
use cairn_store::Store;
use cairn_worker::Targets;
use serde_json::Value;

pub use error::ApiError;
pub use operations::{SUPPORTED, UNSUPPORTED};

/// The content type of every request and answer.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// The `X-Amz-Target` prefix of Step Functions operations.
pub const TARGET_PREFIX: &str = "AWSStepFunctions.";

/// How the API behaves. One value, built once at start.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The ARN partition of every ARN Cairn mints (`aws`).
    pub partition: String,
    /// The region in every ARN Cairn mints (`us-east-1`).
    pub region: String,
    /// The account id in every ARN Cairn mints (`123456789012`).
    pub account_id: String,
    /// Largest request body accepted, in bytes; AWS's limit is 1 MiB.
    pub max_request_bytes: usize,
    /// Payload and history limits of Express executions (the same as the durable path's).
    pub limits: Limits,
    /// How long an Express execution may run before it ends `TIMED_OUT` (AWS: 5 minutes).
    pub express_max_duration: std::time::Duration,
    /// How long GetActivityTask waits for a task before answering without one (AWS:
    /// 60 s). Clients should set their socket timeout a few seconds above it.
    pub activity_poll: std::time::Duration,
    /// Token buckets per API action, per replica; off by default.
    pub throttle: throttle::ThrottleConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            partition: "aws".to_string(),
            region: "us-east-1".to_string(),
            account_id: "123456789012".to_string(),
            max_request_bytes: 1024 * 1024,
            limits: Limits::default(),
            express_max_duration: cairn_worker::express::MAX_DURATION,
            activity_poll: std::time::Duration::from_secs(60),
            throttle: throttle::ThrottleConfig::default(),
        }
    }
}

/// What the handlers share: the store, the configuration and the Task targets that
/// Express executions invoke in-process. Cheap to clone.
#[derive(Clone)]
pub struct ApiState<S> {
    store: S,
    config: std::sync::Arc<ApiConfig>,
    targets: std::sync::Arc<Targets>,
    express: std::sync::Arc<operations::express::Definitions>,
    /// Asynchronous Express runs: recorded, leased and run by this replica.
    express_runs: std::sync::Arc<cairn_worker::express_runs::AsyncExpress<S>>,
    catalog: std::sync::Arc<catalog_cache::CatalogCache>,
    throttle: std::sync::Arc<throttle::Throttle>,
    traced: std::sync::Arc<traced::TracedMachines>,
    /// Who may call (open unless keys are configured; see [`auth`]).
    auth: std::sync::Arc<auth::Auth>,
    /// Rung by `NOTIFY cairn_tasks`; wakes GetActivityTask long polls. Started on the
    /// first poll, so building the state needs no runtime.
    tasks_doorbell: std::sync::Arc<tokio::sync::OnceCell<std::sync::Arc<tokio::sync::Notify>>>,
}

impl<S: Store> ApiState<S> {
    pub fn new(store: S, config: ApiConfig, targets: std::sync::Arc<Targets>) -> Self {
        let express_runs = cairn_worker::express_runs::AsyncExpress::new(
            store.clone(),
            targets.clone(),
            format!("api-{}", uuid::Uuid::new_v4()),
            cairn_worker::express_runs::ExpressRunsConfig {
                limits: config.limits,
                max_duration: config.express_max_duration,
                ..Default::default()
            },
        );
        ApiState {
            express_runs: std::sync::Arc::new(express_runs),
            store,
            throttle: std::sync::Arc::new(throttle::Throttle::new(config.throttle)),
            config: std::sync::Arc::new(config),
            targets,
            express: Default::default(),
            catalog: Default::default(),
            traced: Default::default(),
            tasks_doorbell: Default::default(),
            auth: Default::default(),
        }
    }

    /// Whether executions of the machine `machine_arn` are traced (its
    /// `tracingConfiguration`, while this process exports traces).
    pub(crate) async fn machine_traced(&self, machine_arn: &str) -> bool {
        self.traced.traced(&self.store, machine_arn).await
    }

    /// The same state with `auth` deciding who may call (open by default).
    pub fn with_auth(mut self, auth: auth::Auth) -> Self {
        self.auth = std::sync::Arc::new(auth);
        self
    }

    /// The same state recording and running asynchronous Express executions with `runs`
    /// (the binary shares it with the loop that renews and takes over leases). Without
    /// it, runs are recorded under an owner of their own that nothing renews.
    pub fn with_express_runs(
        mut self,
        runs: std::sync::Arc<cairn_worker::express_runs::AsyncExpress<S>>,
    ) -> Self {
        self.express_runs = runs;
        self
    }

    pub(crate) fn express_runs(
        &self,
    ) -> &std::sync::Arc<cairn_worker::express_runs::AsyncExpress<S>> {
        &self.express_runs
    }

    /// Whether the API is open (no access keys configured).
    pub fn is_open(&self) -> bool {
        self.auth.is_open()
    }

    pub(crate) fn targets(&self) -> &std::sync::Arc<Targets> {
        &self.targets
    }

    pub(crate) fn express_definitions(&self) -> &operations::express::Definitions {
        &self.express
    }

    /// What starts read of the catalog, kept while it does not change.
    pub(crate) fn catalog(&self) -> &catalog_cache::CatalogCache {
        &self.catalog
    }

    pub(crate) async fn tasks_doorbell(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.tasks_doorbell
            .get_or_init(|| async { self.store.doorbell(cairn_store::Channel::Tasks) })
            .await
            .clone()
    }

    pub(crate) fn throttle(&self) -> &throttle::Throttle {
        &self.throttle
    }

    pub(crate) fn store(&self) -> &S {
        &self.store
    }

    pub(crate) fn config(&self) -> &ApiConfig {
        &self.config
    }

    pub(crate) fn scope(&self) -> arn::ArnScope {
        arn::ArnScope {
            partition: self.config.partition.clone(),
            region: self.config.region.clone(),
            account: self.config.account_id.clone(),
        }
    }
}

/// The API: `POST /` for every operation of Step Functions and EventBridge, and
/// EventBridge Scheduler's REST paths ([`scheduler`]). Merge it with other routes (health, metrics)
/// in the binary.
pub fn router<S: Store>(state: ApiState<S>) -> Router {
    Router::new()
        .route("/", post(handle::<S>))
        .merge(scheduler::routes::<S>())
        .with_state(state)
}

/// One request: body → signature and policy → operation → answer, every failure
/// AWS-shaped.
async fn handle<S: Store>(
    State(state): State<ApiState<S>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let span = tracing::info_span!("api", operation = %target, request_id = %request_id);
    // The body is read (or an oversized one drained) before anything can refuse the
    // request, so every refusal reaches a client that is still sending.
    let read = crate::body::read_request(&headers, body, state.config().max_request_bytes).await;
    // EventBridge (AWS JSON 1.1) shares the endpoint: its requests go to `events`.
    if let Some(operation) = target.strip_prefix(events::TARGET_PREFIX) {
        let admitted = read.and_then(|bytes| {
            admit(&state, &method, &uri, &headers, "events", operation, &bytes)?;
            Ok(bytes)
        });
        let mut response = match admitted {
            Ok(bytes) => {
                tracing::Instrument::instrument(events::handle(&state, operation, &bytes), span)
                    .await
            }
            Err(error) => {
                let error = events::error::EventsError::from(error);
                let mut response = (error.json_status(), error.body().to_string()).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(events::CONTENT_TYPE),
                );
                response
            }
        };
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-amzn-requestid", id);
        }
        return response;
    }
    let result = match read {
        Ok(bytes) => {
            tracing::Instrument::instrument(
                serve(&state, &method, &uri, &headers, &target, &bytes),
                span,
            )
            .await
        }
        Err(error) => Err(error),
    };
    let (status, body) = match result {
        Ok(value) => (StatusCode::OK, value),
        Err(error) => {
            tracing::debug!(target = %target, code = error.code(), %error, "request refused");
            (error.status(), error.body())
        }
    };
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

async fn serve<S: Store>(
    state: &ApiState<S>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    target: &str,
    bytes: &[u8],
) -> Result<Value, ApiError> {
    // The signature is checked before the target: an unsigned caller learns nothing.
    let operation = target.strip_prefix(TARGET_PREFIX);
    admit(
        state,
        method,
        uri,
        headers,
        "states",
        operation.unwrap_or(target),
        bytes,
    )?;
    let Some(operation) = operation else {
        return Err(ApiError::UnknownOperation(format!(
            "Unknown operation: the X-Amz-Target header must be {TARGET_PREFIX}<Operation>, got '{target}'"
        )));
    };
    let input = input::Input::parse(bytes)?.with_trace_headers(headers);
    operations::dispatch(state, operation, &input).await
}

/// The signature and policy check of one request to `service` (`states`, `events`).
fn admit<S: Store>(
    state: &ApiState<S>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    service: &str,
    operation: &str,
    bytes: &[u8],
) -> Result<(), ApiError> {
    let request = auth::sigv4::Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        headers,
        authority: uri.authority().map(|a| a.as_str()),
    };
    let caller = state.auth.verify(
        &request,
        bytes,
        &state.config().region,
        service,
        chrono::Utc::now(),
    )?;
    if let Some(caller) = caller {
        let scope = state.scope();
        let resource = auth::resource(&scope, service, operation, bytes);
        caller.authorize(&scope, &format!("{service}:{operation}"), &resource)?;
    }
    Ok(())
}

/// A time as AWS's JSON protocol sends it: epoch seconds, milliseconds as the fraction.
pub(crate) fn epoch(time: chrono::DateTime<chrono::Utc>) -> Value {
    Value::from(time.timestamp_millis() as f64 / 1000.0)
}
