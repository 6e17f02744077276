//! The flow record: what a finished flow carried (packets and bytes each way, its state,
//! the names it was known by), written when the flow ends. It has no parser of its own;
//! the flow table (`crate::flow`) keeps what it counts.

mod record;
mod report;

pub use record::{FlowEndReason, FlowInfo};
pub use report::{flow_event, flow_header};

use super::roles::{NoCounters, NoDatagram, NoFinding, NoStream, Protocol};

/// The flow record.
#[derive(Debug)]
pub struct FlowRecord;

impl Protocol for FlowRecord {
    const NAME: &'static str = "flow";
    type Record = FlowInfo;
    type Finding = NoFinding;
    type Stats = NoCounters;
    type Stream = NoStream<NoFinding>;
    type Datagram = NoDatagram<NoFinding>;
}
