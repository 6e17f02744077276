//! One description of the inventory's tables, for every backend: their columns, the key a
//! row is merged on, how each column merges when a sensor writes a row that exists, how a
//! report selects and orders rows, and how each row type maps to its columns. A backend
//! keeps only its dialect ([`Dialect`]: placeholders, merge functions, casts) and its
//! migrations, which are its history; `tests/inventory.rs` and the PostgreSQL test check
//! that the migrations end at the tables described here.

use super::backend::{
    AlertRow, DailyRow, Filter, FingerprintRow, FlowRow, UnknownHostRow, UnknownRow, to_i64, to_u64,
};

/// How a column takes a newly written row's value when the row exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Part of the key the row is merged on.
    Key,
    /// The value first written stays.
    Kept,
    /// The smaller of the two (a first-seen time).
    Min,
    /// The larger of the two (a last-seen time).
    Max,
    /// The sum (a counter).
    Sum,
    /// The new value.
    Latest,
    /// The new value, unless it is empty.
    LatestUnlessEmpty,
    /// The bits of both (a set of flags).
    BitOr,
    /// Either is true.
    Or,
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Boolean,
}

/// One column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub merge: Merge,
}

const fn column(name: &'static str, kind: Kind, merge: Merge) -> Column {
    Column { name, kind, merge }
}

/// How a report's time range selects rows of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The column that must be at or after the range's start.
    pub from: &'static str,
    /// The column that must be at or before its end.
    pub to: &'static str,
    /// What the bounds are: microseconds ([`Kind::Integer`]) or days (`YYYY-MM-DD`,
    /// [`Kind::Text`]).
    pub kind: Kind,
}

/// One table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    /// The columns a row is written to and read from, in order. An alert's `id` is the
    /// database's own and not among them.
    pub columns: &'static [Column],
    pub range: Range,
    /// The order reports read rows in.
    pub order_by: &'static str,
}

impl Table {
    fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|c| c.name)
    }

    fn key(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns
            .iter()
            .filter(|c| c.merge == Merge::Key)
            .map(|c| c.name)
    }
}

use Kind::{Boolean, Integer, Text};
use Merge::{BitOr, Kept, Key, Latest, LatestUnlessEmpty, Max, Min, Or, Sum};

/// Aggregated AI flows, one row per sensor, internal host, endpoint, landing and verdict.
pub const AI_FLOWS: Table = Table {
    name: "ai_flows",
    columns: &[
        column("sensor", Text, Key),
        column("internal_host", Text, Key),
        column("host_label", Text, Latest),
        column("vendor", Text, Key),
        column("product", Text, Key),
        column("kind", Text, Kept),
        column("endpoint", Text, Key),
        column("landing_country", Text, Key),
        column("eea", Boolean, Kept),
        column("verdict", Text, Key),
        column("first_seen", Integer, Min),
        column("last_seen", Integer, Max),
        column("flows", Integer, Sum),
        column("packets", Integer, Sum),
        column("bytes_sent", Integer, Sum),
        column("bytes_received", Integer, Sum),
        column("landing_confidence", Text, LatestUnlessEmpty),
    ],
    range: Range {
        from: "last_seen",
        to: "first_seen",
        kind: Integer,
    },
    order_by: "bytes_sent DESC, vendor, internal_host, endpoint",
};

/// Client fingerprints per internal host and AI product.
pub const FINGERPRINTS: Table = Table {
    name: "fingerprints",
    columns: &[
        column("sensor", Text, Key),
        column("internal_host", Text, Key),
        column("vendor", Text, Key),
        column("product", Text, Key),
        column("kind", Text, Key),
        column("value", Text, Key),
        column("first_seen", Integer, Min),
        column("last_seen", Integer, Max),
        column("seen", Integer, Sum),
    ],
    range: Range {
        from: "last_seen",
        to: "first_seen",
        kind: Integer,
    },
    order_by: "vendor, internal_host, kind, value",
};

