//! Plan = what will happen: the tables in copy order with their chunks and COPY format, the
//! DDL steps in dependency order, and every compatibility finding with what will be done
//! about it. Building a plan reads both sides and changes nothing anywhere.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use tokio_postgres::Client;

pub use crate::chunk::{Chunk, Chunking};
use crate::ddl::OmittedForeignKey;
pub use crate::ddl::{Phase, Step, StepKind};
pub use crate::findings::{Finding, Severity};

use crate::catalog::{Catalog, Table};
use crate::config::{Config, Profile};
use crate::error::{Error, ErrorKind, Result};
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
    /// What the source reads, field by field: a column's quoted name, or an expression.
    /// One field per target column, except that a blob field fills three (key, size,
    /// SHA-256).
    pub(crate) read: Vec<String>,
    /// For each read field, the key space when the stream turns the integer into a UUID.
    pub(crate) uuid_keys: Vec<Option<String>>,
    /// For each read field, whether its value goes to the blob store.
    pub(crate) blobs: Vec<Option<BlobField>>,
    /// The source's primary key: the order batched targets read rows in, and how sync and
    /// verify match a source row with its target row. Empty without a primary key.
    pub(crate) key: Vec<String>,
    /// For each `key` column, its read field.
    pub(crate) key_fields: Vec<usize>,
    /// The types of `key`'s columns in the source.
    pub(crate) key_types: Vec<String>,
    /// The types of `key`'s columns in the target.
    pub(crate) key_target_types: Vec<String>,
    /// Batched targets: for each secondary index, its columns' positions.
    pub(crate) index_columns: Vec<Vec<usize>>,
    pub(crate) format: CopyFormat,
    pub(crate) chunking: Chunking,
    pub(crate) chunks: Vec<Chunk>,
    pub(crate) est_rows: i64,
    pub(crate) est_bytes: i64,
    /// The table's watermark column, when sync selects its changed rows by one.
    #[serde(skip)]
    pub(crate) watermark: Option<crate::watermark::Watermark>,
}

/// A read field whose value goes to the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct BlobField {
    /// The configured table (a partitioned table for its partitions): object keys name it.
    pub table: QualName,
    /// The source column.
    pub column: String,
    /// The read field holding the value's content type, if configured.
    pub content_type: Option<usize>,
}

impl TablePlan {
    /// The estimated copy cost of one of its chunks (see [`crate::chunk::copy_cost`]).
    pub(crate) fn chunk_cost(&self) -> u64 {
        crate::chunk::copy_cost(self.est_bytes, self.est_rows) / self.chunks.len().max(1) as u64
    }

    /// Whether values of this table go to the blob store.
    pub(crate) fn has_blobs(&self) -> bool {
        self.blobs.iter().any(Option::is_some)
    }

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
    /// The error a copy or sync refuses this plan with: its first error finding, naming the
    /// object it concerns, and how many more there are.
    pub(crate) fn refusal(&self) -> Option<Error> {
        let mut errors = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error);
        let f = errors.next()?;
        let more = match errors.count() {
            0 => String::new(),
            n => format!(" (and {n} more errors in the plan)"),
        };
        let message = if f.object.is_empty() || f.message.contains(&f.object) {
            format!("{}{more}", f.message)
        } else {
            format!("{}: {}{more}", f.object, f.message)
        };
        Some(Error::new(ErrorKind::Incompatible, message))
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
    let source = ctx.source_session().await?;
    let target = ctx.target_session(crate::context::Purpose::Plain).await?;
    crate::state::ensure_distinct(&source, &target).await?;
    let (mut plan, _) = for_sessions(&ctx, &source, &target, ctx.data_only).await?;
    if ctx.restart {
        // What --restart will discard is not in the way.
        plan.resume = None;
    }
    Ok(plan)
}

