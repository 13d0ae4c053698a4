//! Row transforms: what the stream does to a row on its way. Integer keys become UUIDs in
//! the COPY stream ([`keys`]), since PostgreSQL has no built-in UUIDv5, and `bytea` values
//! go to the blob store with their key, size and SHA-256 in their place ([`blobs`]). Type
//! mappings are not here: they are SQL expressions the source evaluates while it reads,
//! which each target profile decides (for DSQL, `target::dsql::columns`).

pub(crate) mod blobs;
pub(crate) mod keys;