/// Daily totals per vendor and landing country.
pub const DAILY: Table = Table {
    name: "daily",
    columns: &[
        column("sensor", Text, Key),
        column("day", Text, Key),
        column("vendor", Text, Key),
        column("landing_country", Text, Key),
        column("flows", Integer, Sum),
        column("bytes_sent", Integer, Sum),
        column("bytes_received", Integer, Sum),
    ],
    range: Range {
        from: "day",
        to: "day",
        kind: Text,
    },
    order_by: "day, vendor, landing_country, sensor",
};

/// The alert log: every row is new, none merges.
pub const ALERTS: Table = Table {
    name: "alerts",
    columns: &[
        column("sensor", Text, Kept),
        column("timestamp", Integer, Kept),
        column("rule", Text, Kept),
        column("severity", Text, Kept),
        column("verdict", Text, Kept),
        column("internal_host", Text, Kept),
        column("vendor", Text, Kept),
        column("product", Text, Kept),
        column("landing_country", Text, Kept),
        column("reason", Text, Kept),
        column("count", Integer, Kept),
        column("summary", Boolean, Kept),
    ],
    range: Range {
        from: "timestamp",
        to: "timestamp",
        kind: Integer,
    },
    order_by: "timestamp, id",
};

/// Registered domains no signature matches, per sensor, as its sketch counted them.
pub const UNKNOWN: Table = Table {
    name: "unknown_destinations",
    columns: &[
        column("sensor", Text, Key),
        column("domain", Text, Key),
        column("example", Text, LatestUnlessEmpty),
        column("bytes_sent", Integer, Sum),
        column("bytes_error", Integer, Sum),
        column("bytes_received", Integer, Sum),
        column("flows", Integer, Sum),
        column("first_seen", Integer, Min),
        column("last_seen", Integer, Max),
        column("hints", Integer, BitOr),
        column("hosts_capped", Boolean, Or),
    ],
    range: Range {
        from: "last_seen",
        to: "first_seen",
        kind: Integer,
    },
    order_by: "bytes_sent DESC, domain, sensor",
};

/// The internal hosts that sent to each unknown destination.
pub const UNKNOWN_HOSTS: Table = Table {
    name: "unknown_destination_hosts",
    columns: &[
        column("sensor", Text, Key),
        column("domain", Text, Key),
        column("internal_host", Text, Key),
        column("first_seen", Integer, Min),
        column("last_seen", Integer, Max),
    ],
    range: Range {
        from: "last_seen",
        to: "first_seen",
        kind: Integer,
    },
    order_by: "domain, internal_host, sensor",
};

/// Every table a report reads, for the checks that the migrations end at them.
pub const TABLES: [&Table; 6] = [
    &AI_FLOWS,
    &FINGERPRINTS,
    &DAILY,
    &ALERTS,
    &UNKNOWN,
    &UNKNOWN_HOSTS,
];

/// A value written to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Text(&'a str),
    Integer(i64),
    Boolean(bool),
}

/// Reads a row's columns in order; each backend reads its own rows through it.
pub trait Columns {
    type Error;
    fn text(&mut self) -> Result<String, Self::Error>;
    fn integer(&mut self) -> Result<i64, Self::Error>;
    fn boolean(&mut self) -> Result<bool, Self::Error>;

    /// A counter, stored signed.
    fn count(&mut self) -> Result<u64, Self::Error> {
        self.integer().map(to_u64)
    }
}

/// A row type and its table: how it is written as values and read back, column by column
/// in [`Table::columns`]' order.
pub trait Stored: Sized {
    const TABLE: &'static Table;

    fn values(&self) -> Vec<Value<'_>>;

    /// # Errors
    /// The backend's, when a column's value is not of its type.
    fn read<C: Columns>(c: &mut C) -> Result<Self, C::Error>;
}

impl Stored for FlowRow {
    const TABLE: &'static Table = &AI_FLOWS;

