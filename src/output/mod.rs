//! Event sinks for `aigress scan`: EVE JSON lines, and a table for people.

pub mod geoip;
pub mod json;
pub mod signatures;
pub mod table;

pub use json::JsonSink;
pub use table::TableSink;
