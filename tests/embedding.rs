//! migrator-core embedded the way a third-party tool would use it: its own progress
//! renderer fed by the event stream, its own `tracing` subscriber, a copy cancelled in the
//! middle, a resume that picks up where it stopped, and a verification.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixtures::{Cluster, TestDb, datasets};
use migrator_core::plan::{Phase, Plan, StepKind};
use migrator_core::{Config, ErrorKind, Event, Migration, QualName, Stage, VerifyLevel};
use migrator_tests::*;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// A `tracing` layer that records the spans it sees, as `name` or `name:table`.
#[derive(Clone, Default)]
struct SpanLog(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanLog {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        struct Table(Option<String>);
        impl tracing::field::Visit for Table {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "table" || f.name() == "id" {
                    self.0 = Some(format!("{v:?}"));
                }
            }
        }
        let mut t = Table(None);
        attrs.record(&mut t);
        let name = attrs.metadata().name();
        self.0.lock().unwrap().push(match t.0 {
            Some(v) => format!("{name}:{v}"),
            None => name.to_string(),
        });
    }
}

/// What a progress renderer keeps: per table, rows from chunks, bytes from progress; and
/// when each post-data step started against what was copied by then.
#[derive(Default, Debug)]
struct Rendered {
    started: Option<(usize, usize)>,
    stages: Vec<Stage>,
    tables_started: HashSet<QualName>,
    chunk_rows: HashMap<QualName, u64>,
    chunk_bytes: u64,
    progress_bytes: u64,
    tables_done: HashMap<QualName, u64>,
    chunks: usize,
    /// The plan's post-data steps: kind and table, by id.
    post_steps: HashMap<String, (StepKind, Option<QualName>)>,
    /// The source tables each target table is loaded from.
    sources: HashMap<QualName, Vec<QualName>>,
    /// Post-data steps started while rows were still being copied.
    steps_beside_data: usize,
}

impl Rendered {
    fn of(plan: &Plan) -> Rendered {
        let mut r = Rendered::default();
        for s in plan.steps().iter().filter(|s| s.phase() == Phase::PostData) {
            r.post_steps
                .insert(s.id().to_string(), (s.kind(), s.table().cloned()));
        }
        for t in plan.tables() {
            r.sources
                .entry(t.target().clone())
                .or_default()
                .push(t.name().clone());
        }
        r
    }

    fn see(&mut self, e: &Event) {
        match e {
            Event::Started {
                chunks,
                chunks_already_done,
                ..
            } => {
                assert!(self.started.is_none(), "Started comes once");
                self.started = Some((*chunks, *chunks_already_done));
            }
            Event::Stage(s) => self.stages.push(*s),
            Event::TableStarted { table, .. } => {
                assert!(self.started.is_some(), "Started comes first");
                assert!(
                    self.tables_started.insert(table.clone()),
                    "{table} started twice"
                );
            }
            Event::Progress { table, bytes, .. } => {
                assert!(
                    self.tables_started.contains(table),
                    "progress before {table} started"
                );
                self.progress_bytes += bytes;
            }
            Event::ChunkDone {
                table, rows, bytes, ..
            } => {
                assert!(
                    self.tables_started.contains(table),
                    "chunk before {table} started"
                );
                *self.chunk_rows.entry(table.clone()).or_default() += rows;
                self.chunk_bytes += bytes;
                self.chunks += 1;
            }
            Event::TableDone { table, rows, .. } => {
                assert_eq!(
                    self.chunk_rows.get(table).copied().unwrap_or(0),
                    *rows,
                    "{table}"
                );
                assert!(self.tables_done.insert(table.clone(), *rows).is_none());
            }
            Event::StepStarted { id, .. } => {
                let Some((kind, table)) = self.post_steps.get(id) else {
                    return;
                };
                let all_in = self.stages.contains(&Stage::PostData);
                if !all_in {
                    self.steps_beside_data += 1;
                }
                // A step on one table alone, a table rows are copied into, waits only for
                // that table's rows; any other (foreign keys, sequences, triggers, views, a
                // partitioned table's indexes) for all rows.
                let sources = table.as_ref().and_then(|t| self.sources.get(t));
                match (kind, sources) {
                    (
                        StepKind::PrimaryKey
                        | StepKind::Index
                        | StepKind::Check
                        | StepKind::Statistics
                        | StepKind::Analyze,
                        Some(sources),
                    ) => {
                        for s in sources {
                            assert!(
                                !self.tables_started.contains(s)
                                    || self.tables_done.contains_key(s),
                                "{id} started while {s} was still loading"
                            );
                        }
                    }
                    _ => assert!(all_in, "{id} started before all rows were in"),
                }
            }
            _ => {}
        }
    }
}

