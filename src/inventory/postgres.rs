//! The fleet inventory backend: PostgreSQL, written by several sensors at once and read by
//! auditors with SQL or any BI tool. The same model as the SQLite store; the sensor is
//! part of every key, so sensors never contend for a row. Schema versions live in
//! `aigress_schema`; migrations run under an advisory lock so sensors starting together
//! migrate once. TLS goes through rustls (Mozilla's roots, or a CA file), and the password
//! never travels in the URL.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use postgres::{Client, NoTls, Row};

use super::store::{
    AlertRow, Applied, Backend, Batch, DailyRow, Filter, FingerprintRow, FlowRow, PostgresTarget,
    StoreError, batch_ids_expire_before, to_i64, to_u64,
};

/// Each migration takes the schema from its index to the next version.
pub const MIGRATIONS: &[&str] = &[
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
         eea BOOLEAN NOT NULL,
         verdict TEXT NOT NULL,
         first_seen BIGINT NOT NULL,
         last_seen BIGINT NOT NULL,
         flows BIGINT NOT NULL,
         packets BIGINT NOT NULL,
         bytes_sent BIGINT NOT NULL,
         bytes_received BIGINT NOT NULL,
         landing_confidence TEXT NOT NULL DEFAULT '',
         PRIMARY KEY (sensor, internal_host, vendor, product, endpoint, landing_country, verdict)
     );
     CREATE TABLE alerts (
         id BIGSERIAL PRIMARY KEY,
         sensor TEXT NOT NULL,
         timestamp BIGINT NOT NULL,
         rule TEXT NOT NULL,
         severity TEXT NOT NULL,
         verdict TEXT NOT NULL,
         internal_host TEXT NOT NULL,
         vendor TEXT NOT NULL,
         product TEXT NOT NULL,
         landing_country TEXT NOT NULL,
         reason TEXT NOT NULL,
         count BIGINT NOT NULL,
         summary BOOLEAN NOT NULL
     );
     CREATE INDEX alerts_by_host ON alerts (internal_host, vendor, product);
     CREATE TABLE fingerprints (
         sensor TEXT NOT NULL,
         internal_host TEXT NOT NULL,
         vendor TEXT NOT NULL,
         product TEXT NOT NULL,
         kind TEXT NOT NULL,
         value TEXT NOT NULL,
         first_seen BIGINT NOT NULL,
         last_seen BIGINT NOT NULL,
         seen BIGINT NOT NULL,
         PRIMARY KEY (sensor, internal_host, vendor, product, kind, value)
     );
     CREATE TABLE daily (
         sensor TEXT NOT NULL,
         day TEXT NOT NULL,
         vendor TEXT NOT NULL,
         landing_country TEXT NOT NULL,
         flows BIGINT NOT NULL,
         bytes_sent BIGINT NOT NULL,
         bytes_received BIGINT NOT NULL,
         PRIMARY KEY (sensor, day, vendor, landing_country)
     );
     CREATE TABLE batches (id TEXT PRIMARY KEY, written BIGINT NOT NULL);
     CREATE INDEX batches_by_time ON batches (written);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// The advisory lock migrations hold ("aigr").
const MIGRATION_LOCK: i64 = 0x6169_6772;

/// How long connecting may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open PostgreSQL inventory.
pub struct PostgresStore {
    client: Mutex<Client>,
    /// How to connect again after the server went away.
    connection: PostgresTarget,
    target: String,
}

/// The error's message with the server's own words (which `postgres::Error` keeps in
/// its source) and no password, which is never in the URL.
fn message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

