//! The inventory store: one interface over its two backends — an embedded SQLite file
//! ([`super::sqlite`]) for a single sensor, and PostgreSQL ([`super::postgres`]) for a
//! fleet of sensors writing to one place — and the factory that opens the one a
//! [`Location`] names. The rows, the errors and the backend trait are in
//! [`super::backend`], below both backends.
//!
//! Rows are aggregates — per (sensor, internal host, vendor, product, endpoint name,
//! landing country, verdict) — plus the client fingerprints seen, daily totals for charts,
//! and the alert log. A batch is written in one transaction under its id, which the store
//! records with it: a batch retried after a lost reply is applied once. Every batch's text
//! is put in its stored form first ([`super::stored`]), so both backends keep the same rows
//! whatever the wire said.

use std::path::Path;

pub use super::backend::{
    AlertRow, Applied, BATCH_ID_DAYS, Backend, Batch, DailyRow, Filter, FingerprintRow, FlowRow,
    Location, PostgresTarget, StoreError, UnknownHostRow, UnknownRow, batch_id,
    batch_ids_expire_before, to_i64, to_u64,
};
pub use super::sqlite::{MIGRATIONS, SCHEMA_VERSION};
use super::stored::{self, Origin};

/// An open inventory.
pub struct Store {
    backend: Box<dyn Backend>,
}

impl Store {
    /// Opens (creating if needed) and migrates the SQLite inventory at `path`.
    ///
    /// # Errors
    /// SQLite errors, or a schema newer than this build knows.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            backend: Box::new(super::sqlite::SqliteStore::open(path)?),
        })
    }

    /// Opens (creating and migrating as needed) the inventory at `location`.
    ///
    /// # Errors
    /// The backend's errors: unreachable server, refused credentials, a newer schema.
    pub fn connect(location: &Location) -> Result<Self, StoreError> {
        match location {
            Location::File(path) => Self::open(path),
            Location::Postgres(target) => Ok(Self {
                backend: Box::new(super::postgres::PostgresStore::connect(target)?),
            }),
        }
    }

    /// A store over any backend (tests use one that fails on purpose).
    pub fn with_backend(backend: Box<dyn Backend>) -> Self {
        Self { backend }
    }

    /// The database, as it may be shown (no password).
    pub fn target(&self) -> &str {
        self.backend.target()
    }

    /// The schema version of the open database.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        self.backend.schema_version()
    }

    /// Adds a batch in one transaction (once per batch id), its text in stored form.
    ///
    /// # Errors
    /// The backend's errors; nothing of the batch is written then.
    pub fn write(&mut self, batch: &Batch) -> Result<Applied, StoreError> {
        self.backend.write(&stored::batch(batch, Origin::Wire))
    }

    /// Adds a batch read from another store: its text is stored text already.
    fn write_copy(&mut self, batch: &Batch) -> Result<Applied, StoreError> {
        self.backend.write(&stored::batch(batch, Origin::Store))
    }

    /// The aggregated rows a filter selects, largest upload first.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn flows(&self, f: &Filter) -> Result<Vec<FlowRow>, StoreError> {
        self.backend.flows(&stored::filter(f))
    }

    /// Fingerprints of the selected vendor(s).
    ///
    /// # Errors
    /// The backend's errors.
    pub fn fingerprints(&self, f: &Filter) -> Result<Vec<FingerprintRow>, StoreError> {
        self.backend.fingerprints(&stored::filter(f))
    }

    /// Daily totals within the filter's days.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn daily(&self, f: &Filter) -> Result<Vec<DailyRow>, StoreError> {
        self.backend.daily(&stored::filter(f))
    }

    /// The alert log within the filter, oldest first.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn alerts(&self, f: &Filter) -> Result<Vec<AlertRow>, StoreError> {
        self.backend.alerts(&stored::filter(f))
    }

    /// Unknown destinations within the filter, largest upload first.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn unknown(&self, f: &Filter) -> Result<Vec<UnknownRow>, StoreError> {
        self.backend.unknown(&stored::filter(f))
    }

    /// The internal hosts that sent to unknown destinations.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn unknown_hosts(&self, f: &Filter) -> Result<Vec<UnknownHostRow>, StoreError> {
        self.backend.unknown_hosts(&stored::filter(f))
    }

    /// Every (internal host, vendor) pair recorded: who has already talked to whom.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn host_vendor_pairs(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.backend.host_vendor_pairs()
    }

    /// A `meta` value.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.backend.meta(key)
    }

    /// Sets a `meta` value.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let value = stored::text(value, stored::MAX_TEXT_BYTES, Origin::Wire);
        self.backend.set_meta(key, &value)
    }

    /// `ok`, or what is wrong.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.backend.integrity_check()
    }

    /// Everything in `other` (another sensor's store) as one batch with `id`.
    ///
    /// # Errors
    /// `other`'s errors.
    pub fn export(&self, id: String) -> Result<Batch, StoreError> {
        let all = Filter::default();
        Ok(Batch {
            id,
            flows: self.flows(&all)?,
            fingerprints: self.fingerprints(&all)?,
            daily: self.daily(&all)?,
            alerts: self.alerts(&all)?,
            unknown: self.unknown(&all)?,
            unknown_hosts: self.unknown_hosts(&all)?,
        })
    }

    /// Adds everything in `other` (another sensor's store) to this one: aggregates are
    /// summed per key (the sensor is part of every key, so sensors stay apart), alerts
    /// appended.
    ///
    /// # Errors
    /// The stores' errors; nothing of `other` is added then.
    pub fn merge_from(&mut self, other: &Store) -> Result<(), StoreError> {
        let batch = other.export(batch_id("merge"))?;
        self.write_copy(&batch).map(drop)
    }

    /// Copies everything in `other` into this store once: a second run with the same
    /// source adds nothing (`Applied::AlreadyWritten`).
    ///
    /// # Errors
    /// The stores' errors; nothing of `other` is added then.
    pub fn migrate_from(&mut self, other: &Store) -> Result<Applied, StoreError> {
        let id = match other.meta("store_id")? {
            Some(id) => id,
            None => {
                let id = batch_id("store");
                other.set_meta("store_id", &id)?;
                id
            }
        };
        let batch = other.export(format!("migrate:{id}"))?;
        self.write_copy(&batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_applied_once_whatever_the_retries() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("inv.db")).unwrap();
        let batch = Batch {
            id: batch_id("s1"),
            flows: vec![FlowRow {
                sensor: "s1".into(),
                internal_host: "10.0.0.1".into(),
                vendor: "openai".into(),
                flows: 3,
                bytes_sent: 100,
                ..FlowRow::default()
            }],
            ..Batch::default()
        };
        assert_eq!(store.write(&batch).unwrap(), Applied::Written);
        assert_eq!(store.write(&batch).unwrap(), Applied::AlreadyWritten);
        let again = Batch {
            id: batch_id("s1"),
            ..batch
        };
        assert_eq!(store.write(&again).unwrap(), Applied::Written);
        let rows = store.flows(&Filter::default()).unwrap();
        assert_eq!((rows[0].flows, rows[0].bytes_sent), (6, 200));
    }

    #[test]
    fn passwords_stay_out_of_urls() {
        assert!(matches!(
            Location::parse("inventory.db").unwrap(),
            Location::File(_)
        ));
        let url = "postgresql://aigress@db.example:5432/inv?sslmode=require";
        assert_eq!(Location::parse(url).unwrap().to_string(), url);
        let e = Location::parse("postgres://aigress:secret@db/inv").unwrap_err();
        assert!(e.to_string().contains("carries a password"));
        assert!(!e.to_string().contains("secret"));
    }
}
