//! DNS over UDP: every datagram of a port 53 flow is one message.

use super::{Finding, PORT};
use crate::flow::budget::BufferBudget;
use crate::protocols::roles::{DatagramParser, Probed};

/// A UDP flow on port 53.
#[derive(Debug)]
pub struct DnsDatagram;

impl DatagramParser for DnsDatagram {
    type Finding = Finding;

    fn on_port(client: u16, server: u16) -> Option<Self> {
        (client == PORT || server == PORT).then_some(DnsDatagram)
    }

    /// DNS over UDP is known by its port, not probed for.
    fn probe(
        _: &[u8],
        _: bool,
        _: &BufferBudget,
        _: &mut dyn FnMut(Finding),
    ) -> Option<Probed<Self>> {
        None
    }

    fn datagram(&mut self, _to_server: bool, payload: &[u8], emit: &mut dyn FnMut(Finding)) {
        emit(Finding::of(payload));
    }

    fn is_done(&self) -> bool {
        false
    }
}
