//! The embedded inventory backend: SQLite through rusqlite, WAL mode, schema versioned
//! by `PRAGMA user_version` with forward migrations. Writes are upserts inside one
//! transaction per batch, so a crash loses at most the batch in memory and never leaves
//! a half-written one.

use std::path::Path;

use rusqlite::types::ToSqlOutput;
use rusqlite::{Connection, OptionalExtension, ToSql, Transaction, params, params_from_iter};

use super::backend::{
    AlertRow, Applied, Backend, Batch, DailyRow, Filter, FingerprintRow, FlowRow, StoreError,
    UnknownHostRow, UnknownRow, batch_ids_expire_before,
};
use super::schema::{Columns, Dialect, Parameter, Stored, Value, filter_parameters};

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
    // Version 5: destinations no signature matches, and the hosts that sent to them.
    "CREATE TABLE unknown_destinations (
         sensor TEXT NOT NULL,
         domain TEXT NOT NULL,
         example TEXT NOT NULL,
         bytes_sent INTEGER NOT NULL,
         bytes_error INTEGER NOT NULL,
         bytes_received INTEGER NOT NULL,
         flows INTEGER NOT NULL,
         first_seen INTEGER NOT NULL,
         last_seen INTEGER NOT NULL,
         hints INTEGER NOT NULL,
         hosts_capped INTEGER NOT NULL,
         PRIMARY KEY (sensor, domain)
     );
     CREATE TABLE unknown_destination_hosts (
         sensor TEXT NOT NULL,
         domain TEXT NOT NULL,
         internal_host TEXT NOT NULL,
         first_seen INTEGER NOT NULL,
         last_seen INTEGER NOT NULL,
         PRIMARY KEY (sensor, domain, internal_host)
     );",
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

impl SqliteStore {
    /// The rows of `R`'s table a filter selects, in the table's order.
    fn select<R: Stored>(&self, f: &Filter) -> Result<Vec<R>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&Dialect::Sqlite.select(R::TABLE))
            .map_err(self.err())?;
        let parameters = filter_parameters(R::TABLE, f);
        let rows = stmt
            .query_map(params_from_iter(parameters.iter().map(parameter)), |row| {
                R::read(&mut RowColumns { row, next: 0 })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }
}

/// Writes rows of one table, each merged into the row with its key.
fn write_rows<R: Stored>(tx: &Transaction<'_>, rows: &[R]) -> rusqlite::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(&Dialect::Sqlite.write(R::TABLE))?;
    for r in rows {
        stmt.execute(params_from_iter(r.values()))?;
    }
    Ok(())
}

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Value::Text(s) => ToSqlOutput::from(s),
            Value::Integer(n) => ToSqlOutput::from(n),
            Value::Boolean(b) => ToSqlOutput::from(b),
        })
    }
}

fn parameter(p: &Parameter) -> &dyn ToSql {
    match p {
        Parameter::Text(t) => t,
        Parameter::Integer(n) => n,
    }
}

/// A result row, read column after column.
struct RowColumns<'a, 'b> {
    row: &'a rusqlite::Row<'b>,
    next: usize,
}

impl RowColumns<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&mut self) -> rusqlite::Result<T> {
        let value = self.row.get(self.next);
        self.next = self.next.saturating_add(1);
        value
    }
}

impl Columns for RowColumns<'_, '_> {
    type Error = rusqlite::Error;

    fn text(&mut self) -> rusqlite::Result<String> {
        self.get()
    }

    fn integer(&mut self) -> rusqlite::Result<i64> {
        self.get()
    }

    fn boolean(&mut self) -> rusqlite::Result<bool> {
        self.get()
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
            write_rows(&tx, &batch.flows).map_err(err)?;
            write_rows(&tx, &batch.fingerprints).map_err(err)?;
            write_rows(&tx, &batch.daily).map_err(err)?;
            write_rows(&tx, &batch.alerts).map_err(err)?;
            write_rows(&tx, &batch.unknown).map_err(err)?;
            write_rows(&tx, &batch.unknown_hosts).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(Applied::Written)
    }

    fn flows(&self, f: &Filter) -> Result<Vec<FlowRow>, StoreError> {
        self.select(f)
    }

    fn fingerprints(&self, f: &Filter) -> Result<Vec<FingerprintRow>, StoreError> {
        self.select(f)
    }

    fn daily(&self, f: &Filter) -> Result<Vec<DailyRow>, StoreError> {
        self.select(f)
    }

    fn alerts(&self, f: &Filter) -> Result<Vec<AlertRow>, StoreError> {
        self.select(f)
    }

    fn unknown(&self, f: &Filter) -> Result<Vec<UnknownRow>, StoreError> {
        self.select(f)
    }

    fn unknown_hosts(&self, f: &Filter) -> Result<Vec<UnknownHostRow>, StoreError> {
        self.select(f)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::schema::{Kind, TABLES};

    #[test]
    fn the_migrations_end_at_the_described_tables() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("inv.db")).unwrap();
        for table in TABLES {
            let mut stmt = store
                .conn
                .prepare(&format!("PRAGMA table_info({})", table.name))
                .unwrap();
            let migrated: Vec<(String, String)> = stmt
                .query_map([], |r| Ok((r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .filter(|(name, _)| name != "id")
                .collect();
            let described: Vec<(String, String)> = table
                .columns
                .iter()
                .map(|c| {
                    let ty = match c.kind {
                        Kind::Text => "TEXT",
                        Kind::Integer | Kind::Boolean => "INTEGER",
                    };
                    (c.name.to_owned(), ty.to_owned())
                })
                .collect();
            assert_eq!(migrated, described, "{}", table.name);
        }
    }
}