    fn values(&self) -> Vec<Value<'_>> {
        vec![
            Value::Text(&self.sensor),
            Value::Text(&self.internal_host),
            Value::Text(&self.host_label),
            Value::Text(&self.vendor),
            Value::Text(&self.product),
            Value::Text(&self.kind),
            Value::Text(&self.endpoint),
            Value::Text(&self.landing_country),
            Value::Boolean(self.eea),
            Value::Text(&self.verdict),
            Value::Integer(self.first_seen),
            Value::Integer(self.last_seen),
            Value::Integer(to_i64(self.flows)),
            Value::Integer(to_i64(self.packets)),
            Value::Integer(to_i64(self.bytes_sent)),
            Value::Integer(to_i64(self.bytes_received)),
            Value::Text(&self.landing_confidence),
        ]
    }

    fn read<C: Columns>(c: &mut C) -> Result<Self, C::Error> {
        Ok(Self {
            sensor: c.text()?,
            internal_host: c.text()?,
            host_label: c.text()?,
            vendor: c.text()?,
            product: c.text()?,
            kind: c.text()?,
            endpoint: c.text()?,
            landing_country: c.text()?,
            eea: c.boolean()?,
            verdict: c.text()?,
            first_seen: c.integer()?,
            last_seen: c.integer()?,
            flows: c.count()?,
            packets: c.count()?,
            bytes_sent: c.count()?,
            bytes_received: c.count()?,
            landing_confidence: c.text()?,
        })
    }
}

impl Stored for FingerprintRow {
    const TABLE: &'static Table = &FINGERPRINTS;

    fn values(&self) -> Vec<Value<'_>> {
        vec![
            Value::Text(&self.sensor),
            Value::Text(&self.internal_host),
            Value::Text(&self.vendor),
            Value::Text(&self.product),
            Value::Text(&self.kind),
            Value::Text(&self.value),
            Value::Integer(self.first_seen),
            Value::Integer(self.last_seen),
            Value::Integer(to_i64(self.seen)),
        ]
    }

    fn read<C: Columns>(c: &mut C) -> Result<Self, C::Error> {
        Ok(Self {
            sensor: c.text()?,
            internal_host: c.text()?,
            vendor: c.text()?,
            product: c.text()?,
            kind: c.text()?,
            value: c.text()?,
            first_seen: c.integer()?,
            last_seen: c.integer()?,
            seen: c.count()?,
        })
    }
}

impl Stored for DailyRow {
    const TABLE: &'static Table = &DAILY;

    fn values(&self) -> Vec<Value<'_>> {
        vec![
            Value::Text(&self.sensor),
            Value::Text(&self.day),
            Value::Text(&self.vendor),
            Value::Text(&self.landing_country),
            Value::Integer(to_i64(self.flows)),
            Value::Integer(to_i64(self.bytes_sent)),
            Value::Integer(to_i64(self.bytes_received)),
        ]
    }

    fn read<C: Columns>(c: &mut C) -> Result<Self, C::Error> {
        Ok(Self {
            sensor: c.text()?,
            day: c.text()?,
            vendor: c.text()?,
            landing_country: c.text()?,
            flows: c.count()?,
            bytes_sent: c.count()?,
            bytes_received: c.count()?,
        })
    }
}

impl Stored for AlertRow {
    const TABLE: &'static Table = &ALERTS;

    fn values(&self) -> Vec<Value<'_>> {
        vec![
            Value::Text(&self.sensor),
            Value::Integer(self.timestamp),
            Value::Text(&self.rule),
            Value::Text(&self.severity),
            Value::Text(&self.verdict),
            Value::Text(&self.internal_host),
            Value::Text(&self.vendor),
            Value::Text(&self.product),
            Value::Text(&self.landing_country),
            Value::Text(&self.reason),
            Value::Integer(to_i64(self.count)),
            Value::Boolean(self.summary),
        ]
    }

    fn read<C: Columns>(c: &mut C) -> Result<Self, C::Error> {
        Ok(Self {
            sensor: c.text()?,
            timestamp: c.integer()?,
            rule: c.text()?,
            severity: c.text()?,
            verdict: c.text()?,
            internal_host: c.text()?,
            vendor: c.text()?,
            product: c.text()?,
            landing_country: c.text()?,
            reason: c.text()?,
            count: c.count()?,
            summary: c.boolean()?,
        })
    }
}

