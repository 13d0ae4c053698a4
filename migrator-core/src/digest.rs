//! Row digests: what sync and verify compare. A chunk's *fingerprint* (its row count and the
//! sum of a 64-bit hash of each row as the copy read it) is computed here from the stream
//! the copy reads anyway, and recomputed at sync by reading the chunk again. A row *digest* is the
//! same kind of hash of the row as the target should hold it (source values put through the
//! plan's read expressions, blob values as their object key, size and SHA-256), which both
//! sides can compute; integer keys that become UUIDs travel as themselves and are turned
//! into UUIDs here, since PostgreSQL has no UUIDv5. Comparing the digests of a unit (a key
//! range of one table, or a whole target table) by key gives the rows that differ.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::ops::Range;

use futures::StreamExt;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};
use crate::frames::{RowScanner, Tuple, TupleReader};
use crate::hash::{ChunkHasher, Fingerprint};
use crate::plan::{Chunk, Chunking, CopyFormat, TablePlan};
use crate::sql::{QualName, ident, literal};
use crate::transform::keys;

pub(crate) fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// The read field holding the key a key-range chunk is cut by, whose largest value a
/// fingerprint records.
pub(crate) fn range_field(t: &TablePlan) -> Option<usize> {
    let Chunking::KeyRange { column } = &t.chunking else {
        return None;
    };
    let p = t.key.iter().position(|k| k == column)?;
    t.key_fields.get(p).copied()
}

/// The source statement that reads the rows a fingerprint covers: the copy's fields, in
/// the copy's format.
fn fingerprint_sql(t: &TablePlan, conditions: &[String]) -> String {
    format!(
        "COPY (SELECT {} FROM ONLY {} AS src{}) TO STDOUT{}",
        t.read.join(", "),
        t.name.sql(),
        where_clause(conditions),
        match t.format {
            CopyFormat::Binary => " (FORMAT binary)",
            CopyFormat::Text => "",
        }
    )
}

/// Recomputes a fingerprint: streams the rows `conditions` select from the source (a
/// session with canonical output settings) and hashes them as the copy did. For a
/// key-range chunk, also every row's `(key, hash)`, sorted by key.
pub(crate) async fn fingerprint(
    source: &Client,
    t: &TablePlan,
    conditions: &[String],
) -> Result<(Fingerprint, Option<Vec<(i64, u64)>>)> {
    let err = |e| Error::db(ErrorKind::Source, "fingerprinting", e).with_table(&t.name);
    let s = source
        .copy_out(&fingerprint_sql(t, conditions))
        .await
        .map_err(err)?;
    futures::pin_mut!(s);
    let key = range_field(t);
    let mut scanner = RowScanner::new(t.format == CopyFormat::Binary, key);
    let mut hasher = match key {
        Some(_) => ChunkHasher::keeping_rows(),
        None => ChunkHasher::default(),
    };
    while let Some(data) = s.next().await {
        scanner.push(&data.map_err(err)?, &mut |row, key| hasher.row(row, key))?;
    }
    if !scanner.finished() {
        return Err(Error::new(ErrorKind::Source, "a COPY stream ended early")
            .retryable(true)
            .with_table(&t.name));
    }
    let entries = hasher.take_entries();
    Ok((hasher.finish(), entries))
}

/// The conditions selecting chunk `c` of `t`.
pub(crate) fn chunk_conditions(t: &TablePlan, c: &Chunk) -> Vec<String> {
    t.chunking.predicate(c).into_iter().collect()
}

/// Whether rows of `t` can be matched by primary key.
pub(crate) fn keyed(t: &TablePlan) -> bool {
    !t.key.is_empty() && t.key_fields.len() == t.key.len()
}

/// The target columns each read field fills (a blob field fills three).
pub(crate) fn field_columns(t: &TablePlan) -> Vec<Range<usize>> {
    let mut c = 0;
    t.blobs
        .iter()
        .map(|b| {
            let n = if b.is_some() { 3 } else { 1 };
            let r = c..c + n;
            c += n;
            r
        })
        .collect()
}

