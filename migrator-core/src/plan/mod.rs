//! Plan = what will happen: the tables in copy order with their chunks and COPY format, the
//! DDL steps in dependency order, and every compatibility finding with what will be done
//! about it. Building a plan reads both sides and changes nothing anywhere.

mod chunk;
mod steps;

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use tokio_postgres::Client;

pub use chunk::{Chunk, Chunking};
pub(crate) use steps::{Action, StepSpec};
pub use steps::{Phase, Step, StepKind};

use crate::catalog::{Catalog, Table};
use crate::config::{Config, Profile};
use crate::error::Result;
use crate::sql::{QualName, ident};
use crate::state::TargetInfo;
use crate::target;

/// How rows travel in COPY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CopyFormat {
    /// COPY's binary format: no parsing or printing of values on either side.
    Binary,
    /// COPY's text format: for types whose binary form embeds database-specific OIDs
    /// (arrays of enums, composites) or when target column types differ.
    Text,
}

/// One table's share of the copy.
#[derive(Debug, Clone, Serialize)]
pub struct TablePlan {
    /// The source table (for a partition: the partition).
    pub(crate) name: QualName,
    /// Where its rows go (for DSQL, a partition's rows go to its root table).
    pub(crate) target: QualName,
    /// Target columns, in order.
    pub(crate) columns: Vec<String>,
    /// What the source reads for each column: the quoted name, or an expression.
    pub(crate) read: Vec<String>,
    /// For each column, the key space when the stream turns the integer into a UUID.
    pub(crate) uuid_keys: Vec<Option<String>>,
    /// Batched targets: the source's primary key, the order rows are read in.
    pub(crate) key: Vec<String>,
    /// The types of `key`'s columns in the source.
    pub(crate) key_types: Vec<String>,
    /// Batched targets: for each secondary index, its columns' positions.
    pub(crate) index_columns: Vec<Vec<usize>>,
    pub(crate) format: CopyFormat,
    pub(crate) chunking: Chunking,
    pub(crate) chunks: Vec<Chunk>,
    pub(crate) est_rows: i64,
    pub(crate) est_bytes: i64,
}

impl TablePlan {
    /// The source table, `schema.name`.
    pub fn name(&self) -> &QualName {
        &self.name
    }
    /// The target table its rows go to.
    pub fn target(&self) -> &QualName {
        &self.target
    }
    /// The columns copied, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
    /// The COPY format used.
    pub fn format(&self) -> CopyFormat {
        self.format
    }
    /// How the table is cut into chunks.
    pub fn chunking(&self) -> &Chunking {
        &self.chunking
    }
    /// The chunks, in order.
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }
    /// Estimated rows, from the source's statistics; `None` if the table was never analyzed.
    pub fn estimated_rows(&self) -> Option<u64> {
        (self.est_rows >= 0).then_some(self.est_rows as u64)
    }
    /// Estimated bytes on disk in the source.
    pub fn estimated_bytes(&self) -> i64 {
        self.est_bytes
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing; nothing is lost.
    Info,
    /// Something is mapped, skipped or changed; the run goes on.
    Warning,
    /// The run cannot go ahead until this is fixed.
    Error,
}

/// A compatibility finding: what is at fault and what will be done about it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub(crate) severity: Severity,
    pub(crate) object: String,
    pub(crate) message: String,
}

impl Finding {
    pub(crate) fn new(
        severity: Severity,
        object: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            severity,
            object: object.into(),
            message: message.into(),
        }
    }
    /// Severity.
    pub fn severity(&self) -> Severity {
        self.severity
    }
    /// The object concerned (`schema.table`, `extension x`, ...).
    pub fn object(&self) -> &str {
        &self.object
    }
    /// What was found and what will be done.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A foreign key the target does not get (omitted by config, or the target lacks them):
/// recorded in the manifest so verify can count orphans.
#[derive(Debug, Clone)]
pub(crate) struct OmittedForeignKey {
    pub name: String,
    pub child: QualName,
    pub columns: Vec<String>,
    pub parent: QualName,
    pub parent_columns: Vec<String>,
}

