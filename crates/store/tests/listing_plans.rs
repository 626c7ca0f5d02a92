//! The queries that list a machine's executions (ListExecutions, the console's list),
//! on 100,000 executions of one machine, on real Postgres: every page, the deepest
//! included, is read through an index in order (EXPLAIN shows no sequential scan, no
//! sort of the machine's executions, and a scan that reads one page of rows), in the
//! plan Postgres makes for the values and in the generic plan it may switch to for a
//! statement sqlx has prepared. Then the store pages through all of them.
//!
//! The SQL is read from `src/postgres/executions.rs` itself (each query starts with a
//! `-- query: <name>` line), so what is EXPLAINed is what runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_asl::ExecutionStatus;
use cairn_store::executions::{ExecutionCursor, Executions, ExecutionsOf};
use cairn_store::testing::{fresh_store, server_url, ARN_PREFIX};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Executor};

const SOURCE: &str = include_str!("../src/postgres/executions.rs");
const EXECUTIONS: i64 = 100_000;
/// Every 100th execution failed: 1,000 FAILED among 99,000 SUCCEEDED.
const FAILED_EVERY: i64 = 100;
const PAGE: i64 = 100;

/// The text of the query named `name` in the store's source.
fn query(name: &str) -> String {
    let marker = format!("r#\"-- query: {name}\n");
    let start = SOURCE
        .find(&marker)
        .unwrap_or_else(|| panic!("no query {name}"));
    let body = &SOURCE[start + 3..];
    body[..body.find("\"#").expect("the query's end")].to_string()
}

fn machine() -> String {
    format!("{ARN_PREFIX}:stateMachine:listed")
}

/// 100,000 executions of `listed`, one a second from 2026-01-01, beside 50,000 of 50
/// other machines; statistics up to date.
async fn fill(pool: &sqlx::PgPool) {
    let definition: i64 = sqlx::query_scalar(
        "insert into definitions (digest, body) values ('d', '{}') returning id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into executions (arn, state_machine_arn, name, definition_id, role_arn, status,
                                 input, started_at, stopped_at)
         select $1 || ':execution:listed:e' || lpad(i::text, 6, '0'), $1 || ':stateMachine:listed',
                'e' || lpad(i::text, 6, '0'), $2, 'r',
                case when i % $4 = 0 then 'FAILED' else 'SUCCEEDED' end, '{}',
                timestamptz '2026-01-01' + i * interval '1 second',
                timestamptz '2026-01-01' + i * interval '1 second'
         from generate_series(1, $3::bigint) i",
    )
    .bind(ARN_PREFIX)
    .bind(definition)
    .bind(EXECUTIONS)
    .bind(FAILED_EVERY)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into executions (arn, state_machine_arn, name, definition_id, role_arn, status,
                                 input, started_at)
         select $1 || ':execution:other' || (i % 50) || ':e' || i,
                $1 || ':stateMachine:other' || (i % 50), 'e' || i, $2, 'r', 'RUNNING', '{}', now()
         from generate_series(1, 50000) i",
    )
    .bind(ARN_PREFIX)
    .bind(definition)
    .execute(pool)
    .await
    .unwrap();
    pool.execute("analyze executions").await.unwrap();
}

/// Every node of a JSON plan, depth first.
fn nodes(plan: &Value, out: &mut Vec<Value>) {
    out.push(plan.clone());
    if let Some(children) = plan["Plans"].as_array() {
        for child in children {
            nodes(child, out);
        }
    }
}

/// EXPLAIN ANALYZE of the prepared `sql` with `args` (SQL literals), in `mode`
/// (`force_custom_plan` or `force_generic_plan`): its nodes.
async fn explain(
    conn: &mut sqlx::PgConnection,
    sql: &str,
    types: &str,
    args: &str,
    mode: &str,
) -> Vec<Value> {
    // The statements are the test's own text and the store's query: nothing from outside.
    sqlx::raw_sql(AssertSqlSafe(format!("set plan_cache_mode = {mode}")))
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("prepare listing({types}) as {sql}")))
        .execute(&mut *conn)
        .await
        .unwrap();
    let plan: Value = sqlx::query_scalar(AssertSqlSafe(format!(
        "explain (analyze, format json) execute listing({args})"
    )))
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    conn.execute("deallocate listing").await.unwrap();
    let mut out = Vec::new();
    nodes(&plan[0]["Plan"], &mut out);
    out
}