/// How blob object keys are named, to compute a value's key in SQL.
#[derive(Debug, Clone, Default)]
pub(crate) struct BlobNames {
    pub template: String,
    pub prefix: String,
}

impl BlobNames {
    pub(crate) fn of(config: &crate::config::BlobsConfig) -> Result<BlobNames> {
        let prefix = match config.store.as_deref() {
            Some(url) => crate::config::StoreUrl::parse(url)?.prefix().to_string(),
            None => String::new(),
        };
        Ok(BlobNames {
            template: config.key_template.clone(),
            prefix,
        })
    }

    /// The SQL expression of the object key of value `v` of `table.column`.
    fn key_sql(&self, table: &QualName, column: &str, v: &str) -> String {
        const MARK: &str = "\u{1}";
        let rendered = crate::blob::object_key(
            &self.template,
            &self.prefix,
            &table.schema,
            &table.to_string(),
            column,
            MARK,
        );
        let sha = format!("encode(sha256({v}), 'hex')");
        let parts: Vec<String> = rendered.split(MARK).map(literal).collect();
        format!("({})", parts.join(&format!(" || {sha} || ")))
    }
}

/// The source statement giving each row's digest: its key as the source has it, its key as
/// the target has it (where no UUID is involved), every integer that becomes a UUID, and
/// the hash of the rest as the target should hold it.
pub(crate) fn source_digest_sql(
    t: &TablePlan,
    names: &BlobNames,
    conditions: &[String],
    keys_only: bool,
) -> String {
    let mut out: Vec<String> = t
        .key
        .iter()
        .map(|k| format!("(src.{})::text", ident(k)))
        .collect();
    for &f in &t.key_fields {
        if t.uuid_keys[f].is_none() {
            out.push(format!("({})::text", t.read[f]));
        }
    }
    let mut hashed = Vec::new();
    for (i, read) in t.read.iter().enumerate() {
        if let Some(b) = &t.blobs[i] {
            hashed.push(names.key_sql(&b.table, &b.column, read));
            hashed.push(format!("octet_length({read})::text"));
            hashed.push(format!("encode(sha256({read}), 'hex')"));
        } else if t.uuid_keys[i].is_some() {
            out.push(format!("({read})::int8"));
        } else {
            hashed.push(format!("({read})::text"));
        }
    }
    out.push(row_hash_sql(&hashed, keys_only));
    format!(
        "COPY (SELECT {} FROM ONLY {} AS src{}) TO STDOUT (FORMAT binary)",
        out.join(", "),
        t.name.sql(),
        where_clause(conditions)
    )
}

/// The target statement giving each row's digest, in the same shape for `t`'s target table.
pub(crate) fn target_digest_sql(t: &TablePlan, conditions: &[String], keys_only: bool) -> String {
    let cols = field_columns(t);
    let mut out: Vec<String> = t
        .key
        .iter()
        .map(|k| format!("(dst.{})::text", ident(k)))
        .collect();
    let mut hashed = Vec::new();
    for (i, range) in cols.iter().enumerate() {
        for c in range.clone() {
            let col = format!("(dst.{})::text", ident(&t.columns[c]));
            if t.uuid_keys[i].is_some() {
                out.push(col);
            } else {
                hashed.push(col);
            }
        }
    }
    out.push(row_hash_sql(&hashed, keys_only));
    format!(
        "COPY (SELECT {} FROM ONLY {} AS dst{}) TO STDOUT (FORMAT binary)",
        out.join(", "),
        t.target.sql(),
        where_clause(conditions)
    )
}

/// The hash of a row's values, or a constant where only keys are compared.
fn row_hash_sql(values: &[String], keys_only: bool) -> String {
    if keys_only {
        return "0::int8".into();
    }
    format!("hashtextextended(ROW({})::text, 0)", values.join(", "))
}

