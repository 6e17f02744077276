//! A finished flow becomes its record's event, named by what it carried.

use std::io;

use super::{FlowEndReason, FlowInfo, FlowRecord};
use crate::address::Ipv6Text;
use crate::engine::report::{At, Report, Reporter};
use crate::event::{Body, Event, Header};
use crate::flow::Flow;
use crate::protocols::quic::Quic;
use crate::protocols::roles::{NoCounters, NoFinding, Protocol};
use crate::signatures::{Database, MatchSource};

impl Report for FlowRecord {
    fn report(
        finding: NoFinding,
        _: &mut NoCounters,
        _: &mut At<'_>,
        _: &mut Reporter<'_>,
    ) -> io::Result<()> {
        match finding {}
    }
}

/// The header of a flow's record: its first packet's time, oriented client → server.
pub fn flow_header(flow: &Flow, community_id_seed: u16, ipv6_text: Ipv6Text) -> Header {
    Header {
        timestamp: flow.first_seen,
        flow_id: flow.id,
        src_ip: flow.client.ip,
        src_port: flow.client.port,
        dest_ip: flow.server.ip,
        dest_port: flow.server.port,
        proto: flow.transport,
        vlans: flow.vlans,
        community_id_seed,
        ipv6_text,
        pcap_cnt: None,
        in_iface: None,
    }
}

/// The record of a flow that ended for `reason`, classified by the names it carried.
pub fn flow_event(
    flow: &Flow,
    reason: FlowEndReason,
    signatures: &Database,
    header: Header,
) -> Event {
    let name_source = if flow.app_proto == Some(Quic::NAME) {
        MatchSource::QuicSni
    } else {
        MatchSource::Sni
    };
    // A ping or an IPsec tunnel to a vendor's address carries no service of its.
    let ai = if flow.transport.is_inspected() {
        signatures
            .classify_names([
                (flow.sni.as_deref(), name_source),
                (flow.http_host.as_deref(), MatchSource::HttpHost),
                (flow.dns_name.as_deref(), MatchSource::DnsName),
            ])
            .or_else(|| signatures.classify_ip(flow.server.ip))
            .or_else(|| flow.model_server.as_deref().cloned())
    } else {
        None
    };
    Event {
        ai,
        landing: None,
        verdict: None,
        header,
        body: Body::Flow(FlowInfo {
            pkts_toserver: flow.to_server.packets,
            pkts_toclient: flow.to_client.packets,
            bytes_toserver: flow.to_server.bytes,
            bytes_toclient: flow.to_client.bytes,
            start: flow.first_seen,
            end: flow.last_seen,
            age: flow.last_seen.clock_secs_since(flow.first_seen),
            state: flow.state(),
            reason,
            app_proto: flow.app_proto,
            app_proto_orig: flow.app_proto_orig,
            sni: flow.sni.clone(),
            http_host: flow.http_host.clone(),
            dns_name: flow.dns_name.clone(),
            hello_unreadable: flow.hello_unreadable,
            detail: flow.detail,
        }),
    }
}
