//! Aurora DSQL's column types and per-table limits, as data: for each PostgreSQL type,
//! whether a DSQL column may have it, its size limit, DSQL's default type modifier, whether
//! DSQL can index it, what the `dsql` profile stores instead where DSQL refuses it, and
//! where each rule was read. The DDL renderer ([`super::columns`]), the plan's size checks
//! ([`super::measure`]), `verify` (through the plan's read expressions) and the test
//! emulator (`fixtures::dsql`, which builds its catalog rules from [`TYPES`]) all follow this
//! one table.
//!
//! The sources, all read on 2026-12-07 from stored copies (no live page was fetched here):
//! - [`TYPES_PAGE`]: AWS, *Supported data types in Aurora DSQL*.
//! - [`QUOTAS_PAGE`]: AWS, *Cluster quotas and database limits in Amazon Aurora DSQL*.
//! - [`LIVE`]: AWS's DSQL guidance (awslabs/agent-plugins, `dsql/references/
//!   limits-and-error-codes.md`), whose values marked *observed* were measured on a live
//!   single-Region cluster on 2026-10-01.
//! - [`ISSUE_19`]: a user's reading of the types page in 2026-12, which found `jsonb` refused.
//!
//! Where they disagree, a live observation wins over a page, and a page over a linter
//! (`dsql-lint` 0.2.22 flags arrays, bare `serial` and out-of-range numeric precision; it
//! says nothing of `jsonb`, `inet` or sizes). `jsonb` is the one type the sources still
//! disagree on (the types page and the live observations store it; a reading of 2026-12
//! found it refused; AWS's guidance of 2026-05 called it runtime-only): the profile asks
//! each cluster ([`Column::Probed`]) and maps it to `json` where refused.

/// The types page (`working-with-postgresql-compatibility-supported-data-types`).
pub const TYPES_PAGE: &str =
    "AWS user guide, Supported data types in Aurora DSQL (read 2026-12-07)";
/// The quotas page (`CHAP_quotas`).
pub const QUOTAS_PAGE: &str =
    "AWS user guide, Cluster quotas and database limits in Amazon Aurora DSQL (read 2026-12-07)";
/// AWS's DSQL guidance, observed on a live cluster.
pub const LIVE: &str =
    "awslabs/agent-plugins DSQL limits-and-error-codes.md, observed on a live cluster 2026-10-01";
/// Types DSQL refuses as columns that the types page does not name: the page lists the
/// stored types, and anything else is refused.
pub const NOT_LISTED: &str =
    "not among the stored types of the types page (read 2026-12-07); issue 19 (2026-12)";
/// The disputed `jsonb`.
pub const ISSUE_19: &str = "stored per the types page and the live observations (2026-10-01); refused per a reading of 2026-12 (issue 19): asked of each cluster";
/// `json`, stored since 2026-05.
pub const JSON_SINCE_2026_05: &str = "stored per the types page and the live observations (2026-10-01); a query-runtime type before 2026-05 (the types page then: store JSON as text): asked of each cluster";

/// Whether a DSQL column may have a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Column {
    /// Stored as it is.
    Stored,
    /// A query-runtime type only: `CREATE TABLE` refuses a column of it
    /// ([`REFUSED_SQLSTATE`], [`refused_message`]).
    RuntimeOnly,
    /// The sources disagree, or it changed during 2026: the profile asks the cluster at
    /// plan time (a `CREATE TABLE` inside a transaction that is rolled back) and maps it
    /// where refused.
    Probed,
}

/// What the `dsql` profile stores where DSQL refuses a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instead {
    /// The target column type.
    pub type_sql: &'static str,
    /// The source expression that produces it; `{}` stands for the quoted column.
    pub read: &'static str,
}

