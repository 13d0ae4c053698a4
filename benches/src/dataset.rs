//! The benchmark dataset: generated server-side in the source database with plain SQL, so
//! every run at a given scale holds byte-for-byte the same data.
//!
//! Every pseudo-random value is a function of the row number only: `md5` of the row number
//! and a per-column salt (through a session-local `pg_temp.h` helper, so nothing extra is
//! left in the schema), `sha256` chains for the binary blobs. No `random()`, no clock.
//!
//! Tables (rows at `--scale 1gb`; other scales multiply the row counts):
//!
//! | table       | kind   | shape                                                          |
//! |-------------|--------|----------------------------------------------------------------|
//! | accounts    | narrow | 5 columns, int PK, parent of three foreign keys, 250 k rows    |
//! | events      | narrow | 5 columns, identity bigint PK, FK to accounts, 2.5 M rows      |
//! | page_views  | narrow | 5 columns, bigserial PK, no FK, 1.5 M rows                     |
//! | orders      | wide   | 30 mixed columns (text, varchar, numeric, jsonb, timestamptz,  |
//! |             |        | bool, uuid, int[] ...), FK to accounts, 170 k rows             |
//! | documents   | big    | most of the bytes: ~1 KB of prose-like text per row (sentences |
//! |             |        | of words from a 128-word vocabulary, both picked by md5),      |
//! |             |        | single bigint PK (chunkable by key range), FK, 540 k rows      |
//! | attachments | blobs  | bytea of 10-200 KiB (incompressible, so TOASTed uncompressed), |
//! |             |        | FK to documents, 1 250 rows                                    |
//!
//! Primary keys, eight secondary indexes (one unique) and four foreign keys are created
//! after the load; sequences are set to the highest id; then `VACUUM (FREEZE, ANALYZE)` and a
//! checkpoint, so that no contender pays for hint bits or a pending checkpoint.
//!
//! Two scenarios have source databases of their own, which do not depend on the scale:
//! scenario D's `blob_doc` ([`generate_blobs`]) and scenario H's `limit_rows` and
//! `limit_value` ([`generate_limits`]).

use std::sync::Mutex;

use fixtures::Cluster;

/// The dataset size, as total `pg_table_size` (heap + TOAST) of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// About 100 MB.
    #[value(name = "100mb")]
    Mb100,
    /// About 1 GB.
    #[value(name = "1gb")]
    Gb1,
    /// About 5 GB.
    #[value(name = "5gb")]
    Gb5,
}

impl Scale {
    /// Row-count multiplier relative to `1gb`.
    fn factor(self) -> f64 {
        match self {
            Scale::Mb100 => 0.1,
            Scale::Gb1 => 1.0,
            Scale::Gb5 => 5.0,
        }
    }

    /// The name as given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scale::Mb100 => "100mb",
            Scale::Gb1 => "1gb",
            Scale::Gb5 => "5gb",
        }
    }
}

/// Row counts for one scale.
#[derive(Debug, Clone, Copy)]
struct Rows {
    accounts: u64,
    events: u64,
    page_views: u64,
    orders: u64,
    documents: u64,
    attachments: u64,
}

impl Rows {
    fn at(scale: Scale) -> Rows {
        let f = scale.factor();
        let n = |base: f64| (base * f).round().max(1.0) as u64;
        Rows {
            accounts: n(250_000.0),
            events: n(2_500_000.0),
            page_views: n(1_500_000.0),
            orders: n(170_000.0),
            documents: n(540_000.0),
            attachments: n(1_250.0),
        }
    }
}

/// What each table is, for the report.
pub fn describe(table: &str) -> &'static str {
    match table {
        "accounts" => "narrow: int PK, 2 ints, bigint, timestamptz; parent of 3 FKs",
        "events" => "narrow: identity bigint PK, int FK, smallint, bigint, timestamp",
        "page_views" => "narrow: bigserial PK, 3 ints, timestamptz; no FK",
        "orders" => {
            "wide: 30 columns (varchar, text, numeric, jsonb, timestamptz, bool, uuid, \
             int[], real, float8); FK; unique uuid"
        }
        "documents" => {
            "big: bigint PK (key-range chunkable), ~1 KB English-like text body per row; FK"
        }
        "attachments" => "blobs: bytea of 10-200 KiB, incompressible; FK to documents",
        _ => "",
    }
}

