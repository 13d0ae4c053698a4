//! What the source's data say about a DSQL schema, read before anything is written: the
//! precision an unconstrained `numeric` column needs ([`numeric_choices`]), and the largest
//! value of every column DSQL limits, the largest row and the largest key
//! ([`size_findings`]), each against [`super::types`].

use std::collections::HashMap;

use tokio_postgres::Client;

use super::columns::{ColumnMap, unconstrained_numeric};
use super::{Capabilities, TableMap, types};
use crate::catalog::{Catalog, Oid, Table, TypeKind};
use crate::error::{Error, ErrorKind, Result};
use crate::findings::{Finding, Severity};
use crate::sql::ident;
use crate::state::TargetColumn;

/// Integer digits a new `numeric(p,s)` gets beyond the largest value's, so the
/// application's values can grow a thousandfold after cutover.
const HEADROOM_DIGITS: u32 = 3;

/// The type an unconstrained `numeric` column gets, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NumericChoice {
    /// `numeric(p,s)` or `text`.
    pub type_sql: String,
    /// For the plan's findings.
    pub note: String,
}

impl NumericChoice {
    /// The source expression reading column `quoted` as this type.
    pub fn read_of(&self, quoted: &str) -> String {
        format!("{quoted}::{}", self.type_sql)
    }
}

/// What the values of one unconstrained `numeric` column need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NumericNeed {
    /// Digits of the largest integer part (none when the column holds no finite value).
    pub int_digits: Option<u32>,
    /// The largest scale (digits after the point).
    pub scale: Option<u32>,
    /// Whether it holds `Infinity` or `-Infinity`, which no `numeric(p,s)` holds.
    pub infinite: bool,
}

/// The columns of `t` (a table DSQL creates: not a partition) that are `numeric` without a
/// precision, themselves or through a domain.
fn unconstrained_columns<'a>(cat: &Catalog, t: &'a Table) -> Vec<&'a str> {
    t.columns
        .iter()
        .filter(|c| {
            let (mut oid, mut ty) = (c.type_oid, c.type_sql.clone());
            for _ in 0..8 {
                match cat.types.iter().find(|x| x.oid == oid).map(|x| &x.kind) {
                    Some(TypeKind::Domain { base_oid, base, .. }) => {
                        oid = *base_oid;
                        ty = base.clone();
                    }
                    _ => break,
                }
            }
            unconstrained_numeric(oid, &ty)
        })
        .map(|c| c.name.as_str())
        .collect()
}

/// Measures every unconstrained `numeric` column of the tables DSQL creates and chooses
/// its type: the type the target already has (an earlier run made it), checked against
/// the data, or a `numeric(p,s)` holding every value with headroom, or `text` where no
/// `numeric(p,s)` can. A value that no longer fits the type an earlier run chose is an
/// error finding.
pub(crate) async fn numeric_choices(
    source: &Client,
    cat: &Catalog,
    existing: &HashMap<crate::sql::QualName, Vec<TargetColumn>>,
    caps: Capabilities,
) -> Result<(HashMap<(Oid, String), NumericChoice>, Vec<Finding>)> {
    let mut choices = HashMap::new();
    let mut findings = Vec::new();
    let infinity = cat.server_version_num >= 140000;
    for t in cat.tables.iter().filter(|t| t.partition_of.is_none()) {
        let columns = unconstrained_columns(cat, t);
        if columns.is_empty() {
            continue;
        }
        let mut exprs = Vec::new();
        for c in &columns {
            let q = ident(c);
            let special = if infinity {
                format!("{q} IN ('NaN', 'Infinity', '-Infinity')")
            } else {
                format!("{q} = 'NaN'")
            };
            exprs.push(format!(
                "max(CASE WHEN {special} THEN NULL ELSE length(trunc(abs({q}))::text) END)::int"
            ));
            exprs.push(format!("max(scale({q}))::int"));
            exprs.push(if infinity {
                format!("coalesce(bool_or({q} IN ('Infinity', '-Infinity')), false)")
            } else {
                "false".into()
            });
        }
        // A partitioned table's rows are its partitions'; an inheritance parent's own rows
        // are its table in DSQL (children are tables of their own).
        let only = if t.is_partitioned() { "" } else { "ONLY " };
        let sql = format!("SELECT {} FROM {only}{}", exprs.join(", "), t.name.sql());
        let row = source.query_one(&sql, &[]).await.map_err(|e| {
            Error::db(
                ErrorKind::Source,
                format!("measuring the numeric columns of {}", t.name),
                e,
            )
        })?;
        for (i, c) in columns.iter().enumerate() {
            let need = NumericNeed {
                int_digits: row.get::<_, Option<i32>>(3 * i).map(|v| v as u32),
                scale: row.get::<_, Option<i32>>(3 * i + 1).map(|v| v as u32),
                infinite: row.get(3 * i + 2),
            };
            let object = format!("{}.{c}", t.name);
            let had = existing
                .get(&t.name)
                .and_then(|cols| cols.iter().find(|x| x.name == *c))
                .map(|x| x.type_sql.as_str());
            match choose(need, had, caps.numeric_max_precision) {
                Ok(choice) => {
                    choices.insert((t.oid, c.to_string()), choice);
                }
                Err(message) => findings.push(Finding::new(
                    Severity::Error,
                    object.clone(),
                    format!("{object}: {message}"),
                )),
            }
        }
    }
    Ok((choices, findings))
}