impl Instead {
    /// The read expression for `quoted` (a quoted column name or an expression).
    pub fn read_of(&self, quoted: &str) -> String {
        self.read.replace("{}", quoted)
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TypeRule {
    /// The type as PostgreSQL's `format_type` names it, without modifiers.
    pub name: &'static str,
    /// Its built-in OID (the same in every PostgreSQL version); 0 for the rows that stand
    /// for a kind of type ([`ARRAY`], [`OTHER`]).
    pub oid: u32,
    /// Whether a column may have it.
    pub column: Column,
    /// How DSQL's messages name it (`varchar` for `character varying`).
    pub short: &'static str,
    /// The largest value DSQL stores, in bytes, checked when a row is written.
    pub max_value_bytes: Option<u64>,
    /// The largest declared length (`varchar(n)`, `char(n)`), refused at `CREATE TABLE`.
    pub max_declared: Option<i32>,
    /// The modifier DSQL gives a column declared without one (`numeric` is
    /// `numeric(18,6)`): values are rounded and overflow as under that modifier.
    pub default_modifier: Option<(i32, i32)>,
    /// Whether an index key (primary key, unique constraint, index) may hold it.
    pub indexable: bool,
    /// What the profile stores where DSQL refuses it.
    pub instead: Option<Instead>,
    /// Where the rule was read.
    pub source: &'static str,
}

const MIB: u64 = 1024 * 1024;

const fn stored(name: &'static str, oid: u32, short: &'static str) -> TypeRule {
    TypeRule {
        name,
        oid,
        column: Column::Stored,
        short,
        max_value_bytes: None,
        max_declared: None,
        default_modifier: None,
        indexable: true,
        instead: None,
        source: TYPES_PAGE,
    }
}

const fn as_text(name: &'static str, oid: u32, source: &'static str) -> TypeRule {
    TypeRule {
        name,
        oid,
        column: Column::RuntimeOnly,
        short: name,
        max_value_bytes: None,
        max_declared: None,
        default_modifier: None,
        indexable: false,
        instead: Some(TEXT),
        source,
    }
}

const TEXT: Instead = Instead {
    type_sql: "text",
    read: "{}::text",
};
const JSON: Instead = Instead {
    type_sql: "json",
    read: "{}::json",
};

const fn limited(mut r: TypeRule, bytes: u64) -> TypeRule {
    r.max_value_bytes = Some(bytes);
    r
}

const fn unindexed(mut r: TypeRule) -> TypeRule {
    r.indexable = false;
    r
}

/// Every built-in type the table names, stored ones first. Types it does not name are
/// [`OTHER`]; arrays of any type are [`ARRAY`].
pub static TYPES: &[TypeRule] = &[
    stored("boolean", 16, "boolean"),
    stored("smallint", 21, "smallint"),
    stored("integer", 23, "integer"),
    stored("bigint", 20, "bigint"),
    stored("real", 700, "real"),
    stored("double precision", 701, "double precision"),
    TypeRule {
        // Precision 1..=1000 and scale -1000..=1000 since 2026-08-25 (38 and 37 before):
        // see NUMERIC_MAX_PRECISION.
        default_modifier: Some((18, 6)),
        ..stored("numeric", 1700, "numeric")
    },
    TypeRule {
        max_declared: Some(4096),
        ..limited(stored("character", 1042, "char"), 4096)
    },
    TypeRule {
        max_declared: Some(65535),
        ..limited(stored("character varying", 1043, "varchar"), 65535)
    },
    limited(stored("text", 25, "text"), MIB),
    TypeRule {
        // 1 MiB stored, not compressed; "1,048,576 bytes is the largest value accepted".
        source: LIVE,
        ..unindexed(limited(stored("bytea", 17, "bytea"), MIB))
    },
    stored("date", 1082, "date"),
    stored("time without time zone", 1083, "time"),
    unindexed(stored("time with time zone", 1266, "timetz")),
    stored("timestamp without time zone", 1114, "timestamp"),
    stored("timestamp with time zone", 1184, "timestamptz"),
    unindexed(stored("interval", 1186, "interval")),
    stored("uuid", 2950, "uuid"),
    // The 1 MiB applies to the compressed value, so some larger values fit; the profile
    // holds to the raw size, which it can measure.
    TypeRule {
        column: Column::Probed,
        instead: Some(TEXT),
        source: JSON_SINCE_2026_05,
        ..unindexed(limited(stored("json", 114, "json"), MIB))
    },
    TypeRule {
        column: Column::Probed,
        instead: Some(JSON),
        source: ISSUE_19,
        ..unindexed(limited(stored("jsonb", 3802, "jsonb"), MIB))
    },
    // Query-runtime types only: the types page names arrays and inet; the rest are not
    // among its stored types.
    as_text("inet", 869, TYPES_PAGE),
    as_text("cidr", 650, NOT_LISTED),
    as_text("macaddr", 829, NOT_LISTED),
    as_text("macaddr8", 774, NOT_LISTED),
    as_text("tsvector", 3614, NOT_LISTED),
    as_text("tsquery", 3615, NOT_LISTED),
    as_text("point", 600, NOT_LISTED),
    as_text("line", 628, NOT_LISTED),
    as_text("lseg", 601, NOT_LISTED),
    as_text("box", 603, NOT_LISTED),
    as_text("path", 602, NOT_LISTED),
    as_text("polygon", 604, NOT_LISTED),
    as_text("circle", 718, NOT_LISTED),
    as_text("xml", 142, NOT_LISTED),
    as_text("bit", 1560, NOT_LISTED),
    as_text("bit varying", 1562, NOT_LISTED),
    TypeRule {
        // Its full range (±92233720368547758.07) fits 20 digits with 2 decimals.
        instead: Some(Instead {
            type_sql: "numeric(20,2)",
            read: "{}::numeric",
        }),
        ..as_text("money", 790, NOT_LISTED)
    },
];

/// Arrays of any type: a query-runtime type (types page); stored as `json` (`to_json`), or
/// as text with `[types] arrays = "text"`. DSQL echoes the declared type in its refusal
/// (`datatype text[] not supported`, observed live).
pub static ARRAY: TypeRule = TypeRule {
    instead: Some(Instead {
        type_sql: "json",
        read: "to_json({})",
    }),
    ..as_text("array", 0, TYPES_PAGE)
};

/// Any type the table does not name (user-defined types, ranges, `pg_lsn`, `oid`...):
/// stored as its text form. `CREATE TYPE` and `CREATE DOMAIN` do not exist in DSQL
/// (unsupported-features page); enums and domains get their own mappings (labels as a
/// CHECK, the base type with the domain's CHECKs).
pub static OTHER: TypeRule = as_text("other", 0, NOT_LISTED);

/// The rule for a built-in type OID, if the table names it.
pub fn rule(oid: u32) -> Option<&'static TypeRule> {
    TYPES.iter().find(|r| r.oid == oid)
}

/// The rule for a target column type as the renderer writes it (`character varying(40)`,
/// `numeric(20,9)`, `text[]`).
pub fn rule_of_sql(type_sql: &str) -> &'static TypeRule {
    if type_sql.ends_with("[]") {
        return &ARRAY;
    }
    let base = type_sql.split('(').next().unwrap_or(type_sql).trim();
    // `time(3) with time zone` puts its modifier in the middle.
    let base = match base {
        "time" if type_sql.contains("with time zone") => "time with time zone",
        "time" => "time without time zone",
        "timestamp" if type_sql.contains("with time zone") => "timestamp with time zone",
        "timestamp" => "timestamp without time zone",
        b => b,
    };
    TYPES.iter().find(|r| r.name == base).unwrap_or(&OTHER)
}