/// `h(i, salt)`: 60 pseudo-random bits from `md5(salt:i)`; `ts(h)`: a timestamptz in
/// 2020-2024. Session-local, so they are not part of the dumped schema.
const HELPERS: &str = "
CREATE FUNCTION pg_temp.h(i bigint, salt int) RETURNS bigint LANGUAGE sql IMMUTABLE AS
  $$ SELECT ('x' || substr(md5(salt::text || ':' || i::text), 1, 15))::bit(60)::bigint $$;
CREATE FUNCTION pg_temp.ts(h bigint) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS
  $$ SELECT timestamptz '2020-01-01 00:00:00+00' + (h % 157680000) * interval '1 second' $$;
";

const SCHEMA: &str = "
CREATE TABLE accounts (
  id serial NOT NULL,
  region_id integer NOT NULL,
  plan smallint NOT NULL,
  balance_cents bigint NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE events (
  id bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,
  account_id integer NOT NULL,
  kind smallint NOT NULL,
  value bigint NOT NULL,
  occurred_at timestamp NOT NULL
);
CREATE TABLE page_views (
  id bigserial NOT NULL,
  account_id integer NOT NULL,
  page_id integer NOT NULL,
  duration_ms integer NOT NULL,
  viewed_at timestamptz NOT NULL
);
CREATE TABLE orders (
  id bigserial NOT NULL,
  account_id integer NOT NULL,
  status varchar(16) NOT NULL,
  currency char(3) NOT NULL,
  subtotal numeric(12,2) NOT NULL,
  tax numeric(12,2) NOT NULL,
  discount numeric(5,2) NOT NULL,
  total numeric(14,2) NOT NULL,
  customer_email varchar(120) NOT NULL,
  customer_phone varchar(32),
  shipping_name text NOT NULL,
  shipping_street text NOT NULL,
  shipping_city text NOT NULL,
  shipping_postcode varchar(12) NOT NULL,
  shipping_country char(2) NOT NULL,
  billing_same boolean NOT NULL,
  is_gift boolean NOT NULL,
  is_priority boolean NOT NULL,
  note text,
  external_ref uuid NOT NULL,
  item_ids integer[] NOT NULL,
  quantities integer[] NOT NULL,
  tag_ids integer[] NOT NULL,
  metadata jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  shipped_at timestamptz,
  weight_kg real NOT NULL,
  score double precision NOT NULL,
  version integer NOT NULL DEFAULT 1
);
CREATE TABLE documents (
  id bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,
  account_id integer NOT NULL,
  title text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL,
  revision integer NOT NULL
);
CREATE TABLE attachments (
  id bigserial NOT NULL,
  document_id bigint NOT NULL,
  filename text NOT NULL,
  content_type text NOT NULL,
  byte_size integer NOT NULL,
  data bytea NOT NULL,
  created_at timestamptz NOT NULL
);
";

/// Body text vocabulary: 128 common English words, picked by hash bytes, so `documents.body`
/// compresses roughly like prose rather than like hex digits.
const WORDS: [&str; 128] = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an",
    "they", "you", "were", "her", "she", "there", "been", "one", "all", "we", "their", "has",
    "would", "when", "if", "so", "no", "will", "more", "can", "out", "up", "who", "them", "some",
    "into", "its", "only", "other", "time", "than", "then", "also", "could", "these", "two", "may",
    "first", "new", "any", "our", "over", "such", "like", "man", "most", "after", "where", "very",
    "well", "even", "back", "made", "through", "just", "years", "many", "those", "how", "being",
    "because", "still", "now", "own", "people", "state", "world", "part", "way", "life", "work",
    "under", "same", "should", "while", "here", "both", "each", "between", "never", "day", "old",
    "last", "great", "before", "long", "high", "much", "down", "little", "right", "year", "house",
    "home", "against", "without", "again", "place", "around", "however", "small",
];

