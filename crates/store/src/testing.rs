//! Test support: a fresh, migrated database per test, on the Postgres the tests are
//! given (`CAIRN_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432`).

use crate::postgres::PgStore;
use crate::{Result, Store};

/// The server URL tests connect to, without a database name.
pub fn server_url() -> String {
    std::env::var("CAIRN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// The URL of a database named after `label` that does not exist yet (names are unique
/// per call): [`PgStore::connect`] creates it.
pub fn fresh_database_url(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name: String = format!("cairn_test_{label}_{}_{nanos}", std::process::id())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{}/{name}", server_url())
}

/// Creates a new database named after `label`, migrates it and returns a store on it
/// together with its URL. Databases are left behind for inspection; their names say
/// which test made them.
pub async fn fresh_store(label: &str, max_connections: u32) -> Result<(PgStore, String)> {
    let url = fresh_database_url(label);
    let store = PgStore::connect(&url, max_connections).await?;
    store.migrate().await?;
    Ok((store, url))
}
