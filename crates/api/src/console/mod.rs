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
//! - `POST /console/auth/{status,sign-in,sign-out}`: the sign-in (`session`), when the
//!   API has access keys: a session cookie for one key, whose policy then applies to the
//!   console's calls as to the API's. With no keys the console is open, and says so on
//!   every page.
//!
//! [`guard::admit`] is the one place every console call passes (it refuses cross-site
//! requests), and [`guard::signed_in`] the one that finds the session.

mod api;
mod assets;
pub mod guard;
pub mod session;

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
        .route("/console/auth/status", post(session::status::<S>))
        .route("/console/auth/sign-in", post(session::sign_in::<S>))
        .route("/console/auth/sign-out", post(session::sign_out))
        .route("/console/{*path}", get(assets::page))
        .with_state(state)
}
