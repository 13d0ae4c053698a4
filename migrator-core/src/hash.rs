//! Row hashes and chunk fingerprints: the 64-bit hash of a row as a COPY stream carries it,
//! a chunk's fingerprint (its row count and the sum of its rows' hashes), and the comparison
//! of two chunks' `(key, hash)` lists. Computed by the copy from the stream it reads anyway,
//! stored in the manifest, compared by sync.

/// A chunk's fingerprint: its rows, the sum of their hashes (as numeric text), and for a
/// key-range chunk the largest key it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub rows: i64,
    pub sum: String,
    pub max_key: Option<i64>,
}

/// Sums the fingerprint of rows as a COPY stream carries them: the wrapping sum of the
/// XXH3-64 of each row's bytes (binary: its fields' lengths and data; text: its line), the
/// row count and the largest key. Computed here from the stream the copy reads anyway, so a
/// fingerprint costs no second read; sync streams the chunk again to recompute it.
#[derive(Debug, Default)]
pub(crate) struct ChunkHasher {
    rows: i64,
    sum: u64,
    max_key: Option<i64>,
    /// Each row's `(key, hash)`, when kept (see [`ChunkHasher::keeping_rows`]).
    entries: Option<Vec<(i64, u64)>>,
}

/// A row's hash: XXH3-64 of its bytes as the COPY stream carries them.
pub(crate) fn row_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

impl ChunkHasher {
    /// A hasher that also keeps every row's `(key, hash)`: a key-range chunk's row digests,
    /// stored so that sync can tell which rows changed without reading the target.
    pub(crate) fn keeping_rows() -> ChunkHasher {
        ChunkHasher {
            entries: Some(Vec::new()),
            ..ChunkHasher::default()
        }
    }

    pub(crate) fn row(&mut self, bytes: &[u8], key: Option<i64>) {
        self.add(row_hash(bytes), key);
    }

    pub(crate) fn add(&mut self, hash: u64, key: Option<i64>) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(hash);
        if let Some(k) = key {
            self.max_key = Some(self.max_key.map_or(k, |m| m.max(k)));
            if let Some(e) = self.entries.as_mut() {
                e.push((k, hash));
            }
        }
    }

    /// The first `n` `(key, hash)` kept, once there are that many (in arrival order); the
    /// rows' sum and count go on as before.
    pub(crate) fn take_block(&mut self, n: usize) -> Option<Vec<(i64, u64)>> {
        let e = self.entries.as_mut()?;
        if e.len() < n {
            return None;
        }
        let rest = e.split_off(n);
        Some(std::mem::replace(e, rest))
    }

    /// The rows' `(key, hash)`, sorted by key, if kept.
    pub(crate) fn take_entries(&mut self) -> Option<Vec<(i64, u64)>> {
        let mut e = self.entries.take()?;
        e.sort_unstable();
        Some(e)
    }

    pub(crate) fn finish(self) -> Fingerprint {
        Fingerprint {
            rows: self.rows,
            sum: self.sum.to_string(),
            max_key: self.max_key,
        }
    }
}

/// Compares two sorted `(key, hash)` lists, old and new: the keys new or changed, and the
/// keys gone.
pub(crate) fn compare_entries(old: &[(i64, u64)], new: &[(i64, u64)]) -> (Vec<i64>, Vec<i64>) {
    let (mut write, mut gone) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    loop {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o.0 == n.0 => {
                if o.1 != n.1 {
                    write.push(n.0);
                }
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if o.0 < n.0 => {
                gone.push(o.0);
                i += 1;
            }
            (Some(o), None) => {
                gone.push(o.0);
                i += 1;
            }
            (_, Some(n)) => {
                write.push(n.0);
                j += 1;
            }
            (None, None) => break,
        }
    }
    (write, gone)
}

#[cfg(test)]
mod tests {
    use super::{ChunkHasher, compare_entries};

    #[test]
    fn full_blocks_of_row_digests_leave_the_fingerprint_whole() {
        let mut streamed = ChunkHasher::keeping_rows();
        let mut whole = ChunkHasher::keeping_rows();
        let mut blocks = Vec::new();
        for k in (0..25i64).rev() {
            let row = k.to_be_bytes();
            streamed.row(&row, Some(k));
            whole.row(&row, Some(k));
            assert!(whole.take_block(100).is_none(), "not a full block yet");
            if let Some(b) = streamed.take_block(10) {
                assert_eq!(b.len(), 10, "a block is exactly the size asked");
                blocks.push(b);
            }
        }
        assert_eq!(blocks.len(), 2);
        let rest = streamed.take_entries().unwrap();
        assert_eq!(rest.len(), 5);
        let mut all: Vec<_> = blocks.into_iter().flatten().chain(rest).collect();
        all.sort_unstable();
        assert_eq!(Some(all), whole.take_entries());
        let (a, b) = (streamed.finish(), whole.finish());
        assert_eq!((a.rows, &a.sum, a.max_key), (25, &b.sum, Some(24)));
        assert!(
            ChunkHasher::default().take_block(1).is_none(),
            "no rows kept"
        );
    }

    #[test]
    fn entries_compare_by_key() {
        let old = [(1, 10), (2, 20), (4, 40), (9, 90)];
        let new = [(0, 1), (2, 20), (4, 41), (5, 50)];
        assert_eq!(compare_entries(&old, &new), (vec![0, 4, 5], vec![1, 9]));
        assert_eq!(compare_entries(&old, &old), (vec![], vec![]));
        assert_eq!(compare_entries(&[], &new).0.len(), 4);
        assert_eq!(compare_entries(&old, &[]).1.len(), 4);
    }
}
