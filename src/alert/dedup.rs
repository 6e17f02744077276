//! One alert per (rule, internal host, vendor, product, landing country) and window.
//!
//! The first occurrence goes out at once; repeats inside the window are counted, and when
//! the window closes with repeats a summary alert carries their number, so nothing is
//! silently lost and nobody is paged twice for the same thing. Windows run on capture
//! time, so a capture file replays to the same alerts.
//!
//! The hosts in the keys come from packets, which a spoofing sender controls, so the
//! number of open windows is bounded: when the table is full every window closes early,
//! writing its summary, and counting starts afresh.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::alert::Rule;
use crate::event::{Body, Event};
use crate::time::Timestamp;

/// What makes two alerts the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DedupKey {
    pub rule: Rule,
    pub host: IpAddr,
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub landing: Option<String>,
}

#[derive(Debug)]
struct Window {
    started: Timestamp,
    first_repeat: Timestamp,
    last_repeat: Timestamp,
    repeats: u64,
    /// The alert that opened the window, for the summary.
    alert: Event,
}

/// Open windows kept at most by default.
pub const DEFAULT_MAX_OPEN: usize = 65_536;

/// The open windows.
#[derive(Debug)]
pub struct Deduper {
    /// Microseconds; 0 turns deduplication off.
    window: i64,
    max_open: usize,
    open: HashMap<DedupKey, Window>,
    /// The earliest time a window can close, to skip scans before it.
    next_close: Option<Timestamp>,
    suppressed: u64,
}

impl Deduper {
    pub fn new(window_micros: i64) -> Self {
        Self::with_limit(window_micros, DEFAULT_MAX_OPEN)
    }

    /// A deduplicator keeping at most `max_open` windows.
    pub fn with_limit(window_micros: i64, max_open: usize) -> Self {
        Self {
            window: window_micros.max(0),
            max_open: max_open.max(1),
            open: HashMap::new(),
            next_close: None,
            suppressed: 0,
        }
    }

    /// Changes the window (a reloaded policy); open windows keep their start.
    pub fn set_window(&mut self, window_micros: i64) {
        self.window = window_micros.max(0);
    }

    /// Repeats suppressed so far.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// Whether `alert` (an alert event at `now`) is the first of its window and goes out;
    /// a repeat is counted instead. When the table is full, the summaries of the windows
    /// closed to make room are appended to `out`.
    pub fn admit(
        &mut self,
        key: DedupKey,
        now: Timestamp,
        alert: &Event,
        out: &mut Vec<Event>,
    ) -> bool {
        if self.window == 0 {
            return true;
        }
        if let Some(w) = self.open.get_mut(&key)
            && now.micros_since(w.started) < self.window
        {
            if w.repeats == 0 {
                w.first_repeat = now;
            }
            w.repeats = w.repeats.saturating_add(1);
            w.last_repeat = w.last_repeat.max(now);
            self.suppressed = self.suppressed.saturating_add(1);
            return false;
        }
        if self.open.len() >= self.max_open && !self.open.contains_key(&key) {
            self.flush(out);
        }
        let close = now.add_micros(self.window);
        self.next_close = Some(self.next_close.map_or(close, |c| c.min(close)));
        self.open.insert(
            key,
            Window {
                started: now,
                first_repeat: now,
                last_repeat: now,
                repeats: 0,
                alert: alert.clone(),
            },
        );
        true
    }

    /// Closes the windows that ended by `now`, appending a summary for each that had
    /// repeats.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        if self.next_close.is_none_or(|c| now < c) {
            return;
        }
        let window = self.window;
        let mut next: Option<Timestamp> = None;
        let closing: Vec<DedupKey> = self
            .open
            .iter()
            .filter(|(_, w)| {
                let close = w.started.add_micros(window);
                if now < close {
                    next = Some(next.map_or(close, |n| n.min(close)));
                    return false;
                }
                true
            })
            .map(|(key, _)| key.clone())
            .collect();
        let closed = closing
            .into_iter()
            .filter_map(|key| self.open.remove(&key).map(|w| (key, w)))
            .collect();
        write_summaries(closed, out);
        self.next_close = next;
    }

    /// Closes every window (end of input, shutdown).
    pub fn flush(&mut self, out: &mut Vec<Event>) {
        write_summaries(self.open.drain().collect(), out);
        self.next_close = None;
    }
}

/// Appends the summaries of `closed` windows by start, then by key: the table's own order
/// changes from run to run, and the output must not.
fn write_summaries(mut closed: Vec<(DedupKey, Window)>, out: &mut Vec<Event>) {
    closed.sort_unstable_by(|(a, wa), (b, wb)| (wa.started, a).cmp(&(wb.started, b)));
    out.extend(closed.iter().filter_map(|(_, w)| summary(w)));
}

