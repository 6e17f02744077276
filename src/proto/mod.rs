//! Pure protocol parsers: bytes in, a borrowed or owned value or a typed error out.
//!
//! No parser here does I/O, keeps state across calls, logs or counts; `crate::flow::app`
//! decides what each outcome means for a flow and counts it.

pub mod dns;
pub mod http;
pub mod ja4;
pub mod quic;
pub mod tls;