/// Streams a binary COPY and hands each tuple to `each`.
async fn stream(
    client: &Client,
    sql: &str,
    mut each: impl FnMut(&Tuple) -> Result<()>,
    err: impl Fn(tokio_postgres::Error) -> Error,
) -> Result<()> {
    let s = client.copy_out(sql).await.map_err(&err)?;
    futures::pin_mut!(s);
    let mut reader = TupleReader::new();
    while let Some(data) = s.next().await {
        reader.push(&data.map_err(&err)?);
        while let Some(tuple) = reader.next_tuple()? {
            each(&tuple)?;
        }
    }
    if !reader.finished() {
        return Err(Error::new(ErrorKind::Source, "a COPY stream ended early").retryable(true));
    }
    Ok(())
}

fn text(t: &Tuple, i: usize) -> String {
    String::from_utf8_lossy(t.field(i).unwrap_or_default()).into_owned()
}

fn int8(t: &Tuple, i: usize) -> Result<Option<i64>> {
    t.field(i).map(keys::binary_int).transpose()
}

/// A row's value digest: the SQL hash folded with the UUIDs its integers become.
fn fold(hash: i64, refs: &[Option<Uuid>]) -> u64 {
    if refs.is_empty() {
        return hash as u64;
    }
    let mut h = DefaultHasher::new();
    h.write_i64(hash);
    for r in refs {
        match r {
            Some(u) => h.write(u.as_bytes()),
            None => h.write_u8(0),
        }
    }
    h.finish()
}

/// One source row as the unit map holds it.
#[derive(Debug)]
struct SourceRow {
    value: u64,
    key: Vec<String>,
    count: u32,
}

/// What differs between the two sides of a unit.
#[derive(Debug, Default)]
pub(crate) struct RowDiff {
    pub source_rows: u64,
    pub target_rows: u64,
    /// Source keys of rows both sides hold with different values.
    pub changed: Vec<Vec<String>>,
    /// Source keys of rows the target lacks.
    pub missing: Vec<Vec<String>>,
    /// Target keys of rows the source lacks.
    pub extra: Vec<Vec<String>>,
    /// Rows that differ in a table without a primary key (no keys to name).
    pub unkeyed: u64,
}

/// A unit of comparison: the target table (or a key range of it) and the source reads that
/// fill it.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub target: QualName,
    /// Source tables (plan indexes) and the conditions selecting their rows.
    pub parts: Vec<(usize, Vec<String>)>,
    /// The conditions selecting the target's rows.
    pub target_conditions: Vec<String>,
    /// Compare keys only (which rows exist), not values.
    pub keys_only: bool,
}

/// The key-range column a unit can be cut by on both sides: a key-range chunked table whose
/// key the target keeps as it is.
pub(crate) fn range_column(t: &TablePlan) -> Option<&str> {
    match &t.chunking {
        Chunking::KeyRange { column } if keyed(t) => {
            let f = t.key.iter().position(|k| k == column)?;
            t.uuid_keys[t.key_fields[f]]
                .is_none()
                .then_some(column.as_str())
        }
        _ => None,
    }
}