/// Facts about one server, for the plan's header.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub(crate) url: String,
    pub(crate) version: String,
    pub(crate) database: String,
}

impl ServerInfo {
    /// The connection URL without its password.
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The server version.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// The database name.
    pub fn database(&self) -> &str {
        &self.database
    }
}

/// What a copy will do. Made by `Migration::plan`; changes nothing anywhere.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub(crate) source: ServerInfo,
    pub(crate) target: ServerInfo,
    pub(crate) profile: Profile,
    pub(crate) data_only: bool,
    pub(crate) tables: Vec<TablePlan>,
    pub(crate) steps: Vec<Step>,
    pub(crate) findings: Vec<Finding>,
    /// Chunks already copied by an earlier, interrupted run.
    pub(crate) resume: Option<ResumeInfo>,
    /// Foreign keys not created in the target, recorded in the manifest for verify.
    #[serde(skip)]
    pub(crate) omitted_foreign_keys: Vec<OmittedForeignKey>,
    /// The UUIDv5 namespace of the uuid key strategy, when it applies.
    pub(crate) key_namespace: Option<uuid::Uuid>,
}

/// What an earlier run left in the target.
#[derive(Debug, Clone, Serialize)]
pub struct ResumeInfo {
    pub(crate) chunks_done: u64,
    pub(crate) steps_done: u64,
}

impl ResumeInfo {
    /// Chunks an earlier run finished.
    pub fn chunks_done(&self) -> u64 {
        self.chunks_done
    }
    /// DDL steps an earlier run finished.
    pub fn steps_done(&self) -> u64 {
        self.steps_done
    }
}

impl Plan {
    /// The source server.
    pub fn source(&self) -> &ServerInfo {
        &self.source
    }
    /// The target server.
    pub fn target(&self) -> &ServerInfo {
        &self.target
    }
    /// The target profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }
    /// Whether the schema is left alone (`--data-only`).
    pub fn data_only(&self) -> bool {
        self.data_only
    }
    /// Tables in copy order (largest first).
    pub fn tables(&self) -> &[TablePlan] {
        &self.tables
    }
    /// DDL steps in execution order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
    /// Findings, most serious first.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
    /// Whether a finding forbids the copy.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
    /// What an interrupted earlier run left, if anything.
    pub fn resume(&self) -> Option<&ResumeInfo> {
        self.resume.as_ref()
    }
    /// Total chunks.
    pub fn chunk_count(&self) -> usize {
        self.tables.iter().map(|t| t.chunks.len()).sum()
    }
    /// The plan as one JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plan serializes")
    }
}

/// Everything plan building needs besides the source connection.
pub(crate) struct PlanInput<'a> {
    pub cat: &'a Catalog,
    /// What a DSQL target supports.
    pub caps: Option<crate::target::dsql::Capabilities>,
    pub strict: bool,
    pub target: &'a TargetInfo,
    pub config: &'a Config,
    pub profile: Profile,
    pub data_only: bool,
    pub source: ServerInfo,
    pub target_server: ServerInfo,
}

/// Connects to both sides, reads them, and builds the plan. Changes nothing anywhere.
pub(crate) async fn run(
    ctx: std::sync::Arc<crate::Ctx>,
    events: crate::events::EventSink,
) -> Result<Plan> {
    events.send(crate::events::Event::Stage(crate::events::Stage::Plan));
    let filter = crate::catalog::TableFilter::new(&ctx.config.tables)?;
    let source = ctx.source_session().await?;
    let target = ctx.target_session(crate::context::Purpose::Plain).await?;
    crate::state::ensure_distinct(&source, &target).await?;
    let cat = crate::catalog::load(&source, &filter).await?;
    let tinfo = crate::state::inspect(&target, &cat, ctx.data_only).await?;
    let caps = match ctx.profile {
        Profile::Dsql => Some(crate::target::dsql::probe(&target).await?),
        _ => None,
    };
    let mut plan = build(
        &source,
        PlanInput {
            cat: &cat,
            caps,
            strict: ctx.strict,
            target: &tinfo,
            config: &ctx.config,
            profile: ctx.profile,
            data_only: ctx.data_only,
            source: ServerInfo {
                url: ctx.source.redacted(),
                version: cat.server_version.clone(),
                database: cat.database.clone(),
            },
            target_server: ServerInfo {
                url: ctx.target.redacted(),
                version: tinfo.version.clone(),
                database: tinfo.database.clone(),
            },
        },
    )
    .await?;
    if ctx.restart {
        // What --restart will discard is not in the way.
        plan.resume = None;
    }
    Ok(plan)
}

