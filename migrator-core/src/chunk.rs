//! Chunks: how a table is cut for parallel copy, resume, sync and verify. Integer-key ranges
//! for a single-column integer primary key, `ctid` page ranges otherwise (PostgreSQL 14+,
//! which scans TID ranges directly), one chunk for a small table. The first and last chunks
//! are open-ended, so rows added past either end are never outside every chunk.

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::catalog::Table;
use crate::error::{Error, ErrorKind, Result};
use crate::sql::ident;

/// How a table is cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
#[non_exhaustive]
pub enum Chunking {
    /// One chunk holds the whole table.
    Whole,
    /// Ranges of a single-column integer primary key.
    KeyRange {
        /// The key column.
        column: String,
    },
    /// Ranges of heap pages (`ctid`).
    Pages,
}

/// One chunk: `lower <= x < upper`, either bound open when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub(crate) no: u32,
    pub(crate) lower: Option<i64>,
    pub(crate) upper: Option<i64>,
}

impl Chunk {
    /// The chunk's number within its table, from 0.
    pub fn no(&self) -> u32 {
        self.no
    }
    /// Inclusive lower bound (key value or page), if bounded.
    pub fn lower(&self) -> Option<i64> {
        self.lower
    }
    /// Exclusive upper bound, if bounded.
    pub fn upper(&self) -> Option<i64> {
        self.upper
    }
}

impl Chunking {
    /// The SQL condition selecting a chunk's rows, or `None` for the whole table.
    pub(crate) fn predicate(&self, chunk: &Chunk) -> Option<String> {
        let (col, fmt): (String, fn(i64) -> String) = match self {
            Chunking::Whole => return None,
            Chunking::KeyRange { column } => (ident(column), |v| v.to_string()),
            Chunking::Pages => ("ctid".to_string(), |p| format!("'({p},0)'::tid")),
        };
        let mut parts = Vec::new();
        if let Some(l) = chunk.lower {
            parts.push(format!("{col} >= {}", fmt(l)));
        }
        if let Some(u) = chunk.upper {
            parts.push(format!("{col} < {}", fmt(u)));
        }
        if parts.is_empty() {
            None
        } else {
            Some(parts.join(" AND "))
        }
    }
}

/// What one row costs to copy, in bytes that take as long: COPY's per-row work (parsing,
/// a heap tuple, WAL record) is the larger cost of a narrow table. Measured at the 1 GB
/// benchmark: about 3 µs per row against about 12 ns per byte, on both sides together.
const ROW_COST_BYTES: u64 = 256;

/// A table's copy cost in bytes of equal time, from the catalog's estimates: what sizes its
/// chunks and orders the work, so a table of many small rows is cut as finely as one of
/// few large rows that takes as long.
pub(crate) fn copy_cost(bytes: i64, rows: i64) -> u64 {
    (bytes.max(0) as u64).saturating_add((rows.max(0) as u64).saturating_mul(ROW_COST_BYTES))
}

/// Cuts `n` chunks out of `[min, max]`, the outer two open-ended.
fn split(min: i64, max: i64, n: u64) -> Vec<Chunk> {
    let span = (max as i128 - min as i128 + 1).max(1);
    let n = (n as i128).clamp(1, span);
    let step = (span + n - 1) / n;
    let mut bounds = Vec::new();
    let mut b = min as i128 + step;
    while b <= max as i128 && (bounds.len() as i128) < n - 1 {
        bounds.push(b as i64);
        b += step;
    }
    let mut chunks = Vec::with_capacity(bounds.len() + 1);
    let mut lower = None;
    for (i, b) in bounds.iter().enumerate() {
        chunks.push(Chunk {
            no: i as u32,
            lower,
            upper: Some(*b),
        });
        lower = Some(*b);
    }
    chunks.push(Chunk {
        no: bounds.len() as u32,
        lower,
        upper: None,
    });
    chunks
}

