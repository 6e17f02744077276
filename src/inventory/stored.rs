//! Text as the inventory stores it: the one place where what came off the wire (SNI, HTTP
//! Host, User-Agent, DNS names, alert reasons quoting them) is made into values every
//! backend keeps alike. [`Store`](super::store::Store) passes every batch through here
//! before a backend sees it, whatever wrote the batch (the live sink, a merge, a migration).
//!
//! PostgreSQL refuses a NUL byte in text (SQLSTATE 22021) and an index entry longer than
//! about 2,700 bytes (54000), where SQLite takes both; left as they are, one hostile
//! ClientHello would stop a fleet's inventory while a single sensor's file records it. So:
//!
//! - every control character (C0 with NUL, DEL, C1) becomes `\xHH`, and a backslash
//!   becomes `\\`, so no two values are stored alike and each can be read back;
//! - a value longer than its bound is cut on a character boundary, never inside an
//!   escape, and ends with `\#` and 16 hex digits of the SHA-256 of the whole value, so
//!   long values that share a beginning stay apart. No escaped value holds `\#`, so a cut
//!   value never equals an uncut one.
//!
//! A batch that needs none of this, the usual case, is passed on as it is, not copied.

use std::borrow::Cow;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::backend::{
    AlertRow, Batch, DailyRow, Filter, FingerprintRow, FlowRow, UnknownHostRow, UnknownRow,
};

/// The longest value of a column that is part of a key or an index, in bytes: the
/// longest key of the schema (a flow row's) holds two text columns that can be long (the
/// sensor's name and the endpoint), and two such values with the short ones still fit the
/// 2,704 bytes PostgreSQL allows an index entry. No real host name (255 bytes at most) or
/// User-Agent comes near it.
pub const MAX_KEY_TEXT_BYTES: usize = 512;

/// The longest alert reason (or `meta` value), in bytes. These are in no key or index, so
/// PostgreSQL has no limit short of 1 GB; the bound keeps a hostile name quoted in a
/// reason from growing the alert log, while a reason naming every sub-processor of a SaaS
/// stays whole.
pub const MAX_TEXT_BYTES: usize = 4096;

/// `\#` and 16 hex digits: the end of a value that was cut.
const CUT_MARK_BYTES: usize = 18;

/// Where a batch's text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// From the wire or the sensor's settings: every control character and backslash is
    /// escaped.
    Wire,
    /// Read back from a store, to be copied into another (a merge, a migration). Written
    /// by this version it is stored text already and stays as it is; an older store's
    /// control characters are escaped and its long values cut. Backslashes are left alone,
    /// as the escapes they already are.
    Store,
}

fn escaped(c: char, origin: Origin) -> bool {
    c.is_control() || (c == '\\' && origin == Origin::Wire)
}

/// `value` as stored: control characters (and, from the wire, backslashes) escaped, and
/// cut to `max` bytes with the hash of the whole value when longer.
pub fn text(value: &str, max: usize, origin: Origin) -> Cow<'_, str> {
    if value.len() <= max && !value.chars().any(|c| escaped(c, origin)) {
        return Cow::Borrowed(value);
    }
    let budget = max.saturating_sub(CUT_MARK_BYTES);
    let mut out = String::with_capacity(value.len().min(max).saturating_add(CUT_MARK_BYTES));
    // The longest run of whole characters and escapes that leaves room for the mark.
    let mut fits = 0;
    for c in value.chars() {
        if c == '\\' && origin == Origin::Wire {
            out.push_str("\\\\");
        } else if c.is_control() {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
        if out.len() <= budget {
            fits = out.len();
        }
    }
    if out.len() <= max {
        return Cow::Owned(out);
    }
    out.truncate(fits);
    out.push_str("\\#");
    for b in Sha256::digest(value.as_bytes()).iter().take(8) {
        let _ = write!(out, "{b:02x}");
    }
    Cow::Owned(out)
}

/// Replaces `value` by its stored form; whether it changed.
fn store(value: &mut String, max: usize, origin: Origin) -> bool {
    match text(value, max, origin) {
        Cow::Borrowed(_) => false,
        Cow::Owned(v) => {
            *value = v;
            true
        }
    }
}

fn stored(value: &str, max: usize, origin: Origin) -> bool {
    matches!(text(value, max, origin), Cow::Borrowed(_))
}