fn source_with_work(c: &'static Cluster, name: &str) -> TestDb<'static> {
    let src = c.create_db(name).unwrap();
    datasets::load_pagila(&src).unwrap();
    src.psql(
        "CREATE TABLE big (id bigint PRIMARY KEY, v text);
         INSERT INTO big SELECT g, repeat(md5(g::text), 5) FROM generate_series(1, 400000) g; ANALYZE big;",
    )
    .unwrap();
    src
}

fn config() -> Config {
    let mut config = Config::default();
    config.copy.chunk_mib = 2;
    config.copy.jobs = Some(2);
    config
}

async fn migration(src: &TestDb<'_>, dst: &TestDb<'_>) -> Migration {
    Migration::builder()
        .source(src.url())
        .target(dst.url())
        .config(config())
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_resume_verify_with_own_progress_and_tracing() {
    let spans = SpanLog::default();
    // As an application would: one subscriber for the whole process.
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(spans.clone()))
        .expect("the only global subscriber of this test binary");

    let c = Cluster::shared();
    let src = source_with_work(c, "embed_src");
    let dst = c.create_db("embed_dst").unwrap();
    let m = migration(&src, &dst).await;

    // Plan: its events, then its result.
    let mut planning = m.plan();
    let mut stages = Vec::new();
    while let Some(e) = planning.next_event().await {
        if let Event::Stage(s) = e {
            stages.push(s);
        }
    }
    let plan = planning.finish().await.unwrap();
    assert_eq!(stages, vec![Stage::Plan]);
    assert!(plan.chunk_count() > 20, "{} chunks", plan.chunk_count());
    assert!(plan.resume().is_none());

    // Copy, cancelled after a few chunks.
    let mut run = m.copy(&plan);
    let mut first = Rendered::of(&plan);
    let mut cancelled_at = None;
    while let Some(e) = run.next_event().await {
        first.see(&e);
        if first.chunks >= 3 && cancelled_at.is_none() {
            run.cancel();
            cancelled_at = Some(Instant::now());
        }
    }
    let err = run.finish().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(
        cancelled_at.unwrap().elapsed() < Duration::from_secs(10),
        "cancel took too long"
    );
    let (planned, _) = first.started.unwrap();
    assert!(
        first.chunks >= 3 && first.chunks < planned,
        "{} of {planned}",
        first.chunks
    );

    // Resume: a new plan sees what the cancelled run left, the copy skips it.
    let plan = m.plan().await.unwrap();
    let done_before = plan
        .resume()
        .expect("a resumable run is recorded")
        .chunks_done() as usize;
    assert!(
        done_before >= first.chunks,
        "{done_before} < {}",
        first.chunks
    );
    let mut run = m.copy(&plan);
    let mut second = Rendered::of(&plan);
    while let Some(e) = run.next_event().await {
        second.see(&e);
    }
    let summary = run.finish().await.unwrap();
    assert_eq!(second.started, Some((planned, done_before)));
    assert_eq!(summary.chunks_skipped, done_before);
    assert_eq!(summary.chunks_copied, planned - done_before);
    assert_eq!(second.chunk_rows.values().sum::<u64>(), summary.rows);
    assert_eq!(second.chunk_bytes, summary.bytes);
    assert_eq!(
        second.progress_bytes, summary.bytes,
        "progress adds up to what moved"
    );
    assert_eq!(
        second.stages.first(),
        Some(&Stage::Data),
        "the schema already exists"
    );
    assert_eq!(second.stages.last(), Some(&Stage::PostData));

    // Verify, with an event per table.
    let mut verifying = m.verify(VerifyLevel::Counts);
    let mut verified = 0;
    while let Some(e) = verifying.next_event().await {
        if let Event::TableVerified { .. } = e {
            verified += 1;
        }
    }
    let report = verifying.finish().await.unwrap();
    assert!(report.is_clean(), "{}", report.to_json());
    assert_eq!(verified, report.tables().len());
    assert_same_data(&src, &dst);

    // The application writes on; a sync brings the target up to date, moving only that.
    src.psql(
        "UPDATE big SET v = v || '!' WHERE id % 1000 = 1; DELETE FROM big WHERE id % 1000 = 2",
    )
    .unwrap();
    let changed: u64 = src
        .psql("SELECT count(*) FROM big WHERE id % 1000 = 1")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut syncing = m.sync(&m.plan().await.unwrap());
    let mut stages = Vec::new();
    while let Some(e) = syncing.next_event().await {
        if let Event::Stage(s) = e {
            stages.push(s);
        }
    }
    let synced = syncing.finish().await.unwrap();
    assert_eq!(stages, [Stage::Sync]);
    assert_eq!(synced.rows_written, changed, "{synced:?}");
    assert!(synced.rows_deleted > 0, "{synced:?}");
    let report = m.verify(VerifyLevel::Checksums).await.unwrap();
    assert!(report.is_clean(), "{}", report.to_json());
    assert_same_data(&src, &dst);

    // The embedding program's subscriber saw the engine's spans.
    let seen = spans.0.lock().unwrap().clone();
    for expected in [
        "chunk:public.big",
        "step:analyze:public.big",
        "verify_table:public.big",
        "worker:0",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "no {expected} span among {} spans: {:?}",
            seen.len(),
            &seen[..seen.len().min(30)]
        );
    }
}

