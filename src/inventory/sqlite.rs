//! The embedded inventory backend: SQLite through rusqlite, WAL mode, schema versioned
//! by `PRAGMA user_version` with forward migrations. Writes are upserts inside one
//! transaction per batch, so a crash loses at most the batch in memory and never leaves
//! a half-written one.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::backend::{
    AlertRow, Applied, Backend, Batch, DailyRow, Filter, FingerprintRow, FlowRow, StoreError,
    batch_ids_expire_before, to_i64, to_u64,
};

/// Each migration takes the schema from its index to the next version.
pub const MIGRATIONS: &[&str] = &[
    // Version 1: aggregated AI flows and the alert log.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE ai_flows (
         sensor TEXT NOT NULL,
         internal_host TEXT NOT NULL,
         host_label TEXT NOT NULL DEFAULT '',
         vendor TEXT NOT NULL,
         product TEXT NOT NULL,
         kind TEXT NOT NULL,
         endpoint TEXT NOT NULL,
         landing_country TEXT NOT NULL,
         eea INTEGER NOT NULL,
         verdict TEXT NOT NULL,
         first_seen INTEGER NOT NULL,
         last_seen INTEGER NOT NULL,
         flows INTEGER NOT NULL,
         packets INTEGER NOT NULL,
         bytes_sent INTEGER NOT NULL,
         bytes_received INTEGER NOT NULL,
         PRIMARY KEY (sensor, internal_host, vendor, product, endpoint, landing_country, verdict)
     );
     CREATE TABLE alerts (
         id INTEGER PRIMARY KEY,
         sensor TEXT NOT NULL,
         timestamp INTEGER NOT NULL,
         rule TEXT NOT NULL,
         severity TEXT NOT NULL,
         verdict TEXT NOT NULL,
         internal_host TEXT NOT NULL,
         vendor TEXT NOT NULL,
         product TEXT NOT NULL,
         landing_country TEXT NOT NULL,
         reason TEXT NOT NULL,
         count INTEGER NOT NULL,
         summary INTEGER NOT NULL
     );
     CREATE INDEX alerts_by_host ON alerts (internal_host, vendor, product);",
    // Version 2: client fingerprints and daily totals.
    "CREATE TABLE fingerprints (
         sensor TEXT NOT NULL,
         internal_host TEXT NOT NULL,
         vendor TEXT NOT NULL,
         product TEXT NOT NULL,
         kind TEXT NOT NULL,
         value TEXT NOT NULL,
         first_seen INTEGER NOT NULL,
         last_seen INTEGER NOT NULL,
         seen INTEGER NOT NULL,
         PRIMARY KEY (sensor, internal_host, vendor, product, kind, value)
     );
     CREATE TABLE daily (
         sensor TEXT NOT NULL,
         day TEXT NOT NULL,
         vendor TEXT NOT NULL,
         landing_country TEXT NOT NULL,
         flows INTEGER NOT NULL,
         bytes_sent INTEGER NOT NULL,
         bytes_received INTEGER NOT NULL,
         PRIMARY KEY (sensor, day, vendor, landing_country)
     );",
    // Version 3: how far each row's landing country can be trusted.
    "ALTER TABLE ai_flows ADD COLUMN landing_confidence TEXT NOT NULL DEFAULT '';",
    // Version 4: the ids of the batches written, so a retried batch is applied once.
    "CREATE TABLE batches (id TEXT PRIMARY KEY, written INTEGER NOT NULL);
     CREATE INDEX batches_by_time ON batches (written);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// An open SQLite inventory.
pub struct SqliteStore {
    conn: Connection,
    path: String,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    ///
    /// # Errors
    /// SQLite errors, or a schema newer than this build knows.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: name.clone(),
            source,
        })?;
        let store = Self { conn, path: name };
        store.prepare()?;
        Ok(store)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn prepare(&self) -> Result<(), StoreError> {
        // WAL lets reports read while the sensor writes, and a crash never corrupts.
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(self.err())?;
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(self.err())?;
        self.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(self.err())?;
        let version = self.schema_version()?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                target: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = self.conn.unchecked_transaction().map_err(self.err())?;
            tx.execute_batch(sql).map_err(self.err())?;
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(i.saturating_add(1)).unwrap_or(0),
            )
            .map_err(self.err())?;
            tx.commit().map_err(self.err())?;
        }
        Ok(())
    }
}

impl Backend for SqliteStore {
    fn target(&self) -> &str {
        &self.path
    }