/// Each row type's text fields with their bounds, as two functions: one to look, one to
/// change. The patterns name every field (`other` lists those that are not text), so a
/// field added to a row does not compile until it is placed here.
macro_rules! texts {
    ($row:ident, $look:ident, $change:ident, $n:literal,
     [$($field:ident: $max:expr),+ $(,)?], other [$($other:ident),* $(,)?]) => {
        fn $look(r: &$row) -> [(&str, usize); $n] {
            let $row { $($field,)+ $($other: _,)* } = r;
            [$(($field.as_str(), $max)),+]
        }

        fn $change(r: &mut $row) -> [(&mut String, usize); $n] {
            let $row { $($field,)+ $($other: _,)* } = r;
            [$(($field, $max)),+]
        }
    };
}

const KEY: usize = MAX_KEY_TEXT_BYTES;

texts!(FlowRow, flow_texts, flow_texts_mut, 10,
    [sensor: KEY, internal_host: KEY, host_label: KEY, vendor: KEY, product: KEY, kind: KEY,
     endpoint: KEY, landing_country: KEY, verdict: KEY, landing_confidence: KEY],
    other [eea, first_seen, last_seen, flows, packets, bytes_sent, bytes_received]);
texts!(FingerprintRow, print_texts, print_texts_mut, 6,
    [sensor: KEY, internal_host: KEY, vendor: KEY, product: KEY, kind: KEY, value: KEY],
    other [first_seen, last_seen, seen]);
texts!(DailyRow, daily_texts, daily_texts_mut, 4,
    [sensor: KEY, day: KEY, vendor: KEY, landing_country: KEY],
    other [flows, bytes_sent, bytes_received]);
texts!(AlertRow, alert_texts, alert_texts_mut, 9,
    [sensor: KEY, rule: KEY, severity: KEY, verdict: KEY, internal_host: KEY, vendor: KEY,
     product: KEY, landing_country: KEY, reason: MAX_TEXT_BYTES],
    other [timestamp, count, summary]);
texts!(UnknownRow, unknown_texts, unknown_texts_mut, 3,
    [sensor: KEY, domain: KEY, example: KEY],
    other [bytes_sent, bytes_error, bytes_received, flows, first_seen, last_seen, hints,
           hosts_capped]);
texts!(UnknownHostRow, unknown_host_texts, unknown_host_texts_mut, 3,
    [sensor: KEY, domain: KEY, internal_host: KEY],
    other [first_seen, last_seen]);

/// Stores the rows of `rows` (in `out`, copied from the batch on the first change) whose
/// text is not stored text yet.
fn rows<T: Clone, const N: usize>(
    rows: &[T],
    origin: Origin,
    texts: impl Fn(&T) -> [(&str, usize); N],
    texts_mut: impl Fn(&mut T) -> [(&mut String, usize); N],
    out: impl Fn(&mut Batch) -> &mut Vec<T>,
    batch: &mut Cow<'_, Batch>,
) {
    for (i, row) in rows.iter().enumerate() {
        if texts(row).iter().all(|(v, max)| stored(v, *max, origin)) {
            continue;
        }
        if let Some(row) = out(batch.to_mut()).get_mut(i) {
            for (v, max) in texts_mut(row) {
                store(v, max, origin);
            }
        }
    }
}

/// `batch` with all its text stored as [`text`] stores it (the batch id too, which holds
/// the sensor's name); borrowed when nothing needs a change.
pub fn batch(batch: &Batch, origin: Origin) -> Cow<'_, Batch> {
    let mut out = Cow::Borrowed(batch);
    if !stored(&batch.id, MAX_KEY_TEXT_BYTES, origin) {
        store(&mut out.to_mut().id, MAX_KEY_TEXT_BYTES, origin);
    }
    rows(
        &batch.flows,
        origin,
        flow_texts,
        flow_texts_mut,
        |b| &mut b.flows,
        &mut out,
    );
    rows(
        &batch.fingerprints,
        origin,
        print_texts,
        print_texts_mut,
        |b| &mut b.fingerprints,
        &mut out,
    );
    rows(
        &batch.daily,
        origin,
        daily_texts,
        daily_texts_mut,
        |b| &mut b.daily,
        &mut out,
    );
    rows(
        &batch.alerts,
        origin,
        alert_texts,
        alert_texts_mut,
        |b| &mut b.alerts,
        &mut out,
    );
    rows(
        &batch.unknown,
        origin,
        unknown_texts,
        unknown_texts_mut,
        |b| &mut b.unknown,
        &mut out,
    );
    rows(
        &batch.unknown_hosts,
        origin,
        unknown_host_texts,
        unknown_host_texts_mut,
        |b| &mut b.unknown_hosts,
        &mut out,
    );
    out
}

