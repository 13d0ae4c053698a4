//! Row digests: each copied row's key and hash, stored in `_migrator.row_digest` in
//! delta-encoded blocks (the key as a zigzag varint of its step from the previous one, then
//! the 8-byte hash), which sync compares with the source's rows of now.

use std::collections::HashMap;

use integer_encoding::VarInt;
use tokio_postgres::{Client, GenericClient};

use super::target_err;
use crate::error::{Error, ErrorKind, Result};
use crate::sql::{QualName, literal};

/// Manifest DDL for targets that have TOAST (the postgres profile): row digests are stored
/// uncompressed, since half of each entry is a hash that does not compress and pglz spends
/// longer failing to (76 MB of digests: 12.7 s compressed, 0.55 s not, on one target).
pub(crate) const MANIFEST_POSTGRES_DDL: &[&str] =
    &["ALTER TABLE _migrator.row_digest ALTER COLUMN data SET STORAGE EXTERNAL"];

/// Row digests per stored block: 9 to 18 bytes each (see [`encode_digests`]), so 72 to
/// 144 KiB a block. The copy holds at most a block per worker before storing it, so the
/// block bounds the copy's memory (60,000 here made peak RSS grow by about 5 MiB per busy
/// worker at the 1 GB benchmark).
pub(crate) const DIGEST_BLOCK: usize = 8_192;

/// The most bytes [`encode_digests`] spends on one entry: a 10-byte varint and the hash.
const DIGEST_MAX_BYTES: usize = 10 + 8;

/// Blocks one statement deletes: at most about 1 MiB of digests, well under DSQL's limits
/// on what one transaction may change.
const DROP_BLOCKS: usize = 7;

const _: () = assert!(DROP_BLOCKS * DIGEST_BLOCK * DIGEST_MAX_BYTES <= 1 << 20);