/// Builds the plan from the source catalog and what the target holds.
pub(crate) async fn build(source: &Client, input: PlanInput<'_>) -> Result<Plan> {
    let PlanInput {
        cat,
        caps,
        strict,
        target: tinfo,
        config,
        profile,
        data_only,
        source: source_info,
        target_server,
    } = input;
    let mut findings = Vec::new();
    for s in &cat.skipped {
        findings.push(Finding::new(
            Severity::Warning,
            &s.object,
            format!("not migrated: {}", s.reason),
        ));
    }
    findings.push(Finding::new(
        Severity::Info,
        "ownership and privileges",
        "object owners and GRANTs are not copied: the target user owns every object it creates",
    ));

    let mut formats: HashMap<QualName, CopyFormat> = HashMap::new();
    if data_only {
        check_data_only(cat, tinfo, &mut findings, &mut formats);
    } else if tinfo.manifest.is_none() {
        check_empty_target(cat, tinfo, &mut findings);
    }
    if !data_only && profile == Profile::Postgres {
        for e in &cat.extensions {
            if !tinfo.available_extensions.contains(&e.name) {
                findings.push(Finding::new(
                    Severity::Error,
                    format!("extension {}", e.name),
                    format!(
                        "the source uses extension {} {} but the target cannot install it (not in pg_available_extensions)",
                        e.name, e.version
                    ),
                ));
            }
        }
    }

    let chunk_bytes = config.copy.chunk_mib * 1024 * 1024;
    let mut tables = Vec::new();
    let mut omitted_foreign_keys = Vec::new();
    let specs = match profile {
        Profile::Dsql => {
            let caps =
                caps.ok_or_else(|| crate::error::Error::internal("DSQL capabilities unknown"))?;
            let rendered = crate::target::dsql::render(cat, config, caps, strict);
            findings.extend(rendered.findings);
            omitted_foreign_keys = rendered.omitted_foreign_keys;
            for t in cat.data_tables() {
                let Some(map) = rendered.tables.get(&t.oid) else {
                    continue;
                };
                let (chunking, chunks) =
                    chunk::plan_chunks(source, t, chunk_bytes, cat.server_version_num, false)
                        .await?;
                tables.push(TablePlan {
                    name: t.name.clone(),
                    target: map.target.clone(),
                    columns: map.columns.iter().map(|c| c.name.clone()).collect(),
                    read: map.columns.iter().map(|c| c.read.clone()).collect(),
                    uuid_keys: map.columns.iter().map(|c| c.uuid_key.clone()).collect(),
                    key_types: map
                        .key
                        .iter()
                        .map(|k| {
                            t.columns
                                .iter()
                                .find(|c| &c.name == k)
                                .map(|c| c.type_sql.clone())
                                .unwrap_or_else(|| "text".into())
                        })
                        .collect(),
                    key: map.key.clone(),
                    index_columns: map.index_columns.clone(),
                    format: CopyFormat::Binary,
                    chunking,
                    chunks,
                    est_rows: t.est_rows,
                    est_bytes: t.bytes,
                });
                findings.extend(crate::target::dsql::size_findings(source, t, map).await?);
            }
            if data_only {
                rendered
                    .steps
                    .into_iter()
                    .filter(|s| matches!(s.kind, StepKind::SequenceValue))
                    .collect()
            } else {
                rendered.steps
            }
        }
        _ => {
            for t in cat.data_tables() {
                let (chunking, chunks) =
                    chunk::plan_chunks(source, t, chunk_bytes, cat.server_version_num, true)
                        .await?;
                let format = formats.get(&t.name).copied().unwrap_or(if t.binary_ok() {
                    CopyFormat::Binary
                } else {
                    CopyFormat::Text
                });
                let columns = copy_columns(t, tinfo, data_only);
                let read = columns
                    .iter()
                    .map(|name| {
                        let col = t.columns.iter().find(|c| &c.name == name);
                        match col {
                            Some(c) if c.read_as_text => format!("{}::text", ident(name)),
                            _ => ident(name),
                        }
                    })
                    .collect();
                tables.push(TablePlan {
                    name: t.name.clone(),
                    target: t.name.clone(),
                    uuid_keys: vec![None; columns.len()],
                    columns,
                    read,
                    key: Vec::new(),
                    key_types: Vec::new(),
                    index_columns: Vec::new(),
                    format,
                    chunking,
                    chunks,
                    est_rows: t.est_rows,
                    est_bytes: t.bytes,
                });
            }
            if data_only {
                target::data_steps(cat, true)
            } else {
                let mut s = target::schema_steps(cat);
                s.extend(target::data_steps(cat, false));
                s
            }
        }
    };
    tables.sort_by(|a, b| b.est_bytes.cmp(&a.est_bytes).then(a.name.cmp(&b.name)));
    let key_namespace = (profile == Profile::Dsql
        && config.keys.strategy == crate::config::KeyStrategy::Uuid)
        .then(|| {
            config
                .keys
                .namespace
                .unwrap_or_else(crate::transform::keys::default_namespace)
        });

    let steps = steps::order(specs, &cat.deps)?;
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let resume = tinfo.manifest.as_ref().map(|m| ResumeInfo {
        chunks_done: m.chunks_done,
        steps_done: m.steps_done,
    });
    Ok(Plan {
        source: source_info,
        target: target_server,
        profile,
        data_only,
        tables,
        steps,
        findings,
        resume,
        omitted_foreign_keys,
        key_namespace,
    })
}