/// One `INSERT ... SELECT` per table, largest first (they run two at a time).
fn loads(r: Rows) -> Vec<(&'static str, String)> {
    vec![
        (
            "documents",
            format!(
                "{sentences}
                 INSERT INTO documents (id, account_id, title, body, created_at, revision)
                 SELECT i, 1 + h1 % {acc},
                        'Document ' || i || ': ' || substr(md5(i::text || ':title'), 1, (6 + h2 % 24)::int),
                        (SELECT string_agg(t.txt, ' ' ORDER BY k)
                           FROM generate_series(1, 6 + h2 % 20) k
                           JOIN pg_temp.sentences t ON t.id = pg_temp.h(i * 64 + k, 44) % 8192),
                        pg_temp.ts(h3), 1 + h3 % 9
                   FROM (SELECT i, pg_temp.h(i, 41) h1, pg_temp.h(i, 42) h2, pg_temp.h(i, 43) h3
                           FROM generate_series(1, {n}) i OFFSET 0) s",
                acc = r.accounts,
                n = r.documents,
                sentences = sentences_sql(),
            ),
        ),
        (
            "events",
            format!(
                "INSERT INTO events (id, account_id, kind, value, occurred_at)
                 SELECT i, 1 + pg_temp.h(i, 11) % {acc}, (pg_temp.h(i, 12) % 20)::smallint,
                        pg_temp.h(i, 13) % 1000000,
                        timestamp '2020-01-01' + (pg_temp.h(i, 14) % 157680000) * interval '1 second'
                   FROM generate_series(1, {n}) i",
                acc = r.accounts,
                n = r.events
            ),
        ),
        (
            "page_views",
            format!(
                "INSERT INTO page_views (id, account_id, page_id, duration_ms, viewed_at)
                 SELECT i, 1 + pg_temp.h(i, 21) % {acc}, (pg_temp.h(i, 22) % 50000)::int,
                        (pg_temp.h(i, 23) % 600000)::int, pg_temp.ts(pg_temp.h(i, 24))
                   FROM generate_series(1, {n}) i",
                acc = r.accounts,
                n = r.page_views
            ),
        ),
        (
            "orders",
            format!(
                "INSERT INTO orders (id, account_id, status, currency, subtotal, tax, discount,
                   total, customer_email, customer_phone, shipping_name, shipping_street,
                   shipping_city, shipping_postcode, shipping_country, billing_same, is_gift,
                   is_priority, note, external_ref, item_ids, quantities, tag_ids, metadata,
                   created_at, updated_at, shipped_at, weight_kg, score, version)
                 SELECT i, 1 + h1 % {acc},
                        (ARRAY['pending','paid','shipped','delivered','cancelled','refunded'])[1 + h2 % 6],
                        (ARRAY['EUR','USD','JPY','GBP','NOK','AUD'])[1 + h3 % 6],
                        sub, round(sub * 0.19, 2), disc, sub + round(sub * 0.19, 2) - disc,
                        'user' || (h4 % 1000000) || '@' || (ARRAY['example.com','mail.test','corp.example'])[1 + h5 % 3],
                        CASE WHEN h5 % 7 = 0 THEN NULL ELSE '+1-' || lpad((h6 % 10000000000)::text, 10, '0') END,
                        initcap(substr(md5(i::text || ':fn'), 1, (4 + h1 % 6)::int)) || ' '
                          || initcap(substr(md5(i::text || ':ln'), 1, (5 + h2 % 8)::int)),
                        (1 + h3 % 9999) || ' ' || initcap(substr(md5(i::text || ':st'), 1, (6 + h4 % 8)::int)) || ' Street',
                        (ARRAY['Berlin','Lisbon','Austin','Osaka','Lagos','Quito','Perth','Oslo'])[1 + h6 % 8],
                        lpad((h1 % 99999)::text, 5, '0'),
                        (ARRAY['DE','PT','US','JP','NG','EC','AU','NO'])[1 + h6 % 8],
                        h2 % 4 <> 0, h3 % 10 = 0, h4 % 5 = 0,
                        CASE WHEN h5 % 10 < 3 THEN NULL
                             ELSE 'Note: ' || md5(i::text || ':n1') || ' ' || substr(md5(i::text || ':n2'), 1, (h6 % 32)::int) END,
                        md5(i::text || ':ref')::uuid,
                        ARRAY(SELECT (pg_temp.h(i * 16 + k, 51) % 100000)::int FROM generate_series(1, nitems) k),
                        ARRAY(SELECT (1 + pg_temp.h(i * 16 + k, 52) % 5)::int FROM generate_series(1, nitems) k),
                        ARRAY(SELECT (pg_temp.h(i * 16 + k, 53) % 200)::int FROM generate_series(1, h3 % 5) k),
                        jsonb_build_object(
                          'channel', (ARRAY['web','ios','android','api','pos'])[1 + h1 % 5],
                          'campaign', 'cmp-' || (h2 % 500),
                          'device', jsonb_build_object('os', (ARRAY['linux','macos','windows','ios','android'])[1 + h3 % 5],
                                                       'version', h4 % 20),
                          'ab_test', h5 % 2 = 0,
                          'lines', nitems,
                          'referrer', CASE WHEN h6 % 3 = 0 THEN NULL ELSE 'https://ref.example/' || substr(md5(i::text || ':r'), 1, 12) END),
                        pg_temp.ts(h7), pg_temp.ts(h7) + (h8 % 2592000) * interval '1 second',
                        CASE WHEN h8 % 10 < 3 THEN NULL ELSE pg_temp.ts(h7) + (h1 % 604800) * interval '1 second' END,
                        (h5 % 50000) / 1000.0, (h6 % 1000000) / 10000.0, 1 + h8 % 5
                   FROM (SELECT i, h1, h2, h3, h4, h5, h6, h7, h8,
                                ((h1 % 10000000) / 100.0)::numeric(12,2) AS sub,
                                ((h2 % 3000) / 100.0)::numeric(5,2) AS disc,
                                1 + (h3 % 8)::int AS nitems
                           FROM (SELECT i, pg_temp.h(i, 31) h1, pg_temp.h(i, 32) h2, pg_temp.h(i, 33) h3,
                                        pg_temp.h(i, 34) h4, pg_temp.h(i, 35) h5, pg_temp.h(i, 36) h6,
                                        pg_temp.h(i, 37) h7, pg_temp.h(i, 38) h8
                                   FROM generate_series(1, {n}) i OFFSET 0) a OFFSET 0) s",
                acc = r.accounts,
                n = r.orders
            ),
        ),
        (
            "attachments",
            format!(
                "INSERT INTO attachments (id, document_id, filename, content_type, byte_size, data, created_at)
                 SELECT i, 1 + h1 % {docs}, 'file-' || i || (ARRAY['.pdf','.png','.jpg','.zip'])[1 + h2 % 4],
                        (ARRAY['application/pdf','image/png','image/jpeg','application/zip'])[1 + h2 % 4],
                        size,
                        (SELECT substring(string_agg(sha256(int8send(i * 100000 + k)), ''::bytea ORDER BY k) FROM 1 FOR size)
                           FROM generate_series(1, (size + 31) / 32) k),
                        pg_temp.ts(h3)
                   FROM (SELECT i, pg_temp.h(i, 61) h1, pg_temp.h(i, 62) h2, pg_temp.h(i, 63) h3,
                                (10240 + pg_temp.h(i, 64) % (190 * 1024))::int AS size
                           FROM generate_series(1, {n}) i OFFSET 0) s",
                docs = r.documents,
                n = r.attachments
            ),
        ),
    ]
}