fn summary(w: &Window) -> Option<Event> {
    if w.repeats == 0 {
        return None;
    }
    let mut event = w.alert.clone();
    event.header.timestamp = w.last_repeat;
    if let Body::Alert(a, _) = &mut event.body {
        a.summary = true;
        a.count = w.repeats;
        a.first_seen = w.first_repeat;
        a.last_seen = w.last_repeat;
        let when = if w.repeats == 1 {
            format!("Repeated once more at {}", w.first_repeat)
        } else {
            format!(
                "Repeated {} more times from {} to {}",
                w.repeats, w.first_repeat, w.last_repeat
            )
        };
        a.reason = format!("{when}: {}", a.reason);
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertInfo, Severity, Verdict};
    use crate::event::Header;

    fn alert(at: i64) -> Event {
        let t = Timestamp::from_secs(at);
        Event {
            header: Header::sample(1, t),
            body: Body::Alert(
                AlertInfo {
                    rule: Rule::UnapprovedAiVendor,
                    severity: Severity::High,
                    verdict: Verdict::Unapproved,
                    reason: "10.0.0.1 sent data to X.".into(),
                    policy: "approve".into(),
                    count: 1,
                    summary: false,
                    first_seen: t,
                    last_seen: t,
                    upload: None,
                    terms: Vec::new(),
                },
                None,
            ),
            ai: None,
            landing: None,
            verdict: Some(Verdict::Unapproved),
        }
    }

    fn key() -> DedupKey {
        DedupKey {
            rule: Rule::UnapprovedAiVendor,
            host: "10.0.0.1".parse().unwrap(),
            vendor: Some("x".into()),
            product: Some("X".into()),
            landing: Some("US".into()),
        }
    }

    #[test]
    fn repeats_in_a_window_become_one_summary_when_it_closes() {
        let mut d = Deduper::new(60_000_000);
        let mut out = Vec::new();
        assert!(d.admit(key(), Timestamp::from_secs(0), &alert(0), &mut out));
        assert!(!d.admit(key(), Timestamp::from_secs(10), &alert(10), &mut out));
        assert!(!d.admit(key(), Timestamp::from_secs(59), &alert(59), &mut out));
        d.expire(Timestamp::from_secs(59), &mut out);
        assert!(out.is_empty());
        d.expire(Timestamp::from_secs(60), &mut out);
        assert_eq!(out.len(), 1);
        let Body::Alert(a, _) = &out[0].body else {
            panic!("an alert")
        };
        assert!(a.summary);
        assert_eq!(a.count, 2);
        assert_eq!(a.first_seen, Timestamp::from_secs(10));
        assert_eq!(a.last_seen, Timestamp::from_secs(59));
        assert!(
            a.reason.starts_with("Repeated 2 more times from "),
            "{}",
            a.reason
        );
        assert_eq!(d.suppressed(), 2);
        // The next occurrence opens a new window and goes out.
        assert!(d.admit(key(), Timestamp::from_secs(61), &alert(61), &mut out));
    }

    #[test]
    fn windows_closing_together_write_their_summaries_in_one_order_every_run() {
        let hosts: Vec<IpAddr> = (1..=30u8).map(|h| IpAddr::from([10, 0, 0, h])).collect();
        let summaries = |order: &[IpAddr], close: bool| {
            let mut d = Deduper::new(60_000_000);
            let mut out = Vec::new();
            for at in [0, 1] {
                for host in order {
                    let key = DedupKey {
                        host: *host,
                        ..key()
                    };
                    let mut event = alert(at);
                    event.header.src_ip = *host;
                    d.admit(key, Timestamp::from_secs(0), &event, &mut out);
                }
            }
            if close {
                d.expire(Timestamp::from_secs(60), &mut out);
            } else {
                d.flush(&mut out);
            }
            out.iter().map(|e| e.header.src_ip).collect::<Vec<_>>()
        };
        let mut reversed = hosts.clone();
        reversed.reverse();
        for close in [true, false] {
            assert_eq!(summaries(&hosts, close), hosts);
            assert_eq!(summaries(&reversed, close), hosts);
        }
    }

    #[test]
    fn a_window_without_repeats_closes_silently_and_flush_closes_all() {
        let mut d = Deduper::new(60_000_000);
        let mut out = Vec::new();
        assert!(d.admit(key(), Timestamp::from_secs(0), &alert(0), &mut out));
        d.expire(Timestamp::from_secs(100), &mut out);
        assert!(out.is_empty());
        assert!(d.admit(key(), Timestamp::from_secs(100), &alert(100), &mut out));
        assert!(!d.admit(key(), Timestamp::from_secs(101), &alert(101), &mut out));
        d.flush(&mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_zero_window_lets_everything_through() {
        let mut d = Deduper::new(0);
        let mut out = Vec::new();
        assert!(d.admit(key(), Timestamp::from_secs(0), &alert(0), &mut out));
        assert!(d.admit(key(), Timestamp::from_secs(0), &alert(0), &mut out));
        assert_eq!(d.suppressed(), 0);
    }

    #[test]
    fn a_full_table_closes_its_windows_with_their_summaries() {
        let mut d = Deduper::with_limit(60_000_000, 2);
        let mut out = Vec::new();
        let other = |host: &str| DedupKey {
            host: host.parse().unwrap(),
            ..key()
        };
        assert!(d.admit(key(), Timestamp::from_secs(0), &alert(0), &mut out));
        assert!(!d.admit(key(), Timestamp::from_secs(1), &alert(1), &mut out));
        assert!(d.admit(
            other("10.0.0.2"),
            Timestamp::from_secs(2),
            &alert(2),
            &mut out
        ));
        assert!(out.is_empty());
        // A third key finds the table full: both windows close, the repeat is reported.
        assert!(d.admit(
            other("10.0.0.3"),
            Timestamp::from_secs(3),
            &alert(3),
            &mut out
        ));
        assert_eq!(out.len(), 1);
        let Body::Alert(a, _) = &out[0].body else {
            panic!("an alert")
        };
        assert!(a.summary && a.count == 1);
        // The first key opens a fresh window: it alerts again.
        assert!(d.admit(key(), Timestamp::from_secs(4), &alert(4), &mut out));
    }
}