fn copy_columns(t: &Table, tinfo: &TargetInfo, data_only: bool) -> Vec<String> {
    let names = t.copy_columns().map(|c| c.name.clone());
    if !data_only {
        return names.collect();
    }
    // Into an existing schema: the source's stored columns that the target also stores.
    let target_cols: HashSet<&str> = tinfo
        .columns
        .get(&t.name)
        .map(|cols| {
            cols.iter()
                .filter(|c| !c.generated)
                .map(|c| c.name.as_str())
                .collect()
        })
        .unwrap_or_default();
    names.filter(|n| target_cols.contains(n.as_str())).collect()
}

/// A fresh copy must not collide with what the target already holds.
fn check_empty_target(cat: &Catalog, tinfo: &TargetInfo, findings: &mut Vec<Finding>) {
    let wanted: Vec<&QualName> = cat
        .tables
        .iter()
        .map(|t| &t.name)
        .chain(cat.views.iter().map(|v| &v.name))
        .chain(cat.sequences.iter().map(|s| &s.name))
        .chain(cat.types.iter().map(|t| &t.name))
        .collect();
    let taken: Vec<String> = wanted
        .into_iter()
        .filter(|n| tinfo.relations.contains(*n) || tinfo.types.contains(*n))
        .map(|n| n.to_string())
        .collect();
    if let Some(first) = taken.first() {
        let more = if taken.len() > 1 {
            format!(" and {} more", taken.len() - 1)
        } else {
            String::new()
        };
        findings.push(Finding::new(
            Severity::Error,
            first.clone(),
            format!(
                "the target already has {first}{more} and no manifest of an earlier run: copy into an \
                 empty database, or pass --data-only to load into a schema your application's \
                 migrations made"
            ),
        ));
    }
}