/// A session-local table of 8192 sentences of 6-16 words from `WORDS`, capitalized and
/// ending in a full stop; document bodies are strings of them picked by hash.
fn sentences_sql() -> String {
    let quoted: Vec<String> = WORDS.iter().map(|w| format!("'{w}'")).collect();
    format!(
        "CREATE TEMP TABLE sentences (id int PRIMARY KEY, txt text NOT NULL);
         INSERT INTO sentences
         SELECT s, upper(left(t, 1)) || substr(t, 2) || '.'
           FROM (SELECT s, (SELECT string_agg(w[1 + (get_byte(d, j) & 127)], ' ' ORDER BY j)
                              FROM generate_series(0, 5 + get_byte(d, 15) % 11) j) AS t
                   FROM generate_series(0, 8191) s,
                        LATERAL (SELECT decode(md5('sentence:' || s), 'hex') AS d) x,
                        LATERAL (SELECT ARRAY[{}] AS w) y) z;
         ANALYZE sentences;",
        quoted.join(",")
    )
}

/// Keys and indexes, one script per table (run two at a time); foreign keys come after.
const INDEXES: &[&str] = &[
    "ALTER TABLE documents ADD PRIMARY KEY (id);
     CREATE INDEX documents_account_id_idx ON documents (account_id);",
    "ALTER TABLE events ADD PRIMARY KEY (id);
     CREATE INDEX events_account_id_idx ON events (account_id);
     CREATE INDEX events_occurred_at_idx ON events (occurred_at);",
    "ALTER TABLE page_views ADD PRIMARY KEY (id);
     CREATE INDEX page_views_account_viewed_idx ON page_views (account_id, viewed_at);",
    "ALTER TABLE orders ADD PRIMARY KEY (id);
     CREATE INDEX orders_account_id_idx ON orders (account_id);
     CREATE INDEX orders_created_at_idx ON orders (created_at);
     CREATE UNIQUE INDEX orders_external_ref_key ON orders (external_ref);",
    "ALTER TABLE attachments ADD PRIMARY KEY (id);
     CREATE INDEX attachments_document_id_idx ON attachments (document_id);",
    "ALTER TABLE accounts ADD PRIMARY KEY (id);",
];

