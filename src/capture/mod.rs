//! Packet sources: capture files now; live interfaces plug in beside them.

pub mod offline;

pub use offline::{CaptureError, FileSource, Next};
