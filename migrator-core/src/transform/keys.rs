//! Integer keys to UUIDs. A single-column integer primary key becomes
//! `UUIDv5(namespace, "<schema>.<table>:<key>")`; a foreign key column gets the same function
//! of the table and column it references, so a child row needs no lookup; an integer column
//! that foreign keys reference without being its table's single-column primary key (a
//! UNIQUE column, or part of a composite key) is named `"<schema>.<table>.<column>:"`.
//! The same source row gets the same UUID in every run and every target.

use std::collections::HashMap;

use uuid::Uuid;

use crate::catalog::{Catalog, Oid, Table};

/// The namespace used unless `keys.namespace` says otherwise. Fixed, so re-running on a
/// second target yields the same UUIDs.
pub(crate) fn default_namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://github.com/migrator/keys/v1")
}

/// The UUID of key `key` of the key space `prefix` (`"public.users:"`).
pub(crate) fn key_uuid(namespace: &Uuid, prefix: &str, key: i64) -> Uuid {
    let mut name = String::with_capacity(prefix.len() + 20);
    name.push_str(prefix);
    name.push_str(&key.to_string());
    Uuid::new_v5(namespace, name.as_bytes())
}

pub(crate) use crate::frames::binary_int;

fn is_int(oid: Oid) -> bool {
    matches!(oid, 20 | 21 | 23)
}

/// For every integer column that becomes a UUID, `(table, column) -> key space prefix`.
pub(crate) fn uuid_columns(cat: &Catalog) -> HashMap<(Oid, String), String> {
    let tables: HashMap<Oid, &Table> = cat.tables_by_oid();
    let int_column = |t: Oid, c: &str| {
        tables
            .get(&t)
            .and_then(|t| t.columns.iter().find(|x| x.name == c))
            .is_some_and(|x| is_int(x.type_oid))
    };
    // Where each foreign key column points: (table, column) -> (table, column).
    let mut points_to: HashMap<(Oid, String), (Oid, String)> = HashMap::new();
    for fk in cat.constraints.iter().filter(|c| c.kind == 'f') {
        let Some((ref_table, ref_cols)) = &fk.references else {
            continue;
        };
        if !tables.contains_key(ref_table) {
            continue;
        }
        for (col, ref_col) in fk.columns.iter().zip(ref_cols) {
            if int_column(fk.table, col) && int_column(*ref_table, ref_col) {
                points_to.insert((fk.table, col.clone()), (*ref_table, ref_col.clone()));
            }
        }
    }
    // A partition's keys are its partitioned table's keys: one key space for all of them.
    let own_prefix = |t: Oid, c: &str| -> String {
        let table = tables[&t];
        let root = cat.root_of(t).unwrap_or(table);
        if table.int_key.as_deref() == Some(c) || root.int_key.as_deref() == Some(c) {
            format!("{}:", root.name)
        } else {
            format!("{}.{}:", root.name, c)
        }
    };
    // A column's key space: where its chain of references ends.
    let resolve = |start: (Oid, String)| -> String {
        let mut at = start;
        for _ in 0..64 {
            match points_to.get(&at) {
                Some(next) if *next != at => at = next.clone(),
                _ => break,
            }
        }
        own_prefix(at.0, &at.1)
    };
    let mut out = HashMap::new();
    for t in cat.tables.iter() {
        if let Some(k) = &t.int_key {
            out.insert((t.oid, k.clone()), resolve((t.oid, k.clone())));
        }
    }
    for (from, to) in &points_to {
        out.insert(from.clone(), resolve(from.clone()));
        out.insert(to.clone(), resolve(to.clone()));
    }
    // A partition's columns are its partitioned table's columns (a target that folds
    // partitions into one table maps them there).
    let partition_columns: Vec<((Oid, String), String)> = out
        .iter()
        .filter_map(|((t, c), prefix)| {
            let root = cat.root_of(*t)?;
            (root.oid != *t).then(|| ((root.oid, c.clone()), prefix.clone()))
        })
        .collect();
    for (k, v) in partition_columns {
        out.entry(k).or_insert(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_deterministic_and_distinct_per_key_space() {
        let ns = default_namespace();
        let a = key_uuid(&ns, "public.users:", 42);
        assert_eq!(a, key_uuid(&ns, "public.users:", 42));
        assert_ne!(a, key_uuid(&ns, "public.orders:", 42));
        assert_ne!(a, key_uuid(&ns, "public.users:", 43));
        assert_eq!(a.get_version_num(), 5);
        // UUIDv5 of the name "public.users:42" in this namespace, computed independently.
        assert_eq!(a, Uuid::new_v5(&ns, b"public.users:42"));
    }

    #[test]
    fn binary_ints_of_every_width() {
        assert_eq!(binary_int(&7i16.to_be_bytes()).unwrap(), 7);
        assert_eq!(binary_int(&(-5i32).to_be_bytes()).unwrap(), -5);
        assert_eq!(binary_int(&i64::MAX.to_be_bytes()).unwrap(), i64::MAX);
        assert!(binary_int(&[1, 2, 3]).is_err());
    }
}