/// `--data-only`: every source table must exist in the target with compatible columns, and
/// be empty (unless an earlier run is being resumed).
fn check_data_only(
    cat: &Catalog,
    tinfo: &TargetInfo,
    findings: &mut Vec<Finding>,
    formats: &mut HashMap<QualName, CopyFormat>,
) {
    for t in cat.data_tables() {
        let Some(cols) = tinfo.columns.get(&t.name) else {
            findings.push(Finding::new(
                Severity::Error,
                t.name.to_string(),
                format!("table {} does not exist in the target (--data-only loads into an existing schema)", t.name),
            ));
            continue;
        };
        let mut text = !t.binary_ok();
        for c in t.copy_columns() {
            match cols.iter().find(|tc| tc.name == c.name) {
                None => findings.push(Finding::new(
                    Severity::Error,
                    format!("{}.{}", t.name, c.name),
                    format!("column {}.{} does not exist in the target", t.name, c.name),
                )),
                Some(tc) if tc.generated => findings.push(Finding::new(
                    Severity::Warning,
                    format!("{}.{}", t.name, c.name),
                    format!("column {}.{} is generated in the target: its values are computed there, not copied", t.name, c.name),
                )),
                Some(tc) if tc.type_sql != c.type_sql => {
                    if compatible(&c.type_sql, &tc.type_sql) {
                        text = true;
                        findings.push(Finding::new(
                            Severity::Warning,
                            format!("{}.{}", t.name, c.name),
                            format!(
                                "column {}.{} is {} in the source and {} in the target: values are converted through text",
                                t.name, c.name, c.type_sql, tc.type_sql
                            ),
                        ));
                    } else {
                        findings.push(Finding::new(
                            Severity::Error,
                            format!("{}.{}", t.name, c.name),
                            format!(
                                "column {}.{} is {} in the source but {} in the target: incompatible types",
                                t.name, c.name, c.type_sql, tc.type_sql
                            ),
                        ));
                    }
                }
                Some(_) => {}
            }
        }
        for tc in cols {
            let in_source = t.columns.iter().any(|c| c.name == tc.name);
            if !in_source && tc.not_null && !tc.has_default && !tc.generated {
                findings.push(Finding::new(
                    Severity::Error,
                    format!("{}.{}", t.name, tc.name),
                    format!(
                        "target column {}.{} is NOT NULL without a default and has no source column to fill it",
                        t.name, tc.name
                    ),
                ));
            }
        }
        if tinfo.manifest.is_none() && tinfo.nonempty_tables.contains(&t.name) {
            findings.push(Finding::new(
                Severity::Error,
                t.name.to_string(),
                format!("target table {} already has rows and no earlier run is recorded: empty it first", t.name),
            ));
        }
        if text {
            formats.insert(t.name.clone(), CopyFormat::Text);
        }
    }
}

/// Whether values of source type `a` load into target type `b` through their text form
/// without loss in the ordinary case.
fn compatible(a: &str, b: &str) -> bool {
    fn family(t: &str) -> &'static str {
        let base = t.split('(').next().unwrap_or(t).trim();
        match base {
            "smallint" | "integer" | "bigint" | "numeric" => "number",
            "real" | "double precision" => "float",
            "text" | "character varying" | "character" | "name" | "citext" => "text",
            "timestamp without time zone" | "timestamp with time zone" => "timestamp",
            "time without time zone" | "time with time zone" => "time",
            "json" | "jsonb" => "json",
            "bit" | "bit varying" => "bits",
            _ => "",
        }
    }
    let fa = family(a);
    let fb = family(b);
    (!fa.is_empty() && fa == fb) || fb == "text" || (fa == "number" && fb == "float")
}

#[cfg(test)]
mod tests {
    use super::compatible;

    #[test]
    fn type_compatibility() {
        assert!(compatible("integer", "bigint"));
        assert!(compatible("character varying(20)", "text"));
        assert!(compatible("public.mood", "text"));
        assert!(compatible("json", "jsonb"));
        assert!(!compatible("text", "integer"));
        assert!(!compatible("uuid", "bigint"));
    }
}
