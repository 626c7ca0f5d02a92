//! The web console at `/console/`: pages for state machines and executions, served by
//! the same process as the API (`cairn server`, `cairn dev`), with nothing fetched from
//! anywhere else.
//!
//! - `GET /console/…` answers the single page (`assets::page`); the browser's router
//!   reads the path (`/console/state-machines/<arn>`, `/console/executions/<arn>`).
//! - `GET /console/assets/<file>` answers the built bundle, embedded in the binary
//!   (`assets`; built from `console/` at the top of the repository).
//! - `POST /console/api/<Operation>` runs a Step Functions operation for the page
//!   (`api`): the same operations, the same input and the same answers as `POST /`,
//!   but only those the console uses, and only after [`guard::admit`].
//!
//! There is no sign-in yet (the API itself has no authentication: SigV4 verification is
//! future work), so the console is open to whoever reaches it, and says so on every
//! page. [`guard::admit`] is the one place every console call passes: it refuses
//! cross-site requests today and is where a sign-in check goes.

mod api;
mod assets;
pub mod guard;

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;
use cairn_store::Store;

use crate::ApiState;

/// The console's routes, all under `/console`. Merge them beside [`crate::router`].
pub fn router<S: Store>(state: ApiState<S>) -> Router {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(assets::page))
        .route("/console/assets/{file}", get(assets::asset))
        .route("/console/api/{operation}", post(api::call::<S>))
        .route("/console/{*path}", get(assets::page))
        .with_state(state)
}