impl Stored for UnknownRow {
    const TABLE: &'static Table = &UNKNOWN;

    fn values(&self) -> Vec<Value<'_>> {
        vec![
            Value::Text(&self.sensor),
            Value::Text(&self.domain),
            Value::Text(&self.example),
            Value::Integer(to_i64(self.bytes_sent)),
            Value::Integer(to_i64(self.bytes_error)),
            Value::Integer(to_i64(self.bytes_received)),
            Value::Integer(to_i64(self.flows)),
            Value::Integer(self.first_seen),
            Value::Integer(self.last_seen),
            Value::Integer(to_i64(self.hints)),
            Value::Boolean(self.hosts_capped),
        ]
    }

    fn read<C: Columns>(c: &mut C) -> Result<Self, C::Error> {
        Ok(Self {
            sensor: c.text()?,
            domain: c.text()?,
            example: c.text()?,
            bytes_sent: c.count()?,
            bytes_error: c.count()?,
            bytes_received: c.count()?,
            flows: c.count()?,
            first_seen: c.integer()?,
            last_seen: c.integer()?,
            hints: c.count()?,
            hosts_capped: c.boolean()?,
        })
    }
}

impl Stored for UnknownHostRow {
    const TABLE: &'static Table = &UNKNOWN_HOSTS;

    fn values(&self) -> Vec<Value<'_>> {
        vec![
            Value::Text(&self.sensor),
            Value::Text(&self.domain),
            Value::Text(&self.internal_host),
            Value::Integer(self.first_seen),
            Value::Integer(self.last_seen),
        ]
    }

    fn read<C: Columns>(c: &mut C) -> Result<Self, C::Error> {
        Ok(Self {
            sensor: c.text()?,
            domain: c.text()?,
            internal_host: c.text()?,
            first_seen: c.integer()?,
            last_seen: c.integer()?,
        })
    }
}

/// A parameter of a report's select, NULL when the filter leaves it open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parameter {
    Text(Option<String>),
    Integer(Option<i64>),
}

/// The values of [`Dialect::select`]'s four parameters for a filter: the range's start
/// and end (times, or days for a table kept by day), the vendor and the sensor.
pub fn filter_parameters(table: &Table, f: &Filter) -> [Parameter; 4] {
    let (from, to) = match table.range.kind {
        Kind::Text => {
            let day = |t: Option<i64>| t.map(|t| crate::time::Timestamp::from_micros(t).date());
            (Parameter::Text(day(f.since)), Parameter::Text(day(f.until)))
        }
        Kind::Integer | Kind::Boolean => (Parameter::Integer(f.since), Parameter::Integer(f.until)),
    };
    [
        from,
        to,
        Parameter::Text(f.vendor.clone()),
        Parameter::Text(f.sensor.clone()),
    ]
}