const FOREIGN_KEYS: &str = "
ALTER TABLE events ADD CONSTRAINT events_account_id_fkey
  FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE orders ADD CONSTRAINT orders_account_id_fkey
  FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE documents ADD CONSTRAINT documents_account_id_fkey
  FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE attachments ADD CONSTRAINT attachments_document_id_fkey
  FOREIGN KEY (document_id) REFERENCES documents (id);
SELECT setval(pg_get_serial_sequence('public.' || t, 'id'), m)
  FROM (VALUES ('accounts', (SELECT max(id) FROM accounts)),
               ('events', (SELECT max(id) FROM events)),
               ('page_views', (SELECT max(id) FROM page_views)),
               ('orders', (SELECT max(id) FROM orders)),
               ('documents', (SELECT max(id) FROM documents)),
               ('attachments', (SELECT max(id) FROM attachments))) v(t, m);
";

/// Runs `scripts` on `db` with two sessions at a time; the first error stops the rest.
fn run_parallel(cluster: &Cluster, db: &str, scripts: Vec<(String, String)>) -> Result<(), String> {
    let queue = Mutex::new(scripts.into_iter());
    let failed: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    let next = queue.lock().ok().and_then(|mut q| q.next());
                    let Some((what, sql)) = next else { return };
                    let t0 = std::time::Instant::now();
                    match cluster.psql(db, &sql) {
                        Ok(_) => println!("  {what}: {:.1} s", t0.elapsed().as_secs_f64()),
                        Err(e) => {
                            if let Ok(mut f) = failed.lock() {
                                f.get_or_insert(format!("{what}: {e}"));
                            }
                        }
                    }
                }
            });
        }
    });
    match failed.into_inner() {
        Ok(None) => Ok(()),
        Ok(Some(e)) => Err(e),
        Err(_) => Err("a generation thread panicked".into()),
    }
}

/// Creates database `db` in `cluster`, replacing any earlier one (another scale's), and
/// fills it at `scale`.
pub fn generate(cluster: &Cluster, db: &str, scale: Scale) -> Result<(), String> {
    let rows = Rows::at(scale);
    create_database(cluster, db, "the source database")?;
    cluster
        .psql(db, SCHEMA)
        .map_err(|e| format!("creating the source schema: {e}"))?;
    let accounts = format!(
        "{HELPERS}
         INSERT INTO accounts (id, region_id, plan, balance_cents, created_at)
         SELECT i, 1 + pg_temp.h(i, 1) % 50, (pg_temp.h(i, 2) % 4)::smallint,
                pg_temp.h(i, 3) % 100000000 - 20000000, pg_temp.ts(pg_temp.h(i, 4))
           FROM generate_series(1, {}) i",
        rows.accounts
    );
    let mut scripts = vec![("load accounts".to_string(), accounts)];
    for (table, sql) in loads(rows) {
        scripts.push((format!("load {table}"), format!("{HELPERS}\n{sql}")));
    }
    run_parallel(cluster, db, scripts)?;
    let indexes = INDEXES
        .iter()
        .enumerate()
        .map(|(i, sql)| {
            (
                format!("keys and indexes ({}/{})", i + 1, INDEXES.len()),
                sql.to_string(),
            )
        })
        .collect();
    run_parallel(cluster, db, indexes)?;
    cluster
        .psql(db, FOREIGN_KEYS)
        .map_err(|e| format!("adding foreign keys and setting sequences: {e}"))?;
    settle(cluster, db)
}

