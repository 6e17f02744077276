//! Pure protocol parsers: bytes in, a borrowed or owned value or a typed error out.
//!
//! No parser here does I/O, keeps state across calls, logs or counts; `crate::flow::app`
//! decides what each outcome means for a flow and counts it.

// Everything below reads attacker-controlled bytes: no panics, no unchecked arithmetic.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation
    )
)]

pub mod dns;
pub mod http;
pub mod ja4;
pub mod quic;
pub mod tls;