/// Compares a unit: the source's digests by target key, then the target's streamed
/// against them.
pub(crate) async fn diff(
    source: &Client,
    target: &Client,
    tables: &[TablePlan],
    unit: &Unit,
    names: &BlobNames,
    namespace: Option<&Uuid>,
) -> Result<RowDiff> {
    let mut map: HashMap<String, SourceRow> = HashMap::new();
    let mut d = RowDiff::default();
    let src_err = |t: &QualName| {
        let t = t.clone();
        move |e| Error::db(ErrorKind::Source, "reading row digests", e).with_table(&t)
    };
    let Some(&(first, _)) = unit.parts.first() else {
        return Ok(d);
    };
    let shape = &tables[first];
    // Rows match by key only if every source table has the target's key.
    let is_keyed = unit
        .parts
        .iter()
        .all(|(i, _)| keyed(&tables[*i]) && tables[*i].key == shape.key);
    for (ti, conditions) in &unit.parts {
        let t = &tables[*ti];
        let n = t.key.len();
        let plain_keys: Vec<usize> = t
            .key_fields
            .iter()
            .enumerate()
            .filter(|(_, f)| t.uuid_keys[**f].is_none())
            .map(|(p, _)| p)
            .collect();
        let uuid_fields: Vec<usize> = (0..t.read.len())
            .filter(|&i| t.uuid_keys[i].is_some() && t.blobs[i].is_none())
            .collect();
        let sql = source_digest_sql(t, names, conditions, unit.keys_only);
        stream(
            source,
            &sql,
            |row| {
                let base = n + plain_keys.len();
                let mut refs = Vec::with_capacity(uuid_fields.len());
                for (j, &f) in uuid_fields.iter().enumerate() {
                    let v = int8(row, base + j)?;
                    let prefix = t.uuid_keys[f].as_deref().expect("a uuid field");
                    let ns = namespace.ok_or_else(|| Error::internal("no key namespace"))?;
                    refs.push(v.map(|v| keys::key_uuid(ns, prefix, v)));
                }
                let hash = int8(row, base + uuid_fields.len())?.unwrap_or(0);
                let value = fold(hash, &refs);
                let src_key: Vec<String> = (0..n).map(|i| text(row, i)).collect();
                let key = if is_keyed {
                    let mut plain = n;
                    let parts: Vec<String> = (0..n)
                        .map(|p| {
                            let f = t.key_fields[p];
                            match uuid_fields.iter().position(|&u| u == f) {
                                Some(j) => refs[j].map(|u| u.to_string()).unwrap_or_default(),
                                None => {
                                    let s = text(row, plain);
                                    plain += 1;
                                    s
                                }
                            }
                        })
                        .collect();
                    parts.join("\u{0}")
                } else {
                    format!("{value:016x}")
                };
                d.source_rows += 1;
                let e = map.entry(key).or_insert(SourceRow {
                    value,
                    key: src_key,
                    count: 0,
                });
                e.count += 1;
                Ok(())
            },
            src_err(&t.name),
        )
        .await?;
    }
    let uuid_fields: Vec<usize> = (0..shape.read.len())
        .filter(|&i| shape.uuid_keys[i].is_some() && shape.blobs[i].is_none())
        .collect();
    let n = shape.key.len();
    let sql = target_digest_sql(shape, &unit.target_conditions, unit.keys_only);
    let target_name = unit.target.clone();
    stream(
        target,
        &sql,
        |row| {
            let mut refs = Vec::with_capacity(uuid_fields.len());
            for j in 0..uuid_fields.len() {
                refs.push(match row.field(n + j) {
                    None => None,
                    Some(b) => Some(Uuid::parse_str(&String::from_utf8_lossy(b)).map_err(|e| {
                        Error::new(ErrorKind::Target, format!("a key that is not a UUID: {e}"))
                    })?),
                });
            }
            let hash = int8(row, n + uuid_fields.len())?.unwrap_or(0);
            let value = fold(hash, &refs);
            let tkey: Vec<String> = (0..n).map(|i| text(row, i)).collect();
            let key = if is_keyed {
                tkey.join("\u{0}")
            } else {
                format!("{value:016x}")
            };
            d.target_rows += 1;
            match map.get_mut(&key) {
                Some(s) if s.count > 0 => {
                    if s.value != value {
                        d.changed.push(s.key.clone());
                    }
                    s.count -= 1;
                    if s.count == 0 {
                        map.remove(&key);
                    }
                }
                _ if is_keyed => d.extra.push(tkey),
                _ => d.unkeyed += 1,
            }
            Ok(())
        },
        move |e| Error::db(ErrorKind::Target, "reading row digests", e).with_table(&target_name),
    )
    .await?;
    for (_, s) in map {
        if is_keyed {
            d.missing.push(s.key);
        } else {
            d.unkeyed += s.count as u64;
        }
    }
    Ok(d)
}
