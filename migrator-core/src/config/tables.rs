//! `[tables]` patterns, compiled: which relations of the source a migration selects.

use globset::{Glob, GlobMatcher};

use super::TableSelection;
use crate::error::{Error, Result};
use crate::sql::QualName;

/// The include/exclude table patterns, compiled.
#[derive(Debug, Clone)]
pub(crate) struct TableFilter {
    /// `(pattern as written, matcher on schema.name, matcher on the schema part if given)`
    include: Vec<(String, GlobMatcher, Option<GlobMatcher>)>,
    exclude: Vec<GlobMatcher>,
}

impl TableFilter {
    /// Compiles `[tables]` patterns. A pattern is `schema.table` with `*` and `?` wildcards;
    /// a pattern without a dot matches that table name in any schema.
    pub(crate) fn new(sel: &TableSelection) -> Result<TableFilter> {
        let mut include = Vec::new();
        for p in &sel.include {
            let schema = match p.split_once('.') {
                Some((schema, _)) => Some(Self::glob(schema, p)?),
                None => None,
            };
            include.push((p.clone(), Self::glob(&Self::full_pattern(p), p)?, schema));
        }
        let exclude = sel
            .exclude
            .iter()
            .map(|p| Self::glob(&Self::full_pattern(p), p))
            .collect::<Result<_>>()?;
        Ok(TableFilter { include, exclude })
    }

    /// Checks that a pattern compiles.
    pub(crate) fn check_pattern(p: &str) -> Result<()> {
        Self::glob(&Self::full_pattern(p), p).map(|_| ())
    }

    fn full_pattern(p: &str) -> String {
        if p.contains('.') {
            p.to_string()
        } else {
            format!("*.{p}")
        }
    }

    fn glob(pattern: &str, original: &str) -> Result<GlobMatcher> {
        if original.trim().is_empty() {
            return Err(Error::config("empty table pattern in [tables]"));
        }
        Glob::new(pattern)
            .map(|g| g.compile_matcher())
            .map_err(|e| Error::config(format!("bad table pattern '{original}': {}", e.kind())))
    }

    /// Whether a relation is selected.
    pub(crate) fn matches(&self, name: &QualName) -> bool {
        let s = name.to_string();
        (self.include.is_empty() || self.include.iter().any(|(_, g, _)| g.is_match(&s)))
            && !self.exclude.iter().any(|g| g.is_match(&s))
    }

    /// Whether a schema is named by an include pattern (or there are none).
    pub(crate) fn schema_selected(&self, schema: &str) -> bool {
        self.include.is_empty()
            || self
                .include
                .iter()
                .any(|(_, _, g)| g.as_ref().is_some_and(|g| g.is_match(schema)))
    }

    /// The first include pattern that matches none of `names`, if any.
    pub(crate) fn include_matching_none(&self, names: &[QualName]) -> Option<&str> {
        self.include
            .iter()
            .find(|(_, glob, _)| !names.iter().any(|n| glob.is_match(n.to_string())))
            .map(|(original, _, _)| original.as_str())
    }
}
