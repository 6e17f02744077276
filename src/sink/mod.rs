//! Where events go at the end of the chain: EVE JSON lines ([`json`]), a table for people
//! ([`table`]), and the file that reopens itself when logrotate moves it ([`reopening`]).

pub mod json;
pub mod reopening;
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
