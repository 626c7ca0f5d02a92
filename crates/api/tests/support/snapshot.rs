//! What a database holds, reduced to a value two moments can be compared by: for every
//! table of the public schema (the migrations' own bookkeeping aside), its row count and
//! an md5 of its rows in a canonical order. A request that "changes nothing" leaves the
//! snapshot equal; sequences are not part of it, since a refused insert may consume a
//! sequence value without leaving a row.

use std::collections::BTreeMap;

use sqlx::PgPool;

/// Table name → (row count, md5 of the rows' text forms sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<String, (i64, String)>);

impl Snapshot {
    pub async fn take(pool: &PgPool) -> Snapshot {
        let tables: Vec<String> = sqlx::query_scalar(
            "select table_name::text from information_schema.tables \
             where table_schema = 'public' and table_type = 'BASE TABLE' \
             and table_name <> '_sqlx_migrations' order by table_name",
        )
        .fetch_all(pool)
        .await
        .expect("list tables");
        let mut out = BTreeMap::new();
        for table in tables {
            // Table names come from the catalog, not from a request; quoting keeps any
            // name a migration might choose intact.
            let query = format!(
                "select count(*), coalesce(md5(string_agg(t::text, ',' order by t::text)), '') \
                 from \"{}\" t",
                table.replace('"', "\"\"")
            );
            let (count, digest): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(query))
                .fetch_one(pool)
                .await
                .expect("hash a table");
            out.insert(table, (count, digest));
        }
        Snapshot(out)
    }

    /// The row count of `table` (0 when it does not exist).
    pub fn rows(&self, table: &str) -> i64 {
        self.0.get(table).map(|(n, _)| *n).unwrap_or(0)
    }

    /// The tables whose content differs from `other`'s, for a readable failure.
    pub fn differences(&self, other: &Snapshot) -> Vec<String> {
        let mut names: Vec<&String> = self.0.keys().chain(other.0.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|n| self.0.get(*n) != other.0.get(*n))
            .map(|n| format!("{n}: {:?} -> {:?}", self.0.get(n), other.0.get(n)))
            .collect()
    }
}