/// The plan reads the page through an index: no sequential or bitmap scan, no sort of
/// more rows than a page, and the scans read at most a page of rows.
fn assert_paged_by_index(plan: &[Value], what: &str) {
    let types: Vec<&str> = plan
        .iter()
        .filter_map(|n| n["Node Type"].as_str())
        .collect();
    for node in plan {
        let kind = node["Node Type"].as_str().unwrap_or_default();
        assert!(
            !matches!(kind, "Seq Scan" | "Bitmap Heap Scan"),
            "{what}: {kind} in {types:?}"
        );
        let rows = node["Actual Rows"].as_f64().unwrap_or(0.0)
            + node["Rows Removed by Filter"].as_f64().unwrap_or(0.0);
        if kind == "Sort" || kind.ends_with("Scan") {
            assert!(
                rows <= (PAGE + 1) as f64,
                "{what}: {kind} handles {rows} rows for a page of {PAGE}: {types:?}"
            );
        }
    }
    assert!(
        plan.iter().any(|n| n["Node Type"] == "Index Scan"
            && n["Index Name"]
                .as_str()
                .is_some_and(|i| i.starts_with("executions_by_"))
            && n["Actual Rows"].as_f64().unwrap_or(0.0) > 0.0),
        "{what}: no index scan read the page: {types:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_executions_pages_by_index() {
    let (store, url) = fresh_store("listing_plans", 4).await.unwrap();
    fill(store.pool()).await;
    let mut conn = store.pool().acquire().await.unwrap();
    let machine = machine();
    // The first page, and one 99,000 executions deep (the cursor of its previous page).
    let deep = "timestamptz '2026-01-01' + interval '1000 seconds'";
    let deep_arn = format!("'{ARN_PREFIX}:execution:listed:e001000'");
    let top = "timestamptz '9999-12-31'";
    for mode in ["force_custom_plan", "force_generic_plan"] {
        for (after, after_arn) in [(top, "''".to_string()), (deep, deep_arn.clone())] {
            let plan = explain(
                &mut conn,
                &query("list_executions"),
                "text, timestamptz, text, bigint, text, bool",
                &format!(
                    "'{machine}', {after}, {after_arn}, {}, 'machine', null",
                    PAGE + 1
                ),
                mode,
            )
            .await;
            assert_paged_by_index(&plan, &format!("list_executions, {mode}, after {after}"));
            let plan = explain(
                &mut conn,
                &query("list_executions_by_status"),
                "text, timestamptz, text, bigint, text, text, bool",
                &format!(
                    "'{machine}', {after}, {after_arn}, {}, 'machine', 'FAILED', null",
                    PAGE + 1
                ),
                mode,
            )
            .await;
            assert_paged_by_index(
                &plan,
                &format!("list_executions_by_status, {mode}, after {after}"),
            );
        }
    }
    drop(conn);

    // The store pages through every one of them, newest first, and through the FAILED.
    for (status, expected) in [
        (None, EXECUTIONS),
        (Some(ExecutionStatus::Failed), EXECUTIONS / FAILED_EVERY),
    ] {
        let mut after: Option<ExecutionCursor> = None;
        let mut seen = 0;
        let mut last_name: Option<String> = None;
        loop {
            let page = store
                .list_executions(
                    &ExecutionsOf::Machine(machine.clone()),
                    status,
                    None,
                    after.as_ref(),
                    1000,
                )
                .await
                .unwrap();
            for e in &page {
                if let Some(previous) = &last_name {
                    assert!(
                        e.name < *previous,
                        "newest first: {} after {previous}",
                        e.name
                    );
                }
                if status.is_some() {
                    assert_eq!(e.status, ExecutionStatus::Failed);
                }
                last_name = Some(e.name.clone());
            }
            seen += page.len() as i64;
            match page.last() {
                Some(e) if page.len() == 1000 => {
                    after = Some(ExecutionCursor {
                        started_at: e.started_at,
                        arn: e.arn.clone(),
                    })
                }
                _ => break,
            }
        }
        assert_eq!(seen, expected, "{status:?}");
    }
    // 100,000 rows are not worth keeping for inspection, as other tests' databases are.
    store.pool().close().await;
    let name = url.rsplit('/').next().unwrap_or_default();
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", server_url()))
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "drop database if exists \"{name}\" with (force)"
    )))
    .execute(&admin)
    .await
    .unwrap();
}