/// `(key, hash)` entries as a block's bytes: for each, the key's difference from the
/// previous entry's (from 0 for the first) as a zigzag varint, then the hash's 8 bytes big
/// endian. A key-range chunk's keys arrive mostly in order and close together, so an entry
/// is usually 9 bytes rather than 16: the digests are the copy's one write on top of the
/// rows (at 1 GB, 16 bytes a row was 8% more bytes written to the target).
pub(crate) fn encode_digests(entries: &[(i64, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 9 + 16);
    let mut varint = [0u8; 10];
    let mut prev = 0i64;
    for &(k, h) in entries {
        let n = k.wrapping_sub(prev).encode_var(&mut varint);
        out.extend_from_slice(&varint[..n]);
        out.extend_from_slice(&h.to_be_bytes());
        prev = k;
    }
    out
}

/// The entries of a block [`encode_digests`] wrote, appended to `out`; `None` if the bytes
/// are not such a block.
fn decode_digests(mut data: &[u8], out: &mut Vec<(i64, u64)>) -> Option<()> {
    let mut prev = 0i64;
    while !data.is_empty() {
        let (delta, n) = i64::decode_var(data)?;
        let hash = data.get(n..n + 8)?;
        prev = prev.wrapping_add(delta);
        out.push((prev, u64::from_be_bytes(hash.try_into().ok()?)));
        data = &data[n + 8..];
    }
    Some(())
}

/// Stores one block of a chunk's row digests (inside the chunk's, or the part's,
/// transaction; or, for sync, a generation not yet in use).
pub(crate) async fn write_digest_block(
    client: &impl GenericClient,
    table: &QualName,
    chunk: u32,
    generation: i32,
    block: i32,
    entries: &[(i64, u64)],
) -> Result<()> {
    client
        .execute(
            "INSERT INTO _migrator.row_digest (table_name, chunk_no, generation, block_no, data) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (table_name, chunk_no, generation, block_no) \
             DO UPDATE SET data = excluded.data",
            &[
                &table.to_string(),
                &(chunk as i32),
                &generation,
                &block,
                &encode_digests(entries),
            ],
        )
        .await
        .map_err(target_err("storing row digests"))?;
    Ok(())
}

/// A chunk's stored row digests of one generation, sorted by key.
pub(crate) async fn read_digests(
    client: &Client,
    table: &QualName,
    chunk: u32,
    generation: i32,
) -> Result<Vec<(i64, u64)>> {
    let rows = client
        .query(
            "SELECT data FROM _migrator.row_digest WHERE table_name = $1 AND chunk_no = $2 \
             AND generation = $3 ORDER BY block_no",
            &[&table.to_string(), &(chunk as i32), &generation],
        )
        .await
        .map_err(target_err("reading row digests"))?;
    let mut out = Vec::new();
    for r in rows {
        decode_digests(r.get::<_, &[u8]>(0), &mut out).ok_or_else(|| {
            Error::new(
                ErrorKind::Target,
                "the stored row digests are damaged: use --restart",
            )
            .with_table(table)
            .with_chunk(chunk)
        })?;
    }
    out.sort_unstable();
    Ok(out)
}

/// The block numbers in use, per chunk and generation of row digests: one past the
/// highest block stored, keyed by table name and chunk. A copy through the DSQL batch path
/// numbers a chunk's blocks by its parts (a few thousand rows each), not by
/// [`DIGEST_BLOCK`], so a generation's row count does not tell how many blocks it has.
pub(crate) async fn digest_blocks(
    client: &Client,
) -> Result<HashMap<(String, u32), Vec<(i32, usize)>>> {
    let rows = client
        .query(
            "SELECT table_name, chunk_no, generation, max(block_no) FROM _migrator.row_digest \
             GROUP BY table_name, chunk_no, generation",
            &[],
        )
        .await
        .map_err(target_err("reading which row digests are stored"))?;
    let mut out: HashMap<(String, u32), Vec<(i32, usize)>> = HashMap::new();
    for r in rows {
        let (table, chunk): (String, i32) = (r.get(0), r.get(1));
        let (generation, last): (i32, i32) = (r.get(2), r.get(3));
        out.entry((table, chunk as u32))
            .or_default()
            .push((generation, last.max(0) as usize + 1));
    }
    Ok(out)
}

/// Drops one generation of a chunk's row digests, numbered `0..blocks`: a statement per
/// [`DROP_BLOCKS`] blocks, so that no transaction deletes more than about 1 MiB.
/// The statement dropping the blocks of one generation of a chunk's row digests from block
/// `from_block` on (what an earlier, longer write of the same generation left).
pub(crate) fn drop_blocks_from_sql(
    table: &QualName,
    chunk: u32,
    generation: i32,
    from_block: usize,
) -> String {
    format!(
        "DELETE FROM _migrator.row_digest WHERE table_name = {} AND chunk_no = {chunk} \
         AND generation = {generation} AND block_no >= {from_block}",
        literal(&table.to_string())
    )
}

/// Statements dropping the blocks of one generation of a chunk's row digests, a few
/// blocks (at most about 1 MiB) a statement, up to and past `blocks`.
pub(crate) fn drop_generation_sql(
    table: &QualName,
    chunk: u32,
    generation: i32,
    blocks: usize,
) -> Vec<String> {
    (0..blocks.max(1))
        .step_by(DROP_BLOCKS)
        .map(|b| {
            format!(
                "DELETE FROM _migrator.row_digest WHERE table_name = {} AND chunk_no = {chunk} \
                 AND generation = {generation} AND block_no >= {b} AND block_no < {}",
                literal(&table.to_string()),
                b + DROP_BLOCKS
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block ranges of the statements, parsed back out of their SQL.
    fn ranges(sql: &[String]) -> Vec<(usize, usize)> {
        sql.iter()
            .map(|s| {
                let num = |after: &str| -> usize {
                    let rest = &s[s.find(after).expect(after) + after.len()..];
                    let end = rest
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(rest.len());
                    rest[..end].parse().expect("a block number")
                };
                (num("block_no >= "), num("block_no < "))
            })
            .collect()
    }

    #[test]
    fn dropping_a_generation_covers_every_block_about_a_mebibyte_at_a_time() {
        let t = QualName::new("public", "events");
        for blocks in [0, 1, DROP_BLOCKS, DROP_BLOCKS + 1, 1_000] {
            let r = ranges(&drop_generation_sql(&t, 3, 2, blocks));
            assert_eq!(
                r.len(),
                blocks.max(1).div_ceil(DROP_BLOCKS),
                "{blocks} blocks"
            );
            // Contiguous from block 0 past the last block, each range at most DROP_BLOCKS.
            assert_eq!(r[0].0, 0);
            assert!(r.windows(2).all(|w| w[0].1 == w[1].0), "{r:?}");
            assert!(r.iter().all(|(a, b)| b - a <= DROP_BLOCKS), "{r:?}");
            assert!(r.last().expect("a statement").1 >= blocks, "{r:?}");
        }
    }

    #[test]
    fn row_digests_survive_encoding_whatever_the_keys() {
        let dense: Vec<(i64, u64)> = (1..=DIGEST_BLOCK as i64)
            .map(|k| (k, crate::hash::row_hash(&k.to_be_bytes())))
            .collect();
        // Keys out of order, far apart, negative and at both ends of the range.
        let scattered: Vec<(i64, u64)> = [5, 3, i64::MAX, i64::MIN, -1, 0, 1 << 40, 7]
            .into_iter()
            .map(|k| (k, !(k as u64)))
            .collect();
        for entries in [&dense, &scattered, &Vec::new()] {
            let bytes = encode_digests(entries);
            assert!(bytes.len() <= entries.len() * DIGEST_MAX_BYTES);
            let mut back = Vec::new();
            assert_eq!(decode_digests(&bytes, &mut back), Some(()));
            assert_eq!(&back, entries);
        }
        // A dense key costs a byte beside its hash.
        assert_eq!(encode_digests(&dense).len(), dense.len() * 9);
        // A block cut inside an entry is refused, not read as fewer entries (one cut between
        // entries is caught by the count the manifest keeps, see `stored_digests`).
        let bytes = encode_digests(&scattered);
        for cut in [1, 8, bytes.len() - 1] {
            let mut back = Vec::new();
            assert_eq!(
                decode_digests(&bytes[..cut], &mut back),
                None,
                "cut at {cut}"
            );
        }
    }
}
