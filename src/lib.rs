//! aigress: a passive network sensor that inventories the AI data flows leaving an
//! organisation.
//!
//! The path of a packet, one module per stage:
//!
//! ```text
//! capture ──► decode ──► flow ──► protocols ──► engine ──► assess ──► sinks
//! (files,     (link,     (table,   (one folder   (findings  (landing,   (EVE JSON,
//!  live)       tunnels,   reassembly, per protocol: → events) policy,    table,
//!              defrag)    stream     parser, state,          signatures, metrics,
//!                         dispatch)  record, report)         alerts)     inventory)
//! ```
//!
//! `protocols/mod.rs` holds the one list that registers every application protocol;
//! the flow's stream and datagram dispatch, the event body, the counters and the
//! report dispatch are made from it. Around the path: `signatures` (the AI endpoint
//! database), `geo` and `landing` (where data lands), `policy` and `alert` (verdicts,
//! deduplication, alert sinks), `metrics`, `inventory` (the fleet store), `report` (the
//! auditor's reports), `pipeline` (the stages after the engine, built once for `scan`
//! and `run`), `sensor` (`aigress run`: capture threads, the packet loop, signals, the
//! HTTP endpoint) and `config`.
//!
//! Only metadata is read — TLS ClientHellos, DNS messages, HTTP request heads — and no
//! payload is stored.

// The library reads attacker-controlled bytes: no panics, no unchecked arithmetic or
// narrowing anywhere in it (tests may index and unwrap).
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

pub mod address;
pub mod ai;
pub mod alert;
pub mod assess;
pub mod capture;
pub mod community_id;
pub mod config;
pub mod decode;
pub mod discovery;
pub mod engine;
pub mod escape;
pub mod event;
pub mod flow;
pub mod geo;
pub mod guard;
pub mod inventory;
pub mod landing;
pub mod metrics;
pub mod offsets;
pub mod pem;
pub mod pipeline;
pub mod policy;
pub mod print;
pub mod problem;
pub mod protocols;
pub mod report;
pub mod scan;
pub mod sensor;
pub mod signatures;
pub mod sink;
pub mod time;
pub mod wire;
