//! Outputs: EVE JSON lines, a table for people, GeoIP answers, signature listings, and the
//! escaping of wire text for terminals, Markdown and spreadsheets.

pub mod escape;
pub mod geoip;
pub mod json;
pub mod reopening;
pub mod signatures;
pub mod table;

pub use json::JsonSink;
pub use table::TableSink;

/// This machine's host name, as outputs name the sensor (syslog's HOSTNAME, the
/// inventory's sensor), when the kernel has a printable one.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.is_ascii() && !h.contains(char::is_whitespace))
}
