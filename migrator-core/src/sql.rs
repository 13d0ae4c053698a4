//! The one place that quotes SQL: identifiers, literals, qualified names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Quotes an identifier, always: `"name"`, with embedded quotes doubled.
pub fn ident(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for ch in name.chars() {
        if ch == '"' {
            s.push('"');
        }
        s.push(ch);
    }
    s.push('"');
    s
}

/// Quotes a string literal: `'text'`, or `E'...'` when it holds a backslash, so the result
/// means the same whatever `standard_conforming_strings` says.
pub fn literal(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 3);
    if value.contains('\\') {
        s.push('E');
    }
    s.push('\'');
    for ch in value.chars() {
        match ch {
            '\'' => s.push_str("''"),
            '\\' => s.push_str("\\\\"),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

/// A schema-qualified name of a relation, type, sequence or function.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QualName {
    /// The schema.
    pub schema: String,
    /// The object's name within the schema.
    pub name: String,
}

impl QualName {
    /// A name from its two parts.
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> QualName {
        QualName {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// The quoted SQL form, `"schema"."name"`.
    pub fn sql(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }

    /// Parses `schema.name` (unquoted, as printed by [`fmt::Display`]); a name without a dot
    /// is in `public`.
    pub fn parse(s: &str) -> QualName {
        match s.split_once('.') {
            Some((schema, name)) => QualName::new(schema, name),
            None => QualName::new("public", s),
        }
    }
}

/// `schema.name`, unquoted, for people.
impl fmt::Display for QualName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("Order"), "\"Order\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\b"), "E'a\\\\b'");
        assert_eq!(QualName::new("public", "t x").sql(), "\"public\".\"t x\"");
        assert_eq!(QualName::parse("s.t"), QualName::new("s", "t"));
    }
}