    /// The schema version of the open database.
    ///
    /// # Errors
    /// SQLite errors.
    fn schema_version(&self) -> Result<usize, StoreError> {
        let v: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.err())?;
        Ok(usize::try_from(v).unwrap_or(0))
    }

    /// Adds a batch: counters are summed into existing rows, first/last seen widened.
    ///
    /// # Errors
    /// SQLite errors; nothing of the batch is written then.
    fn write(&mut self, batch: &Batch) -> Result<Applied, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let now = crate::time::Timestamp::now().micros();
            let fresh = tx
                .execute(
                    "INSERT INTO batches VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
                    params![batch.id, now],
                )
                .map_err(err)?;
            if fresh == 0 {
                return Ok(Applied::AlreadyWritten);
            }
            tx.execute(
                "DELETE FROM batches WHERE written < ?1",
                [batch_ids_expire_before()],
            )
            .map_err(err)?;
            let mut flows = tx
                .prepare_cached(
                    "INSERT INTO ai_flows VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)
                     ON CONFLICT (sensor, internal_host, vendor, product, endpoint, landing_country, verdict)
                     DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
                                   last_seen = max(last_seen, excluded.last_seen),
                                   flows = flows + excluded.flows,
                                   packets = packets + excluded.packets,
                                   bytes_sent = bytes_sent + excluded.bytes_sent,
                                   bytes_received = bytes_received + excluded.bytes_received,
                                   host_label = excluded.host_label,
                                   landing_confidence = CASE WHEN excluded.landing_confidence = ''
                                       THEN landing_confidence ELSE excluded.landing_confidence END",
                )
                .map_err(err)?;
            for r in &batch.flows {
                flows
                    .execute(params![
                        r.sensor,
                        r.internal_host,
                        r.host_label,
                        r.vendor,
                        r.product,
                        r.kind,
                        r.endpoint,
                        r.landing_country,
                        r.eea,
                        r.verdict,
                        r.first_seen,
                        r.last_seen,
                        to_i64(r.flows),
                        to_i64(r.packets),
                        to_i64(r.bytes_sent),
                        to_i64(r.bytes_received),
                        r.landing_confidence,
                    ])
                    .map_err(err)?;
            }
            let mut prints = tx
                .prepare_cached(
                    "INSERT INTO fingerprints VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)
                     ON CONFLICT (sensor, internal_host, vendor, product, kind, value)
                     DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
                                   last_seen = max(last_seen, excluded.last_seen),
                                   seen = seen + excluded.seen",
                )
                .map_err(err)?;
            for r in &batch.fingerprints {
                prints
                    .execute(params![
                        r.sensor,
                        r.internal_host,
                        r.vendor,
                        r.product,
                        r.kind,
                        r.value,
                        r.first_seen,
                        r.last_seen,
                        to_i64(r.seen),
                    ])
                    .map_err(err)?;
            }
            let mut daily = tx
                .prepare_cached(
                    "INSERT INTO daily VALUES (?1,?2,?3,?4,?5,?6,?7)
                     ON CONFLICT (sensor, day, vendor, landing_country)
                     DO UPDATE SET flows = flows + excluded.flows,
                                   bytes_sent = bytes_sent + excluded.bytes_sent,
                                   bytes_received = bytes_received + excluded.bytes_received",
                )
                .map_err(err)?;
            for r in &batch.daily {
                daily
                    .execute(params![
                        r.sensor,
                        r.day,
                        r.vendor,
                        r.landing_country,
                        to_i64(r.flows),
                        to_i64(r.bytes_sent),
                        to_i64(r.bytes_received),
                    ])
                    .map_err(err)?;
            }
            let mut alerts = tx
                .prepare_cached(
                    "INSERT INTO alerts (sensor, timestamp, rule, severity, verdict, internal_host,
                         vendor, product, landing_country, reason, count, summary)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
                )
                .map_err(err)?;
            for r in &batch.alerts {
                alerts
                    .execute(params![
                        r.sensor,
                        r.timestamp,
                        r.rule,
                        r.severity,
                        r.verdict,
                        r.internal_host,
                        r.vendor,
                        r.product,
                        r.landing_country,
                        r.reason,
                        to_i64(r.count),
                        r.summary,
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(Applied::Written)
    }

    /// The aggregated rows a filter selects, largest upload first.
    ///
    /// # Errors
    /// SQLite errors.
    fn flows(&self, f: &Filter) -> Result<Vec<FlowRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT sensor, internal_host, host_label, vendor, product, kind, endpoint,
                        landing_country, eea, verdict, first_seen, last_seen, flows, packets,
                        bytes_sent, bytes_received, landing_confidence
                 FROM ai_flows
                 WHERE (?1 IS NULL OR last_seen >= ?1) AND (?2 IS NULL OR first_seen <= ?2)
                   AND (?3 IS NULL OR vendor = ?3) AND (?4 IS NULL OR sensor = ?4)
                 ORDER BY bytes_sent DESC, vendor, internal_host, endpoint",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![f.since, f.until, f.vendor, f.sensor], |r| {
                Ok(FlowRow {
                    sensor: r.get(0)?,
                    internal_host: r.get(1)?,
                    host_label: r.get(2)?,
                    vendor: r.get(3)?,
                    product: r.get(4)?,
                    kind: r.get(5)?,
                    endpoint: r.get(6)?,
                    landing_country: r.get(7)?,
                    eea: r.get(8)?,
                    verdict: r.get(9)?,
                    first_seen: r.get(10)?,
                    last_seen: r.get(11)?,
                    flows: to_u64(r.get(12)?),
                    packets: to_u64(r.get(13)?),
                    bytes_sent: to_u64(r.get(14)?),
                    bytes_received: to_u64(r.get(15)?),
                    landing_confidence: r.get(16)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Fingerprints of the selected vendor(s).
    ///
    /// # Errors
    /// SQLite errors.
    fn fingerprints(&self, f: &Filter) -> Result<Vec<FingerprintRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT sensor, internal_host, vendor, product, kind, value, first_seen, last_seen, seen
                 FROM fingerprints
                 WHERE (?1 IS NULL OR last_seen >= ?1) AND (?2 IS NULL OR first_seen <= ?2)
                   AND (?3 IS NULL OR vendor = ?3) AND (?4 IS NULL OR sensor = ?4)
                 ORDER BY vendor, internal_host, kind, value",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![f.since, f.until, f.vendor, f.sensor], |r| {
                Ok(FingerprintRow {
                    sensor: r.get(0)?,
                    internal_host: r.get(1)?,
                    vendor: r.get(2)?,
                    product: r.get(3)?,
                    kind: r.get(4)?,
                    value: r.get(5)?,
                    first_seen: r.get(6)?,
                    last_seen: r.get(7)?,
                    seen: to_u64(r.get(8)?),
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Daily totals within the filter's days.
    ///
    /// # Errors
    /// SQLite errors.
    fn daily(&self, f: &Filter) -> Result<Vec<DailyRow>, StoreError> {
        let day = |t: Option<i64>| t.map(|t| crate::time::Timestamp::from_micros(t).date());
        let mut stmt = self
            .conn
            .prepare(
                "SELECT sensor, day, vendor, landing_country, flows, bytes_sent, bytes_received
                 FROM daily
                 WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day <= ?2)
                   AND (?3 IS NULL OR vendor = ?3) AND (?4 IS NULL OR sensor = ?4)
                 ORDER BY day, vendor, landing_country, sensor",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(
                params![day(f.since), day(f.until), f.vendor, f.sensor],
                |r| {
                    Ok(DailyRow {
                        sensor: r.get(0)?,
                        day: r.get(1)?,
                        vendor: r.get(2)?,
                        landing_country: r.get(3)?,
                        flows: to_u64(r.get(4)?),
                        bytes_sent: to_u64(r.get(5)?),
                        bytes_received: to_u64(r.get(6)?),
                    })
                },
            )
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// The alert log within the filter, oldest first.
    ///
    /// # Errors
    /// SQLite errors.
    fn alerts(&self, f: &Filter) -> Result<Vec<AlertRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT sensor, timestamp, rule, severity, verdict, internal_host, vendor, product,
                        landing_country, reason, count, summary
                 FROM alerts
                 WHERE (?1 IS NULL OR timestamp >= ?1) AND (?2 IS NULL OR timestamp <= ?2)
                   AND (?3 IS NULL OR vendor = ?3) AND (?4 IS NULL OR sensor = ?4)
                 ORDER BY timestamp, id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![f.since, f.until, f.vendor, f.sensor], |r| {
                Ok(AlertRow {
                    sensor: r.get(0)?,
                    timestamp: r.get(1)?,
                    rule: r.get(2)?,
                    severity: r.get(3)?,
                    verdict: r.get(4)?,
                    internal_host: r.get(5)?,
                    vendor: r.get(6)?,
                    product: r.get(7)?,
                    landing_country: r.get(8)?,
                    reason: r.get(9)?,
                    count: to_u64(r.get(10)?),
                    summary: r.get(11)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Every (internal host, vendor) pair recorded: who has already talked to whom.
    ///
    /// # Errors
    /// SQLite errors.
    fn host_vendor_pairs(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT internal_host, vendor FROM ai_flows")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// A `meta` value.
    ///
    /// # Errors
    /// SQLite errors.
    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    /// Sets a `meta` value.
    ///
    /// # Errors
    /// SQLite errors.
    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// `PRAGMA integrity_check`: `ok`, or what is wrong.
    ///
    /// # Errors
    /// SQLite errors.
    fn integrity_check(&self) -> Result<String, StoreError> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(self.err())
    }
}