/// What differs between the SQL of two databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The `n`th (from 1) statement parameter.
    fn parameter(self, n: usize) -> String {
        match self {
            Self::Sqlite => format!("?{n}"),
            Self::Postgres => format!("${n}"),
        }
    }

    /// A parameter that may be NULL, with the type PostgreSQL cannot infer from `IS NULL`.
    fn typed_parameter(self, n: usize, kind: Kind) -> String {
        match (self, kind) {
            (Self::Sqlite, _) => self.parameter(n),
            (Self::Postgres, Kind::Text) => format!("${n}::TEXT"),
            (Self::Postgres, Kind::Integer) => format!("${n}::BIGINT"),
            (Self::Postgres, Kind::Boolean) => format!("${n}::BOOLEAN"),
        }
    }

    /// How a column of the existing row is named in an upsert's update.
    fn existing(self, table: &Table, column: &str) -> String {
        match self {
            Self::Sqlite => column.to_owned(),
            Self::Postgres => format!("{}.{column}", table.name),
        }
    }

    /// The statement that writes one row: an upsert that merges by the table's key, or a
    /// plain insert for a table without one.
    pub fn write(self, table: &Table) -> String {
        let names: Vec<&str> = table.names().collect();
        let parameters: Vec<String> = (1..=names.len()).map(|n| self.parameter(n)).collect();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            table.name,
            names.join(", "),
            parameters.join(", ")
        );
        let key: Vec<&str> = table.key().collect();
        if key.is_empty() {
            return sql;
        }
        let updates: Vec<String> = table
            .columns
            .iter()
            .filter_map(|c| {
                let old = self.existing(table, c.name);
                let new = format!("excluded.{}", c.name);
                let (min, max) = match self {
                    Self::Sqlite => ("min", "max"),
                    Self::Postgres => ("LEAST", "GREATEST"),
                };
                let value = match c.merge {
                    Merge::Key | Merge::Kept => return None,
                    Merge::Min => format!("{min}({old}, {new})"),
                    Merge::Max => format!("{max}({old}, {new})"),
                    Merge::Sum => format!("{old} + {new}"),
                    Merge::Latest => new,
                    Merge::LatestUnlessEmpty => {
                        format!("CASE WHEN {new} = '' THEN {old} ELSE {new} END")
                    }
                    Merge::BitOr => format!("({old} | {new})"),
                    Merge::Or => format!("({old} OR {new})"),
                };
                Some(format!("{} = {value}", c.name))
            })
            .collect();
        sql.push_str(&format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            key.join(", "),
            updates.join(", ")
        ));
        sql
    }

    /// The statement a report reads a table with: four parameters, each ignored when
    /// NULL (range start, range end, vendor, sensor; a table without a vendor column
    /// ignores the vendor), rows in the table's order.
    pub fn select(self, table: &Table) -> String {
        let p = |n, kind| self.typed_parameter(n, kind);
        let range = table.range;
        let vendor = if table.names().any(|n| n == "vendor") {
            "vendor"
        } else {
            self.typed_parameter(3, Kind::Text).leak()
        };
        format!(
            "SELECT {} FROM {} \
             WHERE ({} IS NULL OR {} >= {}) AND ({} IS NULL OR {} <= {}) \
               AND ({} IS NULL OR {vendor} = {}) AND ({} IS NULL OR sensor = {}) \
             ORDER BY {}",
            table.names().collect::<Vec<_>>().join(", "),
            table.name,
            p(1, range.kind),
            range.from,
            self.parameter(1),
            p(2, range.kind),
            range.to,
            self.parameter(2),
            p(3, Kind::Text),
            self.parameter(3),
            p(4, Kind::Text),
            self.parameter(4),
            table.order_by,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_type_has_a_value_per_column() {
        assert_eq!(FlowRow::default().values().len(), AI_FLOWS.columns.len());
        assert_eq!(
            FingerprintRow::default().values().len(),
            FINGERPRINTS.columns.len()
        );
        assert_eq!(DailyRow::default().values().len(), DAILY.columns.len());
        assert_eq!(AlertRow::default().values().len(), ALERTS.columns.len());
        assert_eq!(UnknownRow::default().values().len(), UNKNOWN.columns.len());
        assert_eq!(
            UnknownHostRow::default().values().len(),
            UNKNOWN_HOSTS.columns.len()
        );
    }

    #[test]
    fn the_upsert_merges_by_the_key_in_each_dialect() {
        let sqlite = Dialect::Sqlite.write(&FINGERPRINTS);
        assert!(
            sqlite.contains("VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
            "{sqlite}"
        );
        assert!(
            sqlite.contains(
                "ON CONFLICT (sensor, internal_host, vendor, product, kind, value) \
                 DO UPDATE SET first_seen = min(first_seen, excluded.first_seen)"
            ),
            "{sqlite}"
        );
        let postgres = Dialect::Postgres.write(&FINGERPRINTS);
        assert!(
            postgres.contains("seen = fingerprints.seen + excluded.seen"),
            "{postgres}"
        );
        assert!(
            postgres.contains("GREATEST(fingerprints.last_seen, excluded.last_seen)"),
            "{postgres}"
        );
        assert!(!Dialect::Sqlite.write(&ALERTS).contains("ON CONFLICT"));
    }
}
