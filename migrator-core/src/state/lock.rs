//! The run lock: one run at a time per target. A session-level advisory lock where the
//! target has them, else a lease row in `_migrator.lease` renewed by a heartbeat.

use tokio_postgres::Client;

use super::target_err;
use crate::error::{Error, ErrorKind, Result};

/// The advisory lock key that marks a target as in use by a run ("MIGRATOR" in ASCII).
const LOCK_KEY: i64 = 0x4D49_4752_4154_4F52;

/// How long a lease holds without a heartbeat: a run killed without a chance to release
/// its lease blocks the next run this long at most.
const LEASE_SECONDS: i64 = 30;

/// Holds the target for one run, released when dropped: an advisory lock held by a session
/// (released by the server when the session ends, even if the process is killed), or where
/// the target has no advisory locks (DSQL), a lease row with a heartbeat.
pub(crate) struct RunLock {
    _session: Option<Client>,
    lease: Option<Lease>,
}

/// A held lease: its session (shared with the heartbeat), the holder's id, and the
/// heartbeat, which stops when this is dropped.
struct Lease {
    client: std::sync::Arc<Client>,
    me: String,
    _heartbeat: tokio_util::sync::DropGuard,
}

impl RunLock {
    /// Takes the target's run lock, or says who holds it.
    /// `client` is a session of its own, held as long as the lock; `advisory`: the target
    /// has session-level advisory locks (else the lock is a lease row with a heartbeat).
    pub(crate) async fn acquire(
        client: Client,
        advisory: bool,
        events: &crate::events::EventSink,
    ) -> Result<RunLock> {
        if advisory {
            return Self::advisory(client).await;
        }
        Self::lease(client, events).await
    }

    async fn advisory(client: Client) -> Result<RunLock> {
        let got: bool = client
            .query_one("SELECT pg_catalog.pg_try_advisory_lock($1)", &[&LOCK_KEY])
            .await
            .map_err(target_err("taking the run lock"))?
            .get(0);
        if got {
            return Ok(RunLock {
                _session: Some(client),
                lease: None,
            });
        }
        let holder = client
            .query_opt(
                "SELECT a.pid, COALESCE(a.application_name, ''), \
                 to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') \
                 FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted \
                 AND l.classid::int8 = ($1 >> 32) AND l.objid::int8 = ($1 & 4294967295) LIMIT 1",
                &[&LOCK_KEY],
            )
            .await
            .ok()
            .flatten()
            .map(|r| {
                format!(
                    " (backend pid {}, {} since {})",
                    r.get::<_, i32>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(2)
                )
            })
            .unwrap_or_default();
        Err(held_by(holder))
    }

    async fn lease(client: Client, events: &crate::events::EventSink) -> Result<RunLock> {
        let err = || target_err("taking the run lease");
        for ddl in [
            "CREATE SCHEMA IF NOT EXISTS _migrator",
            "CREATE TABLE IF NOT EXISTS _migrator.lease (singleton boolean PRIMARY KEY DEFAULT true, \
             holder text NOT NULL, heartbeat timestamptz NOT NULL)",
        ] {
            match client.batch_execute(ddl).await {
                Ok(()) => {}
                // Another run created it at the same moment.
                Err(e)
                    if e.code()
                        .is_some_and(|c| ["42P07", "42P06"].contains(&c.code())) => {}
                Err(e) => return Err(err()(e)),
            }
        }
        let me = uuid::Uuid::new_v4().to_string();
        // A failed commit (a conflict with a racing run, or a transient failure) is tried
        // again: then the row says who holds the lease.
        let take = || async {
            crate::retry::retrying(
                crate::retry::RetryPolicy::default(),
                "taking the run lease",
                Some(events),
                || async {
                    client
                        .query_opt(
                            &format!(
                                "INSERT INTO _migrator.lease (holder, heartbeat) VALUES ($1, now()) \
                                 ON CONFLICT (singleton) DO UPDATE SET holder = excluded.holder, heartbeat = now() \
                                 WHERE _migrator.lease.heartbeat < now() - interval '{LEASE_SECONDS} seconds' \
                                 OR _migrator.lease.holder = excluded.holder \
                                 RETURNING holder"
                            ),
                            &[&me],
                        )
                        .await
                        .map(|row| row.is_some())
                        .map_err(err())
                },
            )
            .await
        };
        let heartbeat = || async {
            client
                .query_opt(
                    "SELECT to_char(heartbeat, 'YYYY-MM-DD HH24:MI:SS.US TZ') FROM _migrator.lease",
                    &[],
                )
                .await
                .ok()
                .flatten()
                .map(|r| r.get::<_, String>(0))
        };
        // A holder that stops renewing its lease was stopped without releasing it (killed):
        // its lease is waited out. One that renews it is running.
        let mut last = None;
        let mut waited = 0;
        loop {
            if take().await? {
                break;
            }
            let beat = heartbeat().await;
            if (last.is_some() && beat != last) || waited > LEASE_SECONDS * 2 {
                return Err(held_by(
                    beat.map(|s| format!(" (lease renewed at {s})"))
                        .unwrap_or_default(),
                ));
            }
            if last.is_none() {
                events.send(crate::events::Event::Warning {
                    message: format!(
                        "the target's run lease is held; if no heartbeat renews it, it expires \
                         within {LEASE_SECONDS} s (an earlier run was stopped without releasing it)"
                    ),
                });
            }
            last = beat;
            let pause = LEASE_SECONDS / 3 + 1;
            tokio::time::sleep(std::time::Duration::from_secs(pause as u64)).await;
            waited += pause;
        }
        let stop = tokio_util::sync::CancellationToken::new();
        let guard = stop.clone().drop_guard();
        let client = std::sync::Arc::new(client);
        let (beat, holder) = (client.clone(), me.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => {
                        let _ = beat.execute("DELETE FROM _migrator.lease WHERE holder = $1", &[&holder]).await;
                        return;
                    }
                    _ = tokio::time::sleep(std::time::Duration::from_secs((LEASE_SECONDS / 3) as u64)) => {
                        let _ = beat
                            .execute("UPDATE _migrator.lease SET heartbeat = now() WHERE holder = $1", &[&holder])
                            .await;
                    }
                }
            }
        });
        Ok(RunLock {
            _session: None,
            lease: Some(Lease {
                client,
                me,
                _heartbeat: guard,
            }),
        })
    }

    /// Gives the target back at the end of a run, before the process may exit (a dropped
    /// lock's lease is only released in the background, and expires on its own later).
    pub(crate) async fn release(self) {
        if let Some(l) = &self.lease {
            let _ = l
                .client
                .execute("DELETE FROM _migrator.lease WHERE holder = $1", &[&l.me])
                .await;
        }
    }
}

fn held_by(holder: String) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "another migrator run is using this target{holder}: wait for it to finish or stop it"
        ),
    )
}