/// Creates database `db` in `cluster` (`what` names it in errors), replacing any earlier one.
fn create_database(cluster: &Cluster, db: &str, what: &str) -> Result<(), String> {
    for sql in [
        format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        format!("CREATE DATABASE {db} TEMPLATE template0 ENCODING 'UTF8'"),
    ] {
        cluster
            .psql("postgres", &sql)
            .map_err(|e| format!("creating {what}: {e}"))?;
    }
    Ok(())
}

/// `VACUUM (FREEZE, ANALYZE)` of all of `db`, then a checkpoint, so that no contender pays
/// for hint bits or a pending checkpoint.
fn settle(cluster: &Cluster, db: &str) -> Result<(), String> {
    for sql in ["VACUUM (FREEZE, ANALYZE)", "CHECKPOINT"] {
        cluster.psql(db, sql).map_err(|e| format!("{sql}: {e}"))?;
    }
    Ok(())
}

/// One table of the source, as measured after generation.
#[derive(Debug, Clone)]
pub struct TableStat {
    /// Name as `regclass` prints it with the default search path (`accounts`).
    pub name: String,
    /// Number of columns.
    pub columns: u32,
    /// Exact row count.
    pub rows: u64,
    /// `pg_table_size`: heap + TOAST + free space and visibility maps, no indexes.
    pub table_bytes: u64,
    /// `pg_indexes_size`.
    pub index_bytes: u64,
}

/// The user tables of `db`, largest first, with exact row counts.
pub fn table_stats(cluster: &Cluster, db: &str) -> Result<Vec<TableStat>, String> {
    let out = cluster
        .psql(
            db,
            "SELECT c.oid::regclass::text, \
                    (SELECT count(*) FROM pg_attribute a \
                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), \
                    pg_table_size(c.oid), pg_indexes_size(c.oid) \
               FROM pg_class c \
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' \
              ORDER BY pg_table_size(c.oid) DESC, 1",
        )
        .map_err(|e| format!("reading table sizes: {e}"))?;
    let mut stats = Vec::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        let num = |i: usize| -> Result<u64, String> {
            f.get(i)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("unexpected catalog row: {line}"))
        };
        stats.push(TableStat {
            name: f[0].to_string(),
            columns: num(1)? as u32,
            rows: 0,
            table_bytes: num(2)?,
            index_bytes: num(3)?,
        });
    }
    let names: Vec<String> = stats.iter().map(|t| t.name.clone()).collect();
    let counts = row_counts(cluster, db, &names)?;
    for t in &mut stats {
        t.rows = counts
            .iter()
            .find(|(n, _)| *n == t.name)
            .map(|(_, c)| *c)
            .ok_or_else(|| format!("no row count for {}", t.name))?;
    }
    Ok(stats)
}

/// Exact `count(*)` of each table in one query; an error if any table is missing.
pub fn row_counts(
    cluster: &Cluster,
    db: &str,
    tables: &[String],
) -> Result<Vec<(String, u64)>, String> {
    let sql = tables
        .iter()
        .map(|t| format!("SELECT '{}', count(*) FROM {t}", t.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let out = cluster.psql(db, &sql).map_err(|e| e.to_string())?;
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, n) = l
                .rsplit_once('|')
                .ok_or_else(|| format!("unexpected count row: {l}"))?;
            let n = n
                .parse()
                .map_err(|_| format!("unexpected count row: {l}"))?;
            Ok((name.to_string(), n))
        })
        .collect()
}

/// A 64 KiB incompressible `bytea` block, a function of the SQL integer expression `seed`:
/// the SHA-256 digests of `seed * 4096 + g` for g = 1 to 2048, concatenated.
fn sha256_block_sql(seed: &str) -> String {
    format!(
        "(SELECT string_agg(sha256(int4send({seed} * 4096 + g)), ''::bytea ORDER BY g) \
           FROM generate_series(1, 2048) g)"
    )
}