/// `filter` with its names as they are stored, so a sensor named with a backslash is
/// found under the name it was given.
pub fn filter(filter: &Filter) -> Cow<'_, Filter> {
    let changed = |v: &Option<String>| match text(v.as_deref()?, MAX_KEY_TEXT_BYTES, Origin::Wire) {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    };
    let (vendor, sensor) = (changed(&filter.vendor), changed(&filter.sensor));
    if vendor.is_none() && sensor.is_none() {
        return Cow::Borrowed(filter);
    }
    let mut out = filter.clone();
    out.vendor = vendor.or(out.vendor);
    out.sensor = sensor.or(out.sensor);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(v: &str) -> String {
        text(v, MAX_KEY_TEXT_BYTES, Origin::Wire).into_owned()
    }

    #[test]
    fn control_characters_and_backslashes_are_escaped_one_to_one() {
        assert!(matches!(
            text("api.openai.com", 512, Origin::Wire),
            Cow::Borrowed(_)
        ));
        assert_eq!(wire("api.openai.com\0evil"), "api.openai.com\\x00evil");
        assert_eq!(wire("a\u{1b}[31m\u{7f}\u{85}é"), "a\\x1b[31m\\x7f\\x85é");
        // A NUL and the four characters `\x00` stay two values.
        assert_eq!(wire("a\\x00"), "a\\\\x00");
        assert_ne!(wire("a\0"), wire("a\\x00"));
        assert_eq!(wire("\\"), "\\\\");
    }

    #[test]
    fn long_values_are_cut_on_a_boundary_with_the_hash_of_the_whole() {
        let long = "é".repeat(3000);
        let cut = wire(&long);
        assert!(cut.len() <= MAX_KEY_TEXT_BYTES, "{}", cut.len());
        assert!(cut.starts_with("éé") && cut.contains("\\#"));
        let other = format!("{}a", "é".repeat(2999));
        assert_ne!(
            wire(&other),
            cut,
            "long values sharing a beginning stay apart"
        );
        // Escapes are never cut in half: the mark follows whole `\x01` escapes.
        let controls = "\u{1}".repeat(400);
        let cut = wire(&controls);
        let (kept, _) = cut.split_once("\\#").unwrap();
        assert_eq!(kept.len() % 4, 0);
        assert!(kept.chars().filter(|&c| c == '\\').count() == kept.len() / 4);
        // Exactly at the bound: kept whole.
        assert_eq!(wire(&"a".repeat(512)), "a".repeat(512));
        assert_eq!(wire(&"a".repeat(513)).len(), 512);
    }

    #[test]
    fn stored_text_copied_between_stores_is_not_escaped_twice() {
        for raw in ["api.openai.com\0evil", "a\\b", &"x\u{1}".repeat(600)] {
            let once = wire(raw);
            assert_eq!(text(&once, MAX_KEY_TEXT_BYTES, Origin::Store), once);
        }
        // An older store's raw control characters are still escaped.
        assert_eq!(
            text("a\0b\\c", MAX_KEY_TEXT_BYTES, Origin::Store),
            "a\\x00b\\c"
        );
    }

    #[test]
    fn a_batch_is_copied_only_when_it_needs_a_change() {
        let clean = Batch {
            id: "s:1".into(),
            flows: vec![FlowRow {
                endpoint: "api.openai.com".into(),
                ..FlowRow::default()
            }],
            alerts: vec![AlertRow {
                reason: "r".repeat(MAX_TEXT_BYTES),
                ..AlertRow::default()
            }],
            ..Batch::default()
        };
        assert!(matches!(batch(&clean, Origin::Wire), Cow::Borrowed(_)));
        let mut hostile = clean.clone();
        hostile.flows.push(FlowRow {
            endpoint: "api.openai.com\0evil".into(),
            ..FlowRow::default()
        });
        hostile.fingerprints.push(FingerprintRow {
            value: "UA".repeat(3000),
            ..FingerprintRow::default()
        });
        let stored = batch(&hostile, Origin::Wire);
        assert_eq!(stored.flows[0], hostile.flows[0]);
        assert_eq!(stored.flows[1].endpoint, "api.openai.com\\x00evil");
        assert!(stored.fingerprints[0].value.len() <= MAX_KEY_TEXT_BYTES);
        assert_eq!(stored.alerts, hostile.alerts);
    }
}
