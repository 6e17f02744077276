//! Packet sources: capture files, and live interfaces.

pub mod fanout;
pub mod live;
pub mod offline;

pub use offline::{CaptureError, FileSource, Next};