/// Scenario D's source: one table of `rows` incompressible values of 1 MiB each (a 64 KiB
/// block of SHA-256 output per row, repeated: pglz looks back only 4 KiB, so nothing
/// compresses), as an application's uploaded files.
pub fn generate_blobs(cluster: &Cluster, db: &str, rows: u32) -> Result<(), String> {
    create_database(cluster, db, "the blob source database")?;
    cluster
        .psql(
            db,
            &format!(
                "CREATE TABLE blob_doc (id int PRIMARY KEY, name text NOT NULL, body bytea NOT NULL);
                 ALTER TABLE blob_doc ALTER COLUMN body SET STORAGE EXTERNAL;
                 INSERT INTO blob_doc
                 SELECT r, 'file-' || r || '.bin',
                        decode(repeat(encode({block}, 'hex'), 16), 'hex')
                   FROM generate_series(1, {rows}) r;",
                block = sha256_block_sql("r")
            ),
        )
        .map_err(|e| format!("generating the blob table: {e}"))?;
    settle(cluster, db)
}

/// Scenario H's narrow table.
pub const LIMIT_ROWS_TABLE: &str = "limit_rows";

/// Rows in [`LIMIT_ROWS_TABLE`].
pub const LIMIT_ROWS: u64 = 10_000_000;

/// Scenario H's table of one huge value.
pub const LIMIT_VALUE_TABLE: &str = "limit_value";

/// The size of [`LIMIT_VALUE_TABLE`]'s one value: 500 MiB.
pub const LIMIT_VALUE_BYTES: u64 = 500 * 1024 * 1024;

/// Scenario H's source: [`LIMIT_ROWS_TABLE`], exactly [`LIMIT_ROWS`] narrow rows, and
/// [`LIMIT_VALUE_TABLE`], one row whose `bytea` is a single [`LIMIT_VALUE_BYTES`] value
/// (8,000 distinct 64 KiB blocks of SHA-256 output, stored uncompressed out of line), the
/// two generated side by side. The value's size is checked, since the report's bound is
/// derived from it.
pub fn generate_limits(cluster: &Cluster, db: &str) -> Result<(), String> {
    create_database(cluster, db, "the limits source database")?;
    let blocks = LIMIT_VALUE_BYTES / (64 * 1024);
    let scripts = vec![
        (
            format!("load {LIMIT_ROWS_TABLE}"),
            format!(
                "CREATE TABLE {LIMIT_ROWS_TABLE} (id bigint NOT NULL, a int NOT NULL, b int NOT NULL, c text NOT NULL);
                 INSERT INTO {LIMIT_ROWS_TABLE}
                 SELECT i, (i * 7919 % 1000003)::int, (i % 97)::int, to_hex(i * 2654435761 % 4294967296)
                   FROM generate_series(1::bigint, {LIMIT_ROWS}) i;
                 ALTER TABLE {LIMIT_ROWS_TABLE} ADD PRIMARY KEY (id);"
            ),
        ),
        (
            format!("load {LIMIT_VALUE_TABLE}"),
            // No ORDER BY in the outer aggregate: sorting 500 MiB of blocks would spill it
            // all to disk; the function scan hands them over in series order.
            format!(
                "CREATE TABLE {LIMIT_VALUE_TABLE} (id bigint PRIMARY KEY, v bytea NOT NULL);
                 ALTER TABLE {LIMIT_VALUE_TABLE} ALTER COLUMN v SET STORAGE EXTERNAL;
                 INSERT INTO {LIMIT_VALUE_TABLE}
                 SELECT 1, string_agg(block, ''::bytea)
                   FROM (SELECT {block} AS block FROM generate_series(0, {last}) b) s;",
                block = sha256_block_sql("b"),
                last = blocks - 1
            ),
        ),
    ];
    run_parallel(cluster, db, scripts)?;
    let size = cluster
        .psql(
            db,
            &format!("SELECT sum(octet_length(v)) FROM {LIMIT_VALUE_TABLE}"),
        )
        .map_err(|e| format!("measuring the value: {e}"))?;
    if size.trim() != LIMIT_VALUE_BYTES.to_string() {
        return Err(format!(
            "{LIMIT_VALUE_TABLE}: the value has {} bytes, not {LIMIT_VALUE_BYTES}",
            size.trim()
        ));
    }
    settle(cluster, db)
}

/// The `md5` of [`LIMIT_VALUE_TABLE`]'s values in `db`, one line per row by key.
pub fn limit_value_md5(cluster: &Cluster, db: &str) -> Result<String, String> {
    cluster
        .psql(
            db,
            &format!("SELECT md5(v) FROM {LIMIT_VALUE_TABLE} ORDER BY id"),
        )
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("hashing {LIMIT_VALUE_TABLE}: {e}"))
}