fn whole() -> (Chunking, Vec<Chunk>) {
    (
        Chunking::Whole,
        vec![Chunk {
            no: 0,
            lower: None,
            upper: None,
        }],
    )
}

/// Decides a table's chunks from its copy cost and key: about `chunk_bytes` of cost each.
/// `pages`: whether page ranges may be used (a batched target resumes inside a chunk by
/// primary key, which page ranges cannot give once rows move between pages).
pub(crate) async fn plan_chunks(
    source: &Client,
    t: &Table,
    chunk_bytes: u64,
    server_version: i32,
    pages: bool,
) -> Result<(Chunking, Vec<Chunk>)> {
    let cost = copy_cost(t.bytes, t.est_rows);
    if cost <= chunk_bytes {
        // One chunk; still cut by its integer key where it has one, so that copy records
        // the rows' digests, which let sync find changes without reading the rows.
        return Ok(match &t.int_key {
            Some(col) => (
                Chunking::KeyRange {
                    column: col.clone(),
                },
                whole().1,
            ),
            None => whole(),
        });
    }
    let n = cost.div_ceil(chunk_bytes).min(100_000);
    let err = |e| Error::db(ErrorKind::Source, format!("sizing chunks of {}", t.name), e);
    if let Some(col) = &t.int_key {
        let row = source
            .query_one(
                &format!(
                    "SELECT min({c})::int8, max({c})::int8 FROM ONLY {}",
                    t.name.sql(),
                    c = ident(col)
                ),
                &[],
            )
            .await
            .map_err(err)?;
        let (Some(min), Some(max)) = (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1))
        else {
            return Ok(whole());
        };
        return Ok((
            Chunking::KeyRange {
                column: col.clone(),
            },
            split(min, max, n),
        ));
    }
    if pages && server_version >= 140000 {
        let row = source
            .query_one(
                "SELECT (pg_catalog.pg_relation_size($1::text::regclass) / \
                 current_setting('block_size')::int8)::int8",
                &[&t.name.sql()],
            )
            .await
            .map_err(err)?;
        let pages: i64 = row.get(0);
        if pages > 1 {
            return Ok((Chunking::Pages, split(0, pages - 1, n)));
        }
    }
    Ok(whole())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_everything_once() {
        let c = split(1, 100, 4);
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].lower, None);
        assert_eq!(c[3].upper, None);
        for w in c.windows(2) {
            assert_eq!(w[0].upper, w[1].lower);
        }
        assert_eq!(c[1].lower, Some(26));
        // More chunks asked than values: one per value at most.
        assert_eq!(split(5, 6, 10).len(), 2);
        assert_eq!(split(7, 7, 3).len(), 1);
        // Extreme ranges do not overflow.
        let e = split(i64::MIN, i64::MAX, 3);
        assert_eq!(e.len(), 3);
    }

    #[test]
    fn narrow_rows_cost_like_bytes() {
        // 150 MB of 2.5M narrow rows costs more than 150 MB of 150k wide ones...
        assert!(copy_cost(150_000_000, 2_500_000) > 4 * copy_cost(150_000_000, 150_000) / 3);
        // ...and an unanalyzed table (reltuples -1) costs its bytes.
        assert_eq!(copy_cost(1000, -1), 1000);
        assert_eq!(copy_cost(-1, -1), 0);
    }

    #[test]
    fn predicates() {
        let k = Chunking::KeyRange {
            column: "id".into(),
        };
        let c = Chunk {
            no: 1,
            lower: Some(10),
            upper: Some(20),
        };
        assert_eq!(k.predicate(&c).unwrap(), "\"id\" >= 10 AND \"id\" < 20");
        let p = Chunking::Pages;
        let open = Chunk {
            no: 0,
            lower: None,
            upper: Some(5),
        };
        assert_eq!(p.predicate(&open).unwrap(), "ctid < '(5,0)'::tid");
        assert_eq!(Chunking::Whole.predicate(&c), None);
    }
}
