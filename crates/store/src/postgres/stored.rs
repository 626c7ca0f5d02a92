//! The values large inline Maps keep outside the snapshot
//! (`cairn_asl::interpreter::Limits::store_map_items_over`), in `stored_map_values`.
//!
//! An advance writes what its steps stored and deletes what they released, in its own
//! transaction; it also saves on the execution row what the next advance will need
//! (`executions.wanted`), so the claim that comes next loads exactly that, in one
//! statement for the whole batch.

use cairn_asl::interpreter::{StoredKind, StoredValue, Wanted};

use super::to_json_text;
use crate::Result;

pub(super) fn kind_code(kind: StoredKind) -> i16 {
    match kind {
        StoredKind::Item => 0,
        StoredKind::Result => 1,
        StoredKind::Input => 2,
    }
}

fn kind_of(code: i16) -> Option<StoredKind> {
    match code {
        0 => Some(StoredKind::Item),
        1 => Some(StoredKind::Result),
        2 => Some(StoredKind::Input),
        _ => None,
    }
}

/// The `executions.wanted` text for `wanted` (`None`: nothing wanted).
pub(super) fn wanted_text(wanted: &[Wanted]) -> Result<Option<String>> {
    if wanted.is_empty() {
        return Ok(None);
    }
    to_json_text(&wanted).map(Some)
}

/// Reads `executions.wanted` back; what cannot be read is wanted by nobody (the Map then
/// fails for want of its values rather than stalling).
pub(super) fn wanted_of(text: Option<&str>) -> Vec<Wanted> {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// More stored values than this are parsed off the runtime's worker threads: a
/// buffer's refill (at most 1,024 items) is not, a Map's results at its end may be.
const HEAVY_ROWS: usize = 4096;

/// Loads what `wanted` asks for, for a batch of executions: values by execution ARN.
pub(super) async fn load(
    tx: &mut sqlx::PgConnection,
    wanted: &[(String, Vec<Wanted>)],
) -> Result<std::collections::HashMap<String, Vec<StoredValue>>> {
    let mut arns = Vec::new();
    let mut maps = Vec::new();
    let mut from = Vec::new();
    let mut count = Vec::new();
    let mut whole = Vec::new();
    let mut least_kind = Vec::new();
    for (arn, wants) in wanted {
        for want in wants {
            arns.push(arn.clone());
            maps.push(want.map as i64);
            from.push(want.items_from as i64);
            count.push(want.items as i64);
            whole.push(want.results_and_input);
            least_kind.push(kind_code(if want.input_only {
                StoredKind::Input
            } else {
                StoredKind::Result
            }));
        }
    }
    let mut loaded: std::collections::HashMap<String, Vec<StoredValue>> = Default::default();
    if arns.is_empty() {
        return Ok(loaded);
    }
    let rows = sqlx::query!(
        r#"select w.a as "execution_arn!", v.map_key as "map_key!", v.kind as "kind!",
                  v.idx as "idx!", v.value::text as "value!"
           from unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::bool[], $6::int2[])
                as w(a, m, f, n, whole, least)
           cross join lateral (
               select s.map_key, s.kind, s.idx, s.value from stored_map_values s
               where s.execution_arn = w.a and s.map_key = w.m and s.kind = 0
                 and s.idx >= w.f and s.idx < w.f + w.n
               union all
               select s.map_key, s.kind, s.idx, s.value from stored_map_values s
               where w.whole and s.execution_arn = w.a and s.map_key = w.m and s.kind >= w.least
           ) v"#,
        &arns,
        &maps,
        &from,
        &count,
        &whole,
        &least_kind,
    )
    .fetch_all(&mut *tx)
    .await?;
    // A Map's results, all given back at its end, can be hundreds of thousands of rows
    // to parse (crate::heavy).
    crate::heavy::run(rows.len() > HEAVY_ROWS, || {
        for row in rows {
            let (Some(kind), Ok(value)) = (kind_of(row.kind), serde_json::from_str(&row.value))
            else {
                continue;
            };
            loaded
                .entry(row.execution_arn)
                .or_default()
                .push(StoredValue {
                    map: row.map_key as u64,
                    kind,
                    index: row.idx as u64,
                    value,
                });
        }
    });
    Ok(loaded)
}

/// The stored values an advance batch writes and releases.
#[derive(Default)]
pub(super) struct StoredWrites {
    execution: Vec<String>,
    map: Vec<i64>,
    kind: Vec<i16>,
    index: Vec<i64>,
    value: Vec<String>,
    released_execution: Vec<String>,
    released_map: Vec<i64>,
    /// Where each value's key is in the columns above: a key stored twice keeps the
    /// last value, as one `insert … on conflict do update` must see each key once.
    positions: std::collections::HashMap<(String, i64, i16, i64), usize>,
}

impl StoredWrites {
    pub(super) fn store(&mut self, arn: &str, value: &StoredValue) -> Result<()> {
        let text = to_json_text(&value.value)?;
        let key = (
            arn.to_string(),
            value.map as i64,
            kind_code(value.kind),
            value.index as i64,
        );
        if let Some(&at) = self.positions.get(&key) {
            self.value[at] = text;
            return Ok(());
        }
        self.positions.insert(key, self.execution.len());
        self.execution.push(arn.to_string());
        self.map.push(value.map as i64);
        self.kind.push(kind_code(value.kind));
        self.index.push(value.index as i64);
        self.value.push(text);
        Ok(())
    }

    pub(super) fn release(&mut self, arn: &str, map: u64) {
        self.released_execution.push(arn.to_string());
        self.released_map.push(map as i64);
    }

    pub(super) async fn commit(self, tx: &mut sqlx::PgConnection) -> Result<()> {
        // Deleted after the inserts: a value stored and released in one advance is not
        // kept. A value stored again replaces the old one: a redriven Map iteration's
        // result takes the place of the failure it had.
        if !self.execution.is_empty() {
            sqlx::query!(
                r#"insert into stored_map_values (execution_arn, map_key, kind, idx, value)
                   select a, m, k, i, v::json
                   from unnest($1::text[], $2::int8[], $3::int2[], $4::int8[], $5::text[])
                        as u(a, m, k, i, v)
                   on conflict (execution_arn, map_key, kind, idx) do update set value = excluded.value"#,
                &self.execution,
                &self.map,
                &self.kind,
                &self.index,
                &self.value,
            )
            .execute(&mut *tx)
            .await?;
        }
        if !self.released_execution.is_empty() {
            sqlx::query!(
                r#"delete from stored_map_values s
                   using unnest($1::text[], $2::int8[]) as u(a, m)
                   where s.execution_arn = u.a and s.map_key = u.m"#,
                &self.released_execution,
                &self.released_map,
            )
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}