/// `numeric(p,s)` as `(p, s)`.
fn precision_of(type_sql: &str) -> Option<(u32, u32)> {
    let inner = type_sql.strip_prefix("numeric(")?.strip_suffix(')')?;
    let (p, s) = inner.split_once(',').unwrap_or((inner, "0"));
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// The type for a column whose values need `need`, given the target's type for it if it
/// has the column already. `Err` says why the data no longer fit that type.
pub(crate) fn choose(
    need: NumericNeed,
    existing: Option<&str>,
    max_precision: u32,
) -> std::result::Result<NumericChoice, String> {
    let (dp, ds) = types::rule(1700)
        .and_then(|r| r.default_modifier)
        .map(|(p, s)| (p as u32, s as u32))
        .unwrap_or((18, 6));
    let measured = match (need.int_digits, need.scale) {
        (None, _) => "it holds no number to measure".to_string(),
        (Some(i), s) => format!(
            "its values have up to {i} integer digits and {} decimals",
            s.unwrap_or(0)
        ),
    };
    let why = format!(
        "numeric without a precision, which DSQL would make numeric({dp},{ds}) (rounding to \
         {ds} decimals, overflowing at 10^{}); {measured}",
        dp - ds
    );
    let int_need = need.int_digits.unwrap_or(0);
    let scale_need = need.scale.unwrap_or(0);
    if let Some(had) = existing {
        // An earlier run made the column: the data must still fit it, since DSQL cannot
        // change a column's type.
        let fits = match precision_of(had) {
            Some((p, s)) => !need.infinite && int_need <= p.saturating_sub(s) && scale_need <= s,
            None => true,
        };
        if !fits {
            return Err(format!(
                "{measured}{}, which the target's {had} (chosen when the copy began) cannot hold \
                 without loss, and DSQL cannot change a column's type: copy again into a new \
                 target (--restart after dropping the table), or stay on PostgreSQL",
                if need.infinite { " and Infinity" } else { "" }
            ));
        }
        return Ok(NumericChoice {
            type_sql: had.to_string(),
            note: format!("{why}: kept as {had}, as the target already has it"),
        });
    }
    if need.infinite {
        return Ok(NumericChoice {
            type_sql: "text".into(),
            note: format!("{why} and Infinity, which no numeric(p,s) holds: stored as text"),
        });
    }
    let int = (int_need + HEADROOM_DIGITS).max(dp - ds);
    let scale = scale_need.max(ds);
    let (p, s, how) = if int + scale <= max_precision {
        (
            int + scale,
            scale,
            format!(
                "{HEADROOM_DIGITS} more integer digits than the data need, and never less than \
                 DSQL's default"
            ),
        )
    } else if int_need.max(1) + scale_need <= max_precision {
        (
            int_need.max(1) + scale_need,
            scale_need,
            format!("exactly what the data need: DSQL allows no more than {max_precision} digits"),
        )
    } else {
        return Ok(NumericChoice {
            type_sql: "text".into(),
            note: format!(
                "{why}, more than the {max_precision} digits DSQL's numeric holds: stored as text"
            ),
        });
    };
    Ok(NumericChoice {
        type_sql: format!("numeric({p},{s})"),
        note: format!("{why}: created as numeric({p},{s}) ({how})"),
    })
}

/// The size of a read field as the target stores it, as SQL over the source row.
fn len_sql(c: &ColumnMap) -> String {
    let rule = types::rule_of_sql(&c.target_type);
    if c.target_type == "bytea" {
        format!("coalesce(octet_length({}), 0)", c.read)
    } else if rule.max_value_bytes.is_some() || rule.name == "other" || rule.name == "numeric" {
        format!("coalesce(octet_length(({})::text), 0)", c.read)
    } else {
        "8".to_string()
    }
}

fn human(n: i64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MiB ({n} bytes)", n as f64 / 1048576.0)
    } else if n >= 1024 {
        format!("{:.1} KiB ({n} bytes)", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

/// DSQL's size limits against the source's largest actual values as mapped, read before
/// anything is written: every value of a type DSQL limits ([`types::TypeRule::max_value_bytes`]),
/// every row, the primary key and each secondary index's key.
pub(crate) async fn size_findings(
    source: &Client,
    t: &Table,
    map: &TableMap,
) -> Result<Vec<Finding>> {
    let limited: Vec<(&ColumnMap, u64)> = map
        .columns
        .iter()
        .filter_map(|c| {
            types::rule_of_sql(&c.target_type)
                .max_value_bytes
                .map(|max| (c, max))
        })
        .collect();
    let key_of = |cols: &[usize]| -> String {
        if cols.is_empty() {
            "0".to_string()
        } else {
            cols.iter()
                .map(|&i| len_sql(&map.columns[i]))
                .collect::<Vec<_>>()
                .join(" + ")
        }
    };
    let pk: Vec<usize> = map
        .key
        .iter()
        .filter_map(|k| map.columns.iter().position(|c| &c.name == k))
        .collect();
    let names = |cols: &[usize]| {
        cols.iter()
            .map(|&c| map.columns[c].name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut keys: Vec<(String, Vec<usize>)> = vec![(format!("primary key ({})", names(&pk)), pk)];
    for cols in &map.index_columns {
        keys.push((format!("index on ({})", names(cols)), cols.clone()));
    }
    let mut exprs: Vec<String> = limited
        .iter()
        .map(|(c, _)| format!("max({})::bigint", len_sql(c)))
        .collect();
    let row: Vec<String> = map.columns.iter().map(len_sql).collect();
    exprs.push(format!("max({})::bigint", row.join(" + ")));
    for (_, cols) in &keys {
        exprs.push(format!("max({})::bigint", key_of(cols)));
    }
    let sql = format!("SELECT {} FROM ONLY {}", exprs.join(", "), t.name.sql());
    let values = source.query_one(&sql, &[]).await.map_err(|e| {
        Error::db(
            ErrorKind::Source,
            format!("measuring values of {}", t.name),
            e,
        )
    })?;
    let ways_out = |blobs: bool| {
        format!(
            "{}leave the table out ([tables] exclude), or stay on PostgreSQL (--profile postgres)",
            if blobs {
                "move the column to an object store with [blobs], "
            } else {
                ""
            }
        )
    };
    let mut out = Vec::new();
    for (i, (c, max)) in limited.iter().enumerate() {
        let largest: Option<i64> = values.get(i);
        if let Some(n) = largest.filter(|n| *n as u64 > *max) {
            let rule = types::rule_of_sql(&c.target_type);
            out.push(Finding::new(
                Severity::Error,
                format!("{}.{}", t.name, c.name),
                format!(
                    "{}.{} holds values up to {} as {}; DSQL refuses {} values over {}: {}",
                    t.name,
                    c.name,
                    human(n),
                    c.target_type,
                    rule.short,
                    human(*max as i64),
                    ways_out(c.target_type == "bytea")
                ),
            ));
        }
    }
    let at = limited.len();
    let max_row: Option<i64> = values.get(at);
    if let Some(n) = max_row.filter(|n| *n as u64 > types::MAX_ROW_BYTES.value) {
        out.push(Finding::new(
            Severity::Error,
            t.name.to_string(),
            format!(
                "{} has rows up to {}; DSQL refuses rows over {}: {}",
                t.name,
                human(n),
                human(types::MAX_ROW_BYTES.value as i64),
                ways_out(map.columns.iter().any(|c| c.target_type == "bytea"))
            ),
        ));
    }
    for (i, (what, _)) in keys.iter().enumerate() {
        let largest: Option<i64> = values.get(at + 1 + i);
        if let Some(n) = largest.filter(|n| *n as u64 > types::MAX_KEY_BYTES.value) {
            out.push(Finding::new(
                Severity::Error,
                t.name.to_string(),
                format!(
                    "{}: its {what} holds keys up to {n} bytes; DSQL refuses keys over {} bytes: {}",
                    t.name,
                    types::MAX_KEY_BYTES.value,
                    ways_out(false)
                ),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(int: Option<u32>, scale: Option<u32>) -> NumericNeed {
        NumericNeed {
            int_digits: int,
            scale,
            infinite: false,
        }
    }

    #[test]
    fn numeric_precision_follows_the_data_with_headroom() {
        // 17 significant digits with 9 decimals: more decimals than DSQL's default keeps.
        let c = choose(need(Some(8), Some(9)), None, 1000).unwrap();
        assert_eq!(c.type_sql, "numeric(21,9)");
        assert!(c.note.contains("numeric(18,6)"), "{}", c.note);
        // A large integer part.
        assert_eq!(
            choose(need(Some(17), Some(2)), None, 1000)
                .unwrap()
                .type_sql,
            "numeric(26,6)"
        );
        // Small values: never less than DSQL's default.
        assert_eq!(
            choose(need(Some(3), Some(2)), None, 1000).unwrap().type_sql,
            "numeric(18,6)"
        );
        // No values: DSQL's default, said explicitly.
        let c = choose(need(None, None), None, 1000).unwrap();
        assert_eq!(c.type_sql, "numeric(18,6)");
        assert!(c.note.contains("no number"), "{}", c.note);
        // Past a cluster's maximum: exactly what is needed, then text.
        assert_eq!(
            choose(need(Some(30), Some(6)), None, 38).unwrap().type_sql,
            "numeric(36,6)"
        );
        assert_eq!(
            choose(need(Some(40), Some(0)), None, 38).unwrap().type_sql,
            "text"
        );
        let inf = NumericNeed {
            infinite: true,
            ..need(Some(2), Some(1))
        };
        assert_eq!(choose(inf, None, 1000).unwrap().type_sql, "text");
    }

    #[test]
    fn an_earlier_runs_type_is_kept_while_the_data_fit_it() {
        let c = choose(need(Some(8), Some(9)), Some("numeric(21,9)"), 1000).unwrap();
        assert_eq!(c.type_sql, "numeric(21,9)");
        let e = choose(need(Some(19), Some(9)), Some("numeric(21,9)"), 1000).unwrap_err();
        assert!(e.contains("numeric(21,9)"), "{e}");
        let e = choose(need(Some(2), Some(10)), Some("numeric(21,9)"), 1000).unwrap_err();
        assert!(e.contains("10 decimals"), "{e}");
        assert_eq!(
            choose(need(Some(2), Some(10)), Some("text"), 1000)
                .unwrap()
                .type_sql,
            "text"
        );
    }
}