/// The SQLSTATE of a refused column type (observed live for arrays: `0A000`).
pub const REFUSED_SQLSTATE: &str = "0A000";

/// DSQL's refusal of a column of type `declared` (as the statement wrote it).
pub fn refused_message(declared: &str) -> String {
    format!("datatype {declared} not supported")
}

/// The SQLSTATE of every size limit below (observed live).
pub const LIMIT_SQLSTATE: &str = "54000";

/// DSQL's refusal of a value of `rule` over its limit, at write time (observed live:
/// `datatype limit greater than 1048576 bytes not supported for text`), or of a declared
/// length over it at `CREATE TABLE` (`Datatype limit greater than 65535 bytes not
/// supported for varchar`).
pub fn limit_message(rule: &TypeRule, declared: bool) -> String {
    let bytes = if declared {
        rule.max_declared.map(i64::from)
    } else {
        rule.max_value_bytes.map(|b| b as i64)
    }
    .unwrap_or(0);
    let word = if declared { "Datatype" } else { "datatype" };
    format!(
        "{word} limit greater than {bytes} bytes not supported for {}",
        rule.short
    )
}

/// A limit together with where it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The value.
    pub value: u64,
    /// The SQLSTATE of DSQL's refusal.
    pub sqlstate: &'static str,
    /// DSQL's message.
    pub message: &'static str,
    /// Where it was read.
    pub source: &'static str,
}

