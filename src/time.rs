//! Packet timestamps.
//!
//! Time in aigress is the capture's time, never the wall clock, so a capture file replays
//! to the same events and flows age by the traffic's own clock.

use std::fmt;

use serde::{Serialize, Serializer};

/// Microseconds since the Unix epoch, from a packet header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// From a pcap header's seconds and sub-second part in nanoseconds.
    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Self(secs.saturating_mul(1_000_000).saturating_add(nanos / 1000))
    }

    /// The wall clock, for live capture (where capture time and wall time agree).
    pub fn now() -> Self {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        Self(micros)
    }

    pub fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1_000_000))
    }

    /// `micros` later (earlier when negative), saturating.
    pub fn add_micros(self, micros: i64) -> Self {
        Self(self.0.saturating_add(micros))
    }

    /// The UTC date, `2024-05-01`.
    pub fn date(self) -> String {
        let mut text = self.to_string();
        text.truncate(10);
        text
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Microseconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn micros_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Whole seconds from `earlier` to `self` as clock readings: the difference of the two
    /// times' seconds, as Suricata computes a flow's age (23.85 s to 33.27 s is 10).
    pub fn clock_secs_since(self, earlier: Timestamp) -> u64 {
        let secs = |t: Timestamp| t.0.div_euclid(1_000_000);
        u64::try_from(secs(self).saturating_sub(secs(earlier))).unwrap_or(0)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with microseconds: `2024-05-01T12:34:56.789012Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [y, m, d, hh, mm, ss, micros] = self.fields();
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{micros:06}Z"
        )
    }
}

impl Timestamp {
    /// Year, month, day, hour, minute, second and microsecond, UTC.
    fn fields(self) -> [i64; 7] {
        let secs = self.0.div_euclid(1_000_000);
        let of_day = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        [
            y,
            m,
            d,
            of_day / 3600,
            of_day % 3600 / 60,
            of_day % 60,
            self.0.rem_euclid(1_000_000),
        ]
    }

    /// The RFC 3339 text of a time in years 0 to 9999, written without `fmt`: every event
    /// carries one to three timestamps, and formatting them was a tenth of the cost of
    /// writing a flow record.
    fn rfc3339(self) -> Option<[u8; 27]> {
        self.digits(*b"0000-00-00T00:00:00.000000Z")
    }

    /// The text Suricata's EVE writes, `2024-05-01T12:34:56.789012+0000`, for years 0 to
    /// 9999.
    fn eve(self) -> Option<[u8; 31]> {
        self.digits(*b"0000-00-00T00:00:00.000000+0000")
    }

    /// `template` with the date and time digits written in; the template's first 26 bytes
    /// are the date and time, the rest is the zone.
    fn digits<const N: usize>(self, template: [u8; N]) -> Option<[u8; N]> {
        let fields = self.fields();
        if !(0..=9999).contains(&fields[0]) {
            return None;
        }
        let mut out = template;
        let places = [0..4, 5..7, 8..10, 11..13, 14..16, 17..19, 20..26];
        for (mut value, range) in fields.into_iter().zip(places) {
            for digit in out.get_mut(range)?.iter_mut().rev() {
                *digit = *b"0123456789".get(usize::try_from(value.rem_euclid(10)).ok()?)?;
                value = value.div_euclid(10);
            }
        }
        Some(out)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.rfc3339() {
            Some(text) => s.serialize_str(std::str::from_utf8(&text).unwrap_or_default()),
            None => s.collect_str(self),
        }
    }
}

/// Serialises a time as Suricata's EVE writes it (`+0000` for the zone, not `Z`), for
/// the fields of events: pipelines that parse Suricata's timestamps parse these.
///
/// # Errors
/// The serializer's.
pub fn serialize_eve<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    match t.eve() {
        Some(text) => s.serialize_str(std::str::from_utf8(&text).unwrap_or_default()),
        None => s.collect_str(&format_args!(
            "{}+0000",
            t.to_string().trim_end_matches('Z')
        )),
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
// A Timestamp is i64 microseconds, so |days| < 1.1e8 and every intermediate value here stays
// below 1e12: the arithmetic cannot overflow.
#[allow(clippy::arithmetic_side_effects)]
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_text_is_the_display_text() {
        for micros in [
            0,
            1,
            999_999,
            1_700_000_000_123_456,
            -1,
            -86_400_000_001,
            253_402_300_799_999_999,
            951_782_400_000_000,
        ] {
            let t = Timestamp::from_micros(micros);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{t}\""), "{micros}");
        }
        let far = Timestamp::from_micros(i64::MAX);
        assert!(far.rfc3339().is_none());
        assert_eq!(serde_json::to_string(&far).unwrap(), format!("\"{far}\""));
    }

    #[test]
    fn eve_time_ends_in_a_numeric_zone() {
        let eve = |t: Timestamp| {
            let mut out = Vec::new();
            serialize_eve(&t, &mut serde_json::Serializer::new(&mut out)).unwrap();
            String::from_utf8(out).unwrap()
        };
        let t = Timestamp::from_secs_nanos(1_795_420_252, 338_141_999);
        assert_eq!(eve(t), "\"2026-11-23T07:50:52.338141+0000\"");
        assert_eq!(
            eve(Timestamp::from_micros(-1)),
            "\"1969-12-31T23:59:59.999999+0000\""
        );
        let far = Timestamp::from_micros(i64::MAX);
        assert!(eve(far).ends_with("+0000\""), "{}", eve(far));
    }

    #[test]
    fn formats_rfc3339_with_microseconds() {
        assert_eq!(
            Timestamp::from_micros(0).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        let t = Timestamp::from_secs_nanos(1_795_420_252, 338_141_999);
        assert_eq!(t.to_string(), "2026-11-23T07:50:52.338141Z");
        let leap = Timestamp::from_secs_nanos(951_782_400, 0);
        assert_eq!(leap.to_string(), "2000-02-29T00:00:00.000000Z");
    }
}