/// A worker with nothing left to copy lends its slot to the post-data steps: the small
/// tables' keys and indexes are built while the other worker still copies `big` (one chunk),
/// and nothing touches `big`, or spans tables, before its rows are in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tables_indexes_are_built_while_others_still_copy() {
    let c = Cluster::shared();
    let src = c.create_db("embed_beside_src").unwrap();
    src.psql(
        "CREATE TABLE big (id bigint PRIMARY KEY, v text);
         INSERT INTO big SELECT g, repeat(md5(g::text), 5) FROM generate_series(1, 400000) g;
         CREATE INDEX ON big (v);
         CREATE TABLE small (id int PRIMARY KEY, big_id bigint REFERENCES big, n int);
         INSERT INTO small SELECT g, g, g % 7 FROM generate_series(1, 2000) g;
         CREATE INDEX ON small (n);
         CREATE TABLE tiny (id int PRIMARY KEY, s text UNIQUE);
         INSERT INTO tiny SELECT g, g::text FROM generate_series(1, 500) g;
         ANALYZE;",
    )
    .unwrap();
    let dst = c.create_db("embed_beside_dst").unwrap();
    let mut config = config();
    // `big` in one chunk: one worker copies it throughout, the other does the rest.
    config.copy.chunk_mib = 1024;
    let m = Migration::builder()
        .source(src.url())
        .target(dst.url())
        .config(config)
        .build()
        .await
        .unwrap();
    let plan = m.plan().await.unwrap();
    assert_eq!(plan.chunk_count(), 3);
    let mut run = m.copy(&plan);
    let mut seen = Rendered::of(&plan);
    while let Some(e) = run.next_event().await {
        seen.see(&e);
    }
    run.finish().await.unwrap();
    assert!(
        seen.steps_beside_data >= 2,
        "{} post-data steps started before all rows were in",
        seen.steps_beside_data
    );
    assert_same_data(&src, &dst);
    assert_same_schema(&src, &dst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_cancels_and_leaves_it_resumable() {
    let c = Cluster::shared();
    let src = source_with_work(c, "embed_drop_src");
    let dst = c.create_db("embed_drop_dst").unwrap();
    let m = migration(&src, &dst).await;
    let plan = m.plan().await.unwrap();
    {
        let mut run = m.copy(&plan);
        let mut chunks = 0;
        while let Some(e) = run.next_event().await {
            if let Event::ChunkDone { .. } = e {
                chunks += 1;
                if chunks == 2 {
                    break;
                }
            }
        }
        // `run` is dropped here, mid-copy.
    }
    // The dropped run stops; a new one resumes and finishes.
    let deadline = Instant::now() + Duration::from_secs(20);
    let summary = loop {
        let plan = m.plan().await.unwrap();
        match m.copy(&plan).await {
            Ok(s) => break s,
            // The dropped run may still hold the target for a moment.
            Err(e) if e.kind() == ErrorKind::Conflict && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(summary.chunks_skipped >= 2, "{summary:?}");
    assert!(m.verify(VerifyLevel::Counts).await.unwrap().is_clean());
    assert_same_data(&src, &dst);
}

#[tokio::test]
async fn errors_say_what_and_whether_to_retry() {
    let e = Migration::builder()
        .source("postgres://app:hunter2@db.example.com/app?sslmode=verify")
        .target("postgres://app@localhost/app")
        .build()
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(!e.is_retryable());
    assert!(
        e.to_string().contains("sslmode") && !e.to_string().contains("hunter2"),
        "{e}"
    );

    let m = Migration::builder()
        .source("postgres://app:hunter2@127.0.0.1:1/app?sslmode=disable")
        .target("postgres://app@127.0.0.1:1/other?sslmode=disable")
        .build()
        .await
        .unwrap();
    let e = m.plan().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect);
    assert!(e.is_retryable(), "a refused connection may succeed later");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert_eq!(
        m.source_display(),
        "postgres://app@127.0.0.1:1/app?sslmode=disable"
    );
}