/// The largest `numeric` precision (and scale magnitude) since 2026-08-25 (release notes;
/// the live guidance: `22023 NUMERIC precision <n> must be between 1 and 1000`).
pub const NUMERIC_MAX_PRECISION: u32 = 1000;
/// The largest `numeric` precision before 2026-08-25 (earlier types page: "The maximum
/// precision is 38 and the maximum scale is 37"); the profile asks each cluster which.
pub const NUMERIC_MAX_PRECISION_BEFORE_2026_08: u32 = 38;

/// Bytes of a primary key or index key: 1 KiB on the quotas page (a live cluster took about
/// 1,981 bytes in one budget shared by every key column; the profile holds to the
/// documented bound, since the observed one is approximate).
pub const MAX_KEY_BYTES: Limit = Limit {
    value: 1024,
    sqlstate: "54000",
    message: "key size too large",
    source: QUOTAS_PAGE,
};

/// Bytes of a row.
pub const MAX_ROW_BYTES: Limit = Limit {
    value: 2 * MIB,
    sqlstate: "54000",
    message: "maximum row size exceeded",
    source: QUOTAS_PAGE,
};

/// Columns of a table (a live cluster took 256; the documented 255 is also its message).
pub const MAX_COLUMNS: Limit = Limit {
    value: 255,
    sqlstate: "54011",
    message: "tables can have at most 255 columns",
    source: QUOTAS_PAGE,
};

/// Indexes of a table, counting the primary key and each UNIQUE constraint's (observed
/// live: "every index counts toward the 24").
pub const MAX_INDEXES: Limit = Limit {
    value: 24,
    sqlstate: "54000",
    message: "more than 24 indexes per table are not allowed",
    source: LIVE,
};

/// New connections a second (past a burst of 1,000, which the profile does not count on):
/// the profile never opens sessions faster.
pub const MAX_CONNECTION_RATE: Limit = Limit {
    value: 100,
    sqlstate: "53400",
    message: "Unable to accept connection, rate exceeded.",
    source: QUOTAS_PAGE,
};

/// A per-column `COLLATE` clause, even `COLLATE "C"`: DSQL compares text in C order only
/// (live, awslabs/aurora-dsql-tools 2026-06-01).
pub const COLLATE_REFUSED: &str = "COLLATE clause not supported";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_named_once_and_refused_types_have_a_mapping() {
        let mut names: Vec<&str> = TYPES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TYPES.len());
        for r in TYPES.iter().chain([&ARRAY, &OTHER]) {
            match r.column {
                Column::Stored => assert!(r.instead.is_none(), "{}", r.name),
                Column::RuntimeOnly | Column::Probed => {
                    let i = r.instead.expect(r.name);
                    // What it is stored as is itself a stored type, or json, which is text
                    // where a cluster refuses it.
                    let to = rule_of_sql(i.type_sql);
                    assert!(
                        to.column == Column::Stored || to.instead == Some(TEXT),
                        "{}",
                        r.name
                    );
                    assert!(i.read.contains("{}"), "{}", r.name);
                }
            }
            assert!(!r.source.is_empty());
        }
    }

    #[test]
    fn target_types_find_their_rows() {
        assert_eq!(rule_of_sql("character varying(40)").short, "varchar");
        assert_eq!(rule_of_sql("numeric(20,9)").default_modifier, Some((18, 6)));
        assert_eq!(rule_of_sql("time(3) with time zone").short, "timetz");
        assert_eq!(
            rule_of_sql("timestamp(0) without time zone").short,
            "timestamp"
        );
        assert_eq!(rule_of_sql("integer[]").name, "array");
        assert_eq!(rule_of_sql("public.mood").name, "other");
        assert_eq!(
            limit_message(rule_of_sql("text"), false),
            "datatype limit greater than 1048576 bytes not supported for text"
        );
        assert_eq!(
            limit_message(rule_of_sql("character varying"), true),
            "Datatype limit greater than 65535 bytes not supported for varchar"
        );
    }
}