/// The rustls configuration: Mozilla's roots, or only the CA in `ca_file`.
fn tls_config(target: &PostgresTarget) -> Result<rustls::ClientConfig, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match &target.ca_file {
        Some(path) => {
            for cert in crate::pem::certificates(path).map_err(StoreError::Config)? {
                roots.add(cert).map_err(|e| {
                    StoreError::Config(format!("{}: not a CA certificate: {e}", path.display()))
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Opens a connection to `target`.
fn open(target: &PostgresTarget) -> Result<Client, StoreError> {
    let mut config: postgres::Config = target
        .url
        .parse()
        .map_err(|e| StoreError::Config(format!("not a PostgreSQL URL: {e}")))?;
    if let Some(password) = &target.password {
        config.password(password);
    }
    config.connect_timeout(CONNECT_TIMEOUT);
    if config.get_application_name().is_none() {
        config.application_name("aigress");
    }
    if config.get_ssl_mode() == postgres::config::SslMode::Disable {
        config.connect(NoTls)
    } else {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(target)?);
        config.connect(tls)
    }
    .map_err(|e| {
        let mut message = message(&e);
        if target.password.is_none() && message.contains("password missing") {
            message.push_str(" (give it in --db-password-file or PGPASSWORD)");
        }
        StoreError::Postgres {
            target: target.url.clone(),
            message,
        }
    })
}

impl PostgresStore {
    /// Connects, and creates or migrates the schema.
    ///
    /// # Errors
    /// Unreachable server, refused credentials or TLS, a newer schema.
    pub fn connect(target: &PostgresTarget) -> Result<Self, StoreError> {
        let store = Self {
            client: Mutex::new(open(target)?),
            connection: target.clone(),
            target: target.url.clone(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn fail(&self, e: &postgres::Error) -> StoreError {
        StoreError::Postgres {
            target: self.target.clone(),
            message: message(e),
        }
    }

    /// The connection, opened again when the server closed it (a restart, a failover):
    /// the caller's retry then finds a live one.
    fn client(&self) -> Result<std::sync::MutexGuard<'_, Client>, StoreError> {
        let mut client = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        if client.is_closed() {
            *client = open(&self.connection)?;
        }
        Ok(client)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(|e| self.fail(&e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(|e| self.fail(&e))?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS aigress_schema (version INTEGER NOT NULL)")
            .map_err(|e| self.fail(&e))?;
        let found: Option<i32> = tx
            .query_opt("SELECT version FROM aigress_schema", &[])
            .map_err(|e| self.fail(&e))?
            .map(|r| r.get(0));
        let version = found.map_or(0, |v| usize::try_from(v).unwrap_or(0));
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                target: self.target.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        for sql in MIGRATIONS.iter().skip(version) {
            tx.batch_execute(sql).map_err(|e| self.fail(&e))?;
        }
        let now = i32::try_from(SCHEMA_VERSION).unwrap_or(i32::MAX);
        if found.is_none() {
            tx.execute("INSERT INTO aigress_schema VALUES ($1)", &[&now])
        } else {
            tx.execute("UPDATE aigress_schema SET version = $1", &[&now])
        }
        .map_err(|e| self.fail(&e))?;
        tx.commit().map_err(|e| self.fail(&e))
    }

    fn query(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        self.client()?.query(sql, params).map_err(|e| self.fail(&e))
    }
}

fn write_rows(tx: &mut postgres::Transaction<'_>, batch: &Batch) -> Result<(), postgres::Error> {
    let flows = tx.prepare(
        "INSERT INTO ai_flows VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)
         ON CONFLICT (sensor, internal_host, vendor, product, endpoint, landing_country, verdict)
         DO UPDATE SET first_seen = LEAST(ai_flows.first_seen, EXCLUDED.first_seen),
                       last_seen = GREATEST(ai_flows.last_seen, EXCLUDED.last_seen),
                       flows = ai_flows.flows + EXCLUDED.flows,
                       packets = ai_flows.packets + EXCLUDED.packets,
                       bytes_sent = ai_flows.bytes_sent + EXCLUDED.bytes_sent,
                       bytes_received = ai_flows.bytes_received + EXCLUDED.bytes_received,
                       host_label = EXCLUDED.host_label,
                       landing_confidence = CASE WHEN EXCLUDED.landing_confidence = ''
                           THEN ai_flows.landing_confidence ELSE EXCLUDED.landing_confidence END",
    )?;
    for r in &batch.flows {
        tx.execute(
            &flows,
            &[
                &r.sensor,
                &r.internal_host,
                &r.host_label,
                &r.vendor,
                &r.product,
                &r.kind,
                &r.endpoint,
                &r.landing_country,
                &r.eea,
                &r.verdict,
                &r.first_seen,
                &r.last_seen,
                &to_i64(r.flows),
                &to_i64(r.packets),
                &to_i64(r.bytes_sent),
                &to_i64(r.bytes_received),
                &r.landing_confidence,
            ],
        )?;
    }
    let prints = tx.prepare(
        "INSERT INTO fingerprints VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
         ON CONFLICT (sensor, internal_host, vendor, product, kind, value)
         DO UPDATE SET first_seen = LEAST(fingerprints.first_seen, EXCLUDED.first_seen),
                       last_seen = GREATEST(fingerprints.last_seen, EXCLUDED.last_seen),
                       seen = fingerprints.seen + EXCLUDED.seen",
    )?;
    for r in &batch.fingerprints {
        tx.execute(
            &prints,
            &[
                &r.sensor,
                &r.internal_host,
                &r.vendor,
                &r.product,
                &r.kind,
                &r.value,
                &r.first_seen,
                &r.last_seen,
                &to_i64(r.seen),
            ],
        )?;
    }
    let daily = tx.prepare(
        "INSERT INTO daily VALUES ($1,$2,$3,$4,$5,$6,$7)
         ON CONFLICT (sensor, day, vendor, landing_country)
         DO UPDATE SET flows = daily.flows + EXCLUDED.flows,
                       bytes_sent = daily.bytes_sent + EXCLUDED.bytes_sent,
                       bytes_received = daily.bytes_received + EXCLUDED.bytes_received",
    )?;
    for r in &batch.daily {
        tx.execute(
            &daily,
            &[
                &r.sensor,
                &r.day,
                &r.vendor,
                &r.landing_country,
                &to_i64(r.flows),
                &to_i64(r.bytes_sent),
                &to_i64(r.bytes_received),
            ],
        )?;
    }
    let alerts = tx.prepare(
        "INSERT INTO alerts (sensor, timestamp, rule, severity, verdict, internal_host,
             vendor, product, landing_country, reason, count, summary)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
    )?;
    for r in &batch.alerts {
        tx.execute(
            &alerts,
            &[
                &r.sensor,
                &r.timestamp,
                &r.rule,
                &r.severity,
                &r.verdict,
                &r.internal_host,
                &r.vendor,
                &r.product,
                &r.landing_country,
                &r.reason,
                &to_i64(r.count),
                &r.summary,
            ],
        )?;
    }
    Ok(())
}

impl Backend for PostgresStore {
    fn target(&self) -> &str {
        &self.target
    }

    fn schema_version(&self) -> Result<usize, StoreError> {
        let rows = self.query("SELECT version FROM aigress_schema", &[])?;
        Ok(rows
            .first()
            .map_or(0, |r| usize::try_from(r.get::<_, i32>(0)).unwrap_or(0)))
    }

    fn write(&mut self, batch: &Batch) -> Result<Applied, StoreError> {
        let mut client = self.client()?;
        let result = (|| {
            let mut tx = client.transaction()?;
            let now = crate::time::Timestamp::now().micros();
            let fresh = tx.execute(
                "INSERT INTO batches VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                &[&batch.id, &now],
            )?;
            if fresh == 0 {
                return Ok(Applied::AlreadyWritten);
            }
            tx.execute(
                "DELETE FROM batches WHERE written < $1",
                &[&batch_ids_expire_before()],
            )?;
            write_rows(&mut tx, batch)?;
            tx.commit()?;
            Ok(Applied::Written)
        })();
        drop(client);
        result.map_err(|e| self.fail(&e))
    }

    fn flows(&self, f: &Filter) -> Result<Vec<FlowRow>, StoreError> {
        let rows = self.query(
            "SELECT sensor, internal_host, host_label, vendor, product, kind, endpoint,
                    landing_country, eea, verdict, first_seen, last_seen, flows, packets,
                    bytes_sent, bytes_received, landing_confidence
             FROM ai_flows
             WHERE ($1::BIGINT IS NULL OR last_seen >= $1) AND ($2::BIGINT IS NULL OR first_seen <= $2)
               AND ($3::TEXT IS NULL OR vendor = $3) AND ($4::TEXT IS NULL OR sensor = $4)
             ORDER BY bytes_sent DESC, vendor, internal_host, endpoint",
            &[&f.since, &f.until, &f.vendor, &f.sensor],
        )?;
        Ok(rows
            .iter()
            .map(|r| FlowRow {
                sensor: r.get(0),
                internal_host: r.get(1),
                host_label: r.get(2),
                vendor: r.get(3),
                product: r.get(4),
                kind: r.get(5),
                endpoint: r.get(6),
                landing_country: r.get(7),
                eea: r.get(8),
                verdict: r.get(9),
                first_seen: r.get(10),
                last_seen: r.get(11),
                flows: to_u64(r.get(12)),
                packets: to_u64(r.get(13)),
                bytes_sent: to_u64(r.get(14)),
                bytes_received: to_u64(r.get(15)),
                landing_confidence: r.get(16),
            })
            .collect())
    }

    fn fingerprints(&self, f: &Filter) -> Result<Vec<FingerprintRow>, StoreError> {
        let rows = self.query(
            "SELECT sensor, internal_host, vendor, product, kind, value, first_seen, last_seen, seen
             FROM fingerprints
             WHERE ($1::BIGINT IS NULL OR last_seen >= $1) AND ($2::BIGINT IS NULL OR first_seen <= $2)
               AND ($3::TEXT IS NULL OR vendor = $3) AND ($4::TEXT IS NULL OR sensor = $4)
             ORDER BY vendor, internal_host, kind, value",
            &[&f.since, &f.until, &f.vendor, &f.sensor],
        )?;
        Ok(rows
            .iter()
            .map(|r| FingerprintRow {
                sensor: r.get(0),
                internal_host: r.get(1),
                vendor: r.get(2),
                product: r.get(3),
                kind: r.get(4),
                value: r.get(5),
                first_seen: r.get(6),
                last_seen: r.get(7),
                seen: to_u64(r.get(8)),
            })
            .collect())
    }

    fn daily(&self, f: &Filter) -> Result<Vec<DailyRow>, StoreError> {
        let day = |t: Option<i64>| t.map(|t| crate::time::Timestamp::from_micros(t).date());
        let rows = self.query(
            "SELECT sensor, day, vendor, landing_country, flows, bytes_sent, bytes_received
             FROM daily
             WHERE ($1::TEXT IS NULL OR day >= $1) AND ($2::TEXT IS NULL OR day <= $2)
               AND ($3::TEXT IS NULL OR vendor = $3) AND ($4::TEXT IS NULL OR sensor = $4)
             ORDER BY day, vendor, landing_country, sensor",
            &[&day(f.since), &day(f.until), &f.vendor, &f.sensor],
        )?;
        Ok(rows
            .iter()
            .map(|r| DailyRow {
                sensor: r.get(0),
                day: r.get(1),
                vendor: r.get(2),
                landing_country: r.get(3),
                flows: to_u64(r.get(4)),
                bytes_sent: to_u64(r.get(5)),
                bytes_received: to_u64(r.get(6)),
            })
            .collect())
    }

    fn alerts(&self, f: &Filter) -> Result<Vec<AlertRow>, StoreError> {
        let rows = self.query(
            "SELECT sensor, timestamp, rule, severity, verdict, internal_host, vendor, product,
                    landing_country, reason, count, summary
             FROM alerts
             WHERE ($1::BIGINT IS NULL OR timestamp >= $1) AND ($2::BIGINT IS NULL OR timestamp <= $2)
               AND ($3::TEXT IS NULL OR vendor = $3) AND ($4::TEXT IS NULL OR sensor = $4)
             ORDER BY timestamp, id",
            &[&f.since, &f.until, &f.vendor, &f.sensor],
        )?;
        Ok(rows
            .iter()
            .map(|r| AlertRow {
                sensor: r.get(0),
                timestamp: r.get(1),
                rule: r.get(2),
                severity: r.get(3),
                verdict: r.get(4),
                internal_host: r.get(5),
                vendor: r.get(6),
                product: r.get(7),
                landing_country: r.get(8),
                reason: r.get(9),
                count: to_u64(r.get(10)),
                summary: r.get(11),
            })
            .collect())
    }

    fn host_vendor_pairs(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self.query("SELECT DISTINCT internal_host, vendor FROM ai_flows", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let rows = self.query("SELECT value FROM meta WHERE key = $1", &[&key])?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.client()?
            .execute(
                "INSERT INTO meta VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&key, &value],
            )
            .map(drop)
            .map_err(|e| self.fail(&e))
    }

    /// PostgreSQL keeps its own files consistent; what can go wrong above it is a
    /// counter that no write of aigress makes, which this looks for.
    fn integrity_check(&self) -> Result<String, StoreError> {
        let rows = self.query(
            "SELECT (SELECT count(*) FROM ai_flows WHERE flows <= 0 OR bytes_sent < 0
                         OR bytes_received < 0 OR first_seen > last_seen)
                  + (SELECT count(*) FROM daily WHERE flows <= 0 OR bytes_sent < 0)",
            &[],
        )?;
        let bad: i64 = rows.first().map_or(0, |r| r.get(0));
        Ok(if bad == 0 {
            "ok".into()
        } else {
            format!("{bad} rows with impossible counters")
        })
    }
}