/// Builds the plan with open sessions on both sides (`data_only`: into an existing schema).
pub(crate) async fn for_sessions(
    ctx: &crate::Ctx,
    source: &Client,
    target: &Client,
    data_only: bool,
) -> Result<(Plan, Catalog)> {
    let filter = crate::config::TableFilter::new(&ctx.config.tables)?;
    let cat = crate::catalog::load(source, &filter).await?;
    let tinfo = crate::state::inspect(target, &cat, data_only).await?;
    let caps = match ctx.profile {
        Profile::Dsql => Some(crate::target::dsql::probe(target).await?),
        _ => None,
    };
    let plan = build(
        source,
        PlanInput {
            cat: &cat,
            caps,
            strict: ctx.strict,
            target: &tinfo,
            config: &ctx.config,
            profile: ctx.profile,
            data_only,
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
    Ok((plan, cat))
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
    // Tables the source user may not read: refused now, before anything is written.
    let oids: Vec<crate::catalog::Oid> = cat.data_tables().map(|t| t.oid).collect();
    let unreadable: Vec<crate::catalog::Oid> = source
        .query(
            "SELECT o FROM unnest($1::oid[]) AS o WHERE NOT has_table_privilege(o, 'SELECT')",
            &[&oids],
        )
        .await
        .map_err(|e| {
            crate::error::Error::db(
                crate::error::ErrorKind::Source,
                "checking which tables the source user may read",
                e,
            )
        })?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for t in cat.data_tables().filter(|t| unreadable.contains(&t.oid)) {
        findings.push(Finding::new(
            Severity::Error,
            t.name.to_string(),
            format!(
                "the source user may not read table {} (no SELECT privilege: GRANT SELECT ON {} TO that user, or leave the table out with [tables] exclude)",
                t.name,
                t.name.sql()
            ),
        ));
    }

    let watermarks = watermarks(cat, config)?;
    let blob_columns = crate::transform::blobs::resolve(cat, &config.blobs)?;
    if data_only && !blob_columns.is_empty() {
        return Err(crate::error::Error::config(
            "[blobs] with --data-only is not supported yet: let migrator create the schema",
        ));
    }
    let store = config
        .blobs
        .store
        .as_deref()
        .map(crate::config::StoreUrl::parse)
        .transpose()?;
    for b in &blob_columns {
        findings.push(blob_finding(source, b, config, store.as_ref()).await?);
    }
    // The target's DDL is made from the catalog with blob columns replaced.
    let tcat = crate::transform::blobs::target_catalog(cat, &blob_columns, &mut findings);
    let tcat = &tcat;

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
            let (numerics, numeric_findings) =
                crate::target::dsql::measure::numeric_choices(source, tcat, &tinfo.columns, caps)
                    .await?;
            findings.extend(numeric_findings);
            if config.types.arrays == crate::config::ArrayMapping::Jsonb && !caps.jsonb {
                findings.push(Finding::new(
                    Severity::Error,
                    "types.arrays",
                    "types.arrays = \"jsonb\", but this DSQL cluster has no jsonb columns: use \"json\" (the default) or \"text\"",
                ));
            }
            let mut rendered = crate::target::dsql::render(tcat, config, caps, &numerics, strict);
            findings.extend(rendered.findings);
            omitted_foreign_keys = rendered.omitted_foreign_keys;
            for t in cat.data_tables() {
                let Some(map) = rendered.tables.get_mut(&t.oid) else {
                    continue;
                };
                let (chunking, chunks) = crate::chunk::plan_chunks(
                    source,
                    t,
                    chunk_bytes,
                    cat.server_version_num,
                    false,
                )
                .await?;
                let fields = fold_blobs(
                    t,
                    &blob_columns,
                    map.columns
                        .iter()
                        .map(|c| (c.name.clone(), c.read.clone(), c.uuid_key.clone()))
                        .collect(),
                );
                // What the target row holds in a blob's place, for measuring row sizes.
                for b in blob_columns.iter().filter(|b| b.tables.contains(&t.oid)) {
                    for c in map.columns.iter_mut() {
                        if c.name == b.key_column {
                            c.read = format!("repeat('k', {})", MAX_KEY_LEN);
                        } else if c.name == b.size_column {
                            c.read = "0::bigint".into();
                        } else if c.name == b.sha256_column {
                            c.read = "repeat('0', 64)".into();
                        }
                    }
                }
                tables.push(TablePlan {
                    name: t.name.clone(),
                    target: map.target.clone(),
                    columns: map.columns.iter().map(|c| c.name.clone()).collect(),
                    read: fields.read,
                    uuid_keys: fields.uuid_keys,
                    blobs: fields.blobs,
                    key_types: key_types(t, &map.key),
                    key_target_types: map
                        .key
                        .iter()
                        .map(|k| {
                            map.columns
                                .iter()
                                .find(|c| &c.name == k)
                                .map(|c| c.target_type.clone())
                                .unwrap_or_else(|| "text".into())
                        })
                        .collect(),
                    key_fields: key_fields(&fields.names, &map.key),
                    key: map.key.clone(),
                    index_columns: map.index_columns.clone(),
                    format: CopyFormat::Binary,
                    chunking,
                    chunks,
                    est_rows: t.est_rows,
                    est_bytes: t.bytes,
                    watermark: watermarks.get(&t.oid).cloned(),
                });
                findings.extend(crate::target::dsql::measure::size_findings(source, t, map).await?);
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
                    crate::chunk::plan_chunks(source, t, chunk_bytes, cat.server_version_num, true)
                        .await?;
                let tt = tcat.table(t.oid).unwrap_or(t);
                let columns = copy_columns(tt, tinfo, data_only);
                let fields = fold_blobs(
                    t,
                    &blob_columns,
                    columns
                        .iter()
                        .map(|name| {
                            let col = t.columns.iter().find(|c| &c.name == name);
                            let read = match col {
                                Some(c) if c.read_as_text => format!("{}::text", ident(name)),
                                _ => ident(name),
                            };
                            (name.clone(), read, None)
                        })
                        .collect(),
                );
                let blobs = fields.blobs.iter().any(Option::is_some);
                // Rows whose values go to the blob store are decoded, so they move in the
                // binary format, in primary key order (to resume inside a chunk).
                let format = if blobs {
                    CopyFormat::Binary
                } else {
                    formats.get(&t.name).copied().unwrap_or(if t.binary_ok() {
                        CopyFormat::Binary
                    } else {
                        CopyFormat::Text
                    })
                };
                let key = t.pk_columns.clone();
                tables.push(TablePlan {
                    name: t.name.clone(),
                    target: t.name.clone(),
                    uuid_keys: fields.uuid_keys,
                    blobs: fields.blobs,
                    columns,
                    read: fields.read,
                    key_types: key_types(t, &key),
                    key_target_types: key_types(t, &key),
                    key_fields: key_fields(&fields.names, &key),
                    key,
                    index_columns: Vec::new(),
                    format,
                    chunking,
                    chunks,
                    est_rows: t.est_rows,
                    est_bytes: t.bytes,
                    watermark: watermarks.get(&t.oid).cloned(),
                });
            }
            if data_only {
                target::data_steps(tcat, true)
            } else {
                let mut s = target::schema_steps(tcat);
                s.extend(target::data_steps(tcat, false));
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

    let mut specs = specs;
    if !config.copy.analyze {
        specs.retain(|s| s.kind != StepKind::Analyze);
    }
    let steps = crate::ddl::order(specs, &cat.deps)?;
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

/// The configured watermark of each table, checked: the table is copied, has the column
/// and a primary key (to match its rows).
fn watermarks(
    cat: &Catalog,
    config: &Config,
) -> Result<HashMap<crate::catalog::Oid, crate::watermark::Watermark>> {
    let mut out = HashMap::new();
    for w in &config.sync.watermarks {
        let name = QualName::parse(&w.table);
        let Some(t) = cat.data_tables().find(|t| t.name == name) else {
            return Err(Error::config(format!(
                "sync.watermarks names table {name}, which this migration does not copy"
            )));
        };
        let Some(c) = t.columns.iter().find(|c| c.name == w.column) else {
            return Err(Error::config(format!(
                "sync.watermarks: table {name} has no column {}",
                w.column
            )));
        };
        if t.pk_columns.is_empty() {
            return Err(Error::config(format!(
                "sync.watermarks: table {name} has no primary key, which watermark sync needs to match rows"
            )));
        }
        out.insert(
            t.oid,
            crate::watermark::Watermark {
                column: c.name.clone(),
                type_sql: c.type_sql.clone(),
            },
        );
    }
    Ok(out)
}

/// The source types of a table's key columns.
fn key_types(t: &Table, key: &[String]) -> Vec<String> {
    key.iter()
        .map(|k| {
            t.columns
                .iter()
                .find(|c| &c.name == k)
                .map(|c| c.type_sql.clone())
                .unwrap_or_else(|| "text".into())
        })
        .collect()
}

/// The read field of each key column (a key column is never a blob, so it has one).
fn key_fields(names: &[String], key: &[String]) -> Vec<usize> {
    key.iter()
        .filter_map(|k| names.iter().position(|n| n == k))
        .collect()
}

/// The longest object key the plan assumes when measuring a DSQL row.
const MAX_KEY_LEN: usize = 256;

/// A table's read fields.
struct Fields {
    /// The source column each field reads.
    names: Vec<String>,
    read: Vec<String>,
    uuid_keys: Vec<Option<String>>,
    blobs: Vec<Option<BlobField>>,
}

/// Turns target columns `(name, read, uuid key space)` into read fields: a blob's key, size
/// and SHA-256 columns come from one read of the source column.
fn fold_blobs(
    t: &Table,
    blob_columns: &[crate::transform::blobs::BlobColumnPlan],
    columns: Vec<(String, String, Option<String>)>,
) -> Fields {
    let mine: Vec<_> = blob_columns
        .iter()
        .filter(|b| b.tables.contains(&t.oid))
        .collect();
    let mut f = Fields {
        names: Vec::new(),
        read: Vec::new(),
        uuid_keys: Vec::new(),
        blobs: Vec::new(),
    };
    let mut names = Vec::new();
    for (name, read, uuid_key) in columns {
        if mine
            .iter()
            .any(|b| b.size_column == name || b.sha256_column == name)
        {
            continue;
        }
        match mine.iter().find(|b| b.key_column == name) {
            Some(b) => {
                f.read.push(ident(&b.column));
                f.uuid_keys.push(None);
                f.blobs.push(Some(BlobField {
                    table: b.table.clone(),
                    column: b.column.clone(),
                    content_type: None,
                }));
                names.push(b.column.clone());
            }
            None => {
                f.read.push(read);
                f.uuid_keys.push(uuid_key);
                f.blobs.push(None);
                names.push(name);
            }
        }
    }
    f.names = names.clone();
    for field in f.blobs.iter_mut().flatten() {
        field.content_type = mine
            .iter()
            .find(|b| b.column == field.column)
            .and_then(|b| b.content_type_column.as_ref())
            .and_then(|ct| names.iter().position(|n| n == ct));
    }
    f
}

/// What `plan` says about one blob column: where its values go and how many there are.
async fn blob_finding(
    source: &Client,
    b: &crate::transform::blobs::BlobColumnPlan,
    config: &crate::config::Config,
    store: Option<&crate::config::StoreUrl>,
) -> Result<Finding> {
    let col = ident(&b.column);
    let row = source
        .query_one(
            &format!(
                "SELECT count({col}), coalesce(sum(octet_length({col})), 0)::bigint, \
                        coalesce(max(octet_length({col})), 0)::bigint FROM {}",
                b.table.sql()
            ),
            &[],
        )
        .await
        .map_err(|e| {
            crate::error::Error::db(
                crate::error::ErrorKind::Source,
                format!("measuring {}.{}", b.table, b.column),
                e,
            )
        })?;
    let (n, total, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let mib = |v: i64| format!("{:.1} MiB", v as f64 / 1048576.0);
    let example = crate::blob::object_key(
        &config.blobs.key_template,
        store.map(|s| s.prefix()).unwrap_or_default(),
        &b.table.schema,
        &b.table.to_string(),
        &b.column,
        "<sha256>",
    );
    Ok(Finding::new(
        Severity::Info,
        format!("{}.{}", b.table, b.column),
        format!(
            "{n} values ({} in all, the largest {}) go to {} as {example}; the row keeps {}, {} and {}",
            mib(total),
            mib(max),
            config.blobs.store.as_deref().unwrap_or("the blob store"),
            b.key_column,
            b.size_column,
            b.sha256_column
        ),
    ))
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

impl Plan {
    /// What the manifest records of a run of this plan.
    pub(crate) fn new_run<'a>(&'a self, source_id: &'a str) -> crate::state::NewRun<'a> {
        crate::state::NewRun {
            source_id,
            source_url: self.source.url(),
            profile: self.profile.name(),
            data_only: self.data_only,
            key_namespace: self.key_namespace,
            chunks: self
                .tables
                .iter()
                .map(|t| (&t.name, &t.chunking, t.chunks.as_slice()))
                .collect(),
            omitted_foreign_keys: &self.omitted_foreign_keys,
        }
    }
}

/// Which stage continues an earlier run's manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Continuing {
    /// A copy resuming (or finishing) an interrupted one.
    Copy,
    /// A sync after a finished copy.
    Sync,
}

impl Plan {
    /// The one check that a run may continue what the target's manifest records: the same
    /// source database, key settings and `--data-only`, every table of the plan in the
    /// manifest, and for a sync a finished copy. Returns the plan's tables with the chunks
    /// the manifest recorded (an earlier run's cut is kept).
    pub(crate) fn continuing(
        &self,
        manifest: &crate::state::Manifest,
        source_id: &str,
        stage: Continuing,
    ) -> Result<Vec<TablePlan>> {
        let conflict = |m: String| Err(Error::new(ErrorKind::Conflict, m));
        let (again, new_table) = match stage {
            Continuing::Copy => (
                "repeat it with the same config, or use --restart",
                "the source schema changed: use --restart",
            ),
            Continuing::Sync => (
                "sync with the same config",
                "it is new in the source: copy it with `migrator copy --restart`",
            ),
        };
        if manifest.source_id != source_id {
            return conflict(match stage {
                Continuing::Copy => "the target's manifest was written by a run from another \
                    source database: use --restart to start over"
                    .into(),
                Continuing::Sync => "the target was copied from another source database: sync \
                    needs the same source"
                    .into(),
            });
        }
        if manifest.key_namespace != self.key_namespace.map(|n| n.to_string()) {
            return conflict(format!(
                "the earlier run on this target used other key settings (keys.strategy or \
                 keys.namespace): {again}"
            ));
        }
        if manifest.data_only != self.data_only {
            return conflict(format!(
                "the earlier run on this target was {}: {}",
                if manifest.data_only {
                    "--data-only"
                } else {
                    "not --data-only"
                },
                match stage {
                    Continuing::Copy => "repeat the same command, or use --restart",
                    Continuing::Sync => "sync the same way",
                }
            ));
        }
        if stage == Continuing::Sync && !manifest.finished {
            return conflict(
                "the copy into this target has not finished: run `migrator copy` again to \
                 finish it, then sync"
                    .into(),
            );
        }
        let mut tables = self.tables.clone();
        for t in &mut tables {
            let Some((chunking, chunks)) = manifest.chunks.get(&t.name.to_string()) else {
                return conflict(format!(
                    "table {} is not in the earlier run's manifest ({new_table})",
                    t.name
                ));
            };
            t.chunking = chunking.clone();
            t.chunks = chunks.clone();
        }
        Ok(tables)
    }
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
