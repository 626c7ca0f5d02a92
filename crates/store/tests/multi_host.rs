//! A `DATABASE_URL` naming several servers, on real Postgres: the store skips a server
//! that refuses connections and works on the writable one; a bad list is refused before
//! anything connects. (Following a promoted standby needs two clusters: `cairn-chaos
//! --failover` shows it, see docs/operations.md.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_store::postgres::{ConnectStringError, PgStore};
use cairn_store::testing::{create_machine, fresh_database_url, start};
use cairn_store::StoreError;

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `fresh_database_url` with a server that refuses connections listed first.
fn with_a_dead_server_first(url: &str, port: u16) -> String {
    let at = url
        .rfind('@')
        .expect("CAIRN_TEST_DATABASE_URL names a user (user@host)");
    format!(
        "{}127.0.0.1:{port},{}?target_session_attrs=read-write",
        &url[..=at],
        &url[at + 1..]
    )
}

#[tokio::test]
async fn a_dead_first_server_is_skipped_for_the_writable_one() {
    let live = fresh_database_url("multi_host");
    let url = with_a_dead_server_first(&live, closed_port());
    let store = PgStore::connect(&url, 4).await.unwrap();
    store.migrate().await.unwrap();
    let machine = create_machine(
        &store,
        "multi",
        r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#,
    )
    .await;
    let started = start(&store, &machine, "one", "{}").await;
    assert!(started.ends_with(":one"));

    // Every connection of the pool is on the live server, writable.
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(store.pool().acquire().await.unwrap());
    }
    for conn in &mut conns {
        let (port, in_recovery): (i32, bool) =
            sqlx::query_as("select inet_server_port(), pg_is_in_recovery()")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
        assert!(!in_recovery);
        let live_port = live
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|p| p.parse::<i32>().ok())
            .unwrap_or(5432);
        assert_eq!(port, live_port);
    }
}

#[tokio::test]
async fn a_bad_host_list_is_refused_before_connecting() {
    for (url, expected) in [
        (
            "postgres://postgres@127.0.0.1:5432,,127.0.0.1:5433/x",
            ConnectStringError::EmptyHost(String::new()),
        ),
        (
            "postgres://postgres@127.0.0.1:5432,127.0.0.1:99999/x",
            ConnectStringError::Port("127.0.0.1:99999".into()),
        ),
        (
            "postgres://postgres@127.0.0.1:5432,127.0.0.1:5433/x?target_session_attrs=standby",
            ConnectStringError::SessionAttrs("standby".into()),
        ),
    ] {
        match PgStore::connect(url, 1).await {
            Err(StoreError::ConnectString(error)) => assert_eq!(error, expected, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}
