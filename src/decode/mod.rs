//! Packet decoding: link layer → (tunnels) → innermost IP → transport.
//!
//! [`decode`] is pure: a captured frame in, a [`Decoded`] view borrowing from it out, or a
//! [`DecodeError`] whose [`DecodeError::reason`] the caller counts. IP and transport headers
//! are read with `etherparse`; link layers and tunnel headers etherparse does not know
//! (VXLAN, Geneve, GRE/ERSPAN, MPLS, PPPoE, GTP-U, Teredo, NFLOG, 802.11) are read here and in
//! [`tunnel`]. Fragmented IP datagrams come out as [`L4::Fragment`]; [`defrag`] puts them back
//! together and [`decode_transport`] continues from the reassembled payload.

pub mod defrag;
pub mod link;
mod tunnel;

use std::net::IpAddr;

use etherparse::{IpNumber, LaxIpv4Slice, LaxIpv6Slice, TcpSlice, UdpSlice};

pub use link::{LinkType, UnsupportedLinkType};

use crate::wire::{Reader, be16};

/// How many encapsulation layers one frame may have before it is rejected. Real mirror
/// traffic has at most four (ERSPAN in GRE in IP, VLAN inside); the bound stops crafted
/// frames from looping through tunnel headers.
pub const MAX_LAYERS: usize = 12;

/// UDP ports whose payload is a tunnel, decapsulated when the header checks out.
mod ports {
    pub const VXLAN: u16 = 4789;
    pub const GENEVE: u16 = 6081;
    pub const GRE_IN_UDP: u16 = 4754;
    pub const GTP_U: u16 = 2152;
    pub const TEREDO: u16 = 3544;
}

/// Why a frame could not be decoded to TCP or UDP. Each value is counted, never logged per
/// packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The link-layer header is shorter than its format.
    #[error("link-layer header truncated")]
    LinkTruncated,
    /// A valid frame that carries no IP (ARP, LLDP, spanning tree, encrypted 802.11…).
    #[error("frame carries no IP")]
    NotIp,
    /// An IPv4 or IPv6 header that is truncated or invalid.
    #[error("invalid IP header")]
    BadIp,
    /// A TCP header that is truncated or has a bad data offset.
    #[error("invalid TCP header")]
    BadTcp,
    /// A UDP header that is truncated.
    #[error("invalid UDP header")]
    BadUdp,
    /// A tunnel header (GRE, MPLS, PPPoE, …) that is truncated or unsupported.
    #[error("invalid tunnel header")]
    BadTunnel,
    /// More than [`MAX_LAYERS`] encapsulations.
    #[error("too many encapsulation layers")]
    TooManyLayers,
}

impl DecodeError {
    /// Every variant, for counters indexed by [`DecodeError::index`].
    pub const ALL: [DecodeError; 7] = [
        Self::LinkTruncated,
        Self::NotIp,
        Self::BadIp,
        Self::BadTcp,
        Self::BadUdp,
        Self::BadTunnel,
        Self::TooManyLayers,
    ];

    /// A stable label for metrics and the stats event.
    pub fn reason(self) -> &'static str {
        match self {
            Self::LinkTruncated => "link_truncated",
            Self::NotIp => "not_ip",
            Self::BadIp => "bad_ip",
            Self::BadTcp => "bad_tcp",
            Self::BadUdp => "bad_udp",
            Self::BadTunnel => "bad_tunnel",
            Self::TooManyLayers => "too_many_layers",
        }
    }

    /// Position in [`DecodeError::ALL`].
    pub fn index(self) -> usize {
        match self {
            Self::LinkTruncated => 0,
            Self::NotIp => 1,
            Self::BadIp => 2,
            Self::BadTcp => 3,
            Self::BadUdp => 4,
            Self::BadTunnel => 5,
            Self::TooManyLayers => 6,
        }
    }
}

/// The VLAN ids of a frame, outermost first. Three are kept, as Suricata's `vlan` array
/// does; deeper tags are decoded but not reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Vlans {
    ids: [u16; 3],
    len: u8,
}

impl Vlans {
    /// No tags.
    pub const EMPTY: Vlans = Vlans {
        ids: [0; 3],
        len: 0,
    };

    fn push(&mut self, id: u16) {
        if let Some(slot) = self.ids.get_mut(usize::from(self.len)) {
            *slot = id;
            self.len = self.len.saturating_add(1);
        }
    }

    /// The ids, outermost first.
    pub fn as_slice(&self) -> &[u16] {
        self.ids.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// TCP header fields the flow table and reassembly need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    /// The acknowledgment number (meaningful when `ack` is set).
    pub ack_number: u32,
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    /// The segment carries a TCP-MD5 (RFC 2385) or TCP-AO (RFC 5925) signature option,
    /// which a passive sensor cannot check.
    pub signed: bool,
    pub payload: &'a [u8],
}

/// Whether TCP options hold a TCP-MD5 (kind 19) or TCP-AO (kind 29) option. Ends: every
/// option consumes at least one byte of the (at most 40) option bytes.
fn has_signature_option(options: &[u8]) -> bool {
    let mut rest = options;
    while let Some((&kind, after)) = rest.split_first() {
        match kind {
            0 => return false,
            1 => rest = after,
            19 | 29 => return true,
            _ => {
                let len = usize::from(after.first().copied().unwrap_or(0)).max(2);
                rest = rest.get(len..).unwrap_or_default();
            }
        }
    }
    false
}

/// UDP header fields and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

/// One fragment of an IP datagram, for [`defrag::Defragmenter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// IPv4 identification or IPv6 fragment header identification.
    pub id: u32,
    /// The protocol of the datagram being fragmented.
    pub protocol: u8,
    /// Where this fragment's bytes go in the datagram's payload.
    pub offset: u16,
    /// Whether more fragments follow.
    pub more: bool,
    pub payload: &'a [u8],
}

/// An ICMP or ICMPv6 message's type and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpMessage {
    pub kind: u8,
    pub code: u8,
}

/// The transport layer of a decoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4<'a> {
    Tcp(TcpSegment<'a>),
    Udp(UdpDatagram<'a>),
    Fragment(Fragment<'a>),
    /// An ICMP (`v6` false) or ICMPv6 message: a flow of its own, never inspected.
    Icmp {
        v6: bool,
        message: IcmpMessage,
    },
    /// IPsec ESP: a flow per security association (SPI), its payload encrypted.
    Esp {
        spi: u32,
    },
    /// SCTP: a flow by its ports, its chunks not inspected.
    Sctp {
        src_port: u16,
        dst_port: u16,
    },
    /// Other protocols (IGMP, OSPF, GRE that is not a tunnel aigress reads…), by IP
    /// protocol number: counted, not tracked.
    Other(u8),
    /// A tunnel's payload that could not be decoded (an ARP frame in VXLAN, a damaged
    /// inner header): its carriers still count; the addresses are the innermost
    /// carrier's.
    Undecodable(DecodeError),
}

/// The outer packet of a tunnel that is a flow of its own, as Suricata tracks it: the UDP
/// datagram of a VXLAN, Geneve, Teredo, GTP-U or GRE-in-UDP tunnel, or the outer IP
/// header of IPv4 or IPv6 carried in IP (protocols 4 and 41).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carrier {
    pub vlans: Vlans,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// UDP ports for a UDP tunnel; `None` for IP in IP.
    pub ports: Option<(u16, u16)>,
    /// The IP protocol number: 17, 4 or 41.
    pub protocol: u8,
    /// Bytes of the carrier packet as captured: the frame for the outermost carrier, the
    /// enclosing tunnel's payload for one inside another.
    pub len: usize,
}

/// The tunnel carriers of a frame, outermost first. Two are kept; a third tunnel inside
/// two others is decoded but its carrier is not tracked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carriers {
    list: [Option<Carrier>; 2],
}

impl Carriers {
    fn push(&mut self, carrier: Carrier) {
        if let Some(slot) = self.list.iter_mut().find(|c| c.is_none()) {
            *slot = Some(carrier);
        }
    }

    /// The carriers, outermost first.
    pub fn iter(&self) -> impl Iterator<Item = &Carrier> {
        self.list.iter().flatten()
    }
}

/// A decoded packet: the innermost IP header's addresses and its transport layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub vlans: Vlans,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub l4: L4<'a>,
    /// The tunnels' outer packets that are flows of their own.
    pub carriers: Carriers,
    /// For a packet taken out of a tunnel, the bytes of the tunnel's payload as captured
    /// (what the inner flow counts, as Suricata counts a tunnelled packet); `None` for a
    /// packet in no tunnel, whose flow counts the frame's length on the wire.
    pub tunnelled_len: Option<usize>,
}

/// A header still to be decoded.
enum Layer<'a> {
    Ethernet(&'a [u8]),
    EtherType(u16, &'a [u8]),
    Ppp(u16, &'a [u8]),
    Mpls(&'a [u8]),
    Ip(&'a [u8]),
    Transport(Network<'a>),
    Fragment(IpAddr, IpAddr, Fragment<'a>),
}

impl Layer<'_> {
    /// The bytes this layer starts with.
    fn len(&self) -> usize {
        match self {
            Self::Ethernet(b)
            | Self::EtherType(_, b)
            | Self::Ppp(_, b)
            | Self::Mpls(b)
            | Self::Ip(b) => b.len(),
            Self::Transport(net) => net.payload.len(),
            Self::Fragment(_, _, f) => f.payload.len(),
        }
    }
}

/// What a transport header leads to.
enum Next<'a> {
    /// The packet's transport layer.
    Done(L4<'a>),
    /// A tunnel's payload, and the tunnel's outer packet when it is a flow of its own.
    Tunnel(Layer<'a>, Option<Carrier>),
}

/// What an IP header says about its payload.
#[derive(Clone, Copy)]
struct Network<'a> {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    payload: &'a [u8],
}

/// Decodes one captured frame.
///
/// # Errors
/// A [`DecodeError`] saying which layer was malformed or that the frame carries no IP.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let first = link_layer(link, frame)?;
    decode_layers(first, Vlans::default(), frame.len())
}

/// Continues decoding from the payload of a reassembled IP datagram.
///
/// # Errors
/// As [`decode`], for the transport header and any tunnel inside it.
pub fn decode_transport(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    payload: &[u8],
    vlans: Vlans,
) -> Result<Decoded<'_>, DecodeError> {
    let net = Network {
        src,
        dst,
        protocol,
        payload,
    };
    decode_layers(Layer::Transport(net), vlans, payload.len())
}

/// Decodes from `layer` to the innermost transport header. `outer_len` is the length of
/// the packet `layer` belongs to, which a tunnel carrier found in it counts.
fn decode_layers(
    mut layer: Layer<'_>,
    mut vlans: Vlans,
    mut outer_len: usize,
) -> Result<Decoded<'_>, DecodeError> {
    let mut carriers = Carriers::default();
    let mut tunnelled_len = None;
    let undecodable = |e, carriers: Carriers, tunnelled_len| match carriers.iter().last() {
        Some(c) => Ok(Decoded {
            vlans: c.vlans,
            src: c.src,
            dst: c.dst,
            l4: L4::Undecodable(e),
            carriers,
            tunnelled_len,
        }),
        None => Err(e),
    };
    for _ in 0..MAX_LAYERS {
        let next = match layer {
            Layer::Ethernet(b) => ethernet(b),
            Layer::EtherType(t, b) => ether_type(t, b, &mut vlans),
            Layer::Ppp(p, b) => ppp_protocol(p, b),
            Layer::Mpls(b) => tunnel::mpls(b),
            Layer::Ip(b) => ip(b),
            Layer::Transport(net) => match transport(net, vlans, outer_len) {
                Ok(Next::Done(l4)) => {
                    return Ok(Decoded {
                        vlans,
                        src: net.src,
                        dst: net.dst,
                        l4,
                        carriers,
                        tunnelled_len,
                    });
                }
                Ok(Next::Tunnel(inner, carrier)) => {
                    if let Some(c) = carrier {
                        carriers.push(c);
                    }
                    outer_len = inner.len();
                    tunnelled_len = Some(outer_len);
                    Ok(inner)
                }
                Err(e) => Err(e),
            },
            Layer::Fragment(src, dst, fragment) => {
                return Ok(Decoded {
                    vlans,
                    src,
                    dst,
                    l4: L4::Fragment(fragment),
                    carriers,
                    tunnelled_len,
                });
            }
        };
        layer = match next {
            Ok(layer) => layer,
            Err(e) => return undecodable(e, carriers, tunnelled_len),
        };
    }
    undecodable(DecodeError::TooManyLayers, carriers, tunnelled_len)
}

fn link_layer(link: LinkType, frame: &[u8]) -> Result<Layer<'_>, DecodeError> {
    let mut r = Reader::new(frame);
    let truncated = |_| DecodeError::LinkTruncated;
    Ok(match link {
        LinkType::Ethernet => Layer::Ethernet(frame),
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => Layer::Ip(frame),
        LinkType::Null | LinkType::Loop => {
            let family = r.array::<4>().map_err(truncated)?;
            // NULL is in the capturing host's byte order, LOOP in network order; the
            // families are small numbers, so whichever end is non-zero tells.
            let value = u32::from_le_bytes(family).min(u32::from_be_bytes(family));
            match value {
                2 | 24 | 28 | 30 => Layer::Ip(r.rest()),
                _ => return Err(DecodeError::NotIp),
            }
        }
        LinkType::LinuxSll => {
            let header = r.bytes(16).map_err(truncated)?;
            let protocol = be16(header, 14).ok_or(DecodeError::LinkTruncated)?;
            Layer::EtherType(protocol, r.rest())
        }
        LinkType::LinuxSll2 => {
            let header = r.bytes(20).map_err(truncated)?;
            let protocol = be16(header, 0).ok_or(DecodeError::LinkTruncated)?;
            Layer::EtherType(protocol, r.rest())
        }
        LinkType::Ppp => tunnel::ppp(frame)?,
        LinkType::CiscoHdlc => {
            let header = r.bytes(4).map_err(truncated)?;
            let protocol = be16(header, 2).ok_or(DecodeError::LinkTruncated)?;
            Layer::EtherType(protocol, r.rest())
        }
        LinkType::Nflog => Layer::Ip(tunnel::nflog_payload(frame)?),
        LinkType::Ieee80211 => tunnel::wlan(frame)?,
        LinkType::Radiotap => {
            r.skip(2).map_err(truncated)?;
            let len = r.array::<2>().map_err(truncated)?;
            let header = usize::from(u16::from_le_bytes(len));
            tunnel::wlan(frame.get(header..).ok_or(DecodeError::LinkTruncated)?)?
        }
        LinkType::Fddi => {
            r.skip(13).map_err(truncated)?;
            tunnel::llc_snap(r.rest())?
        }
    })
}

fn ethernet(frame: &[u8]) -> Result<Layer<'_>, DecodeError> {
    let header = etherparse::Ethernet2HeaderSlice::from_slice(frame)
        .map_err(|_| DecodeError::LinkTruncated)?;
    let payload = frame.get(header.slice().len()..).unwrap_or_default();
    let ether_type = header.ether_type().0;
    if ether_type < 0x0600 {
        // An 802.3 length field: IP only rides on it behind an LLC/SNAP header.
        return tunnel::llc_snap(payload);
    }
    Ok(Layer::EtherType(ether_type, payload))
}

fn ether_type<'a>(
    ether_type: u16,
    payload: &'a [u8],
    vlans: &mut Vlans,
) -> Result<Layer<'a>, DecodeError> {
    Ok(match ether_type {
        0x0800 | 0x86dd => Layer::Ip(payload),
        0x8100 | 0x88a8 | 0x9100 | 0x9200 => {
            let tag = etherparse::SingleVlanHeaderSlice::from_slice(payload)
                .map_err(|_| DecodeError::LinkTruncated)?;
            vlans.push(tag.vlan_identifier().value());
            let inner = payload.get(tag.slice().len()..).unwrap_or_default();
            Layer::EtherType(tag.ether_type().0, inner)
        }
        0x8847 | 0x8848 => Layer::Mpls(payload),
        0x8864 => tunnel::pppoe_session(payload)?,
        0x894f => tunnel::nsh(payload)?,
        0x6558 => Layer::Ethernet(payload),
        _ => return Err(DecodeError::NotIp),
    })
}

fn ppp_protocol(protocol: u16, payload: &[u8]) -> Result<Layer<'_>, DecodeError> {
    match protocol {
        0x0021 | 0x0057 => Ok(Layer::Ip(payload)),
        0x0281 | 0x0283 => Ok(Layer::Mpls(payload)),
        _ => Err(DecodeError::NotIp),
    }
}

fn ip(packet: &[u8]) -> Result<Layer<'_>, DecodeError> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => {
            let (slice, _auth_error) =
                LaxIpv4Slice::from_slice(packet).map_err(|_| DecodeError::BadIp)?;
            let header = slice.header();
            let payload = slice.payload();
            if payload.fragmented {
                let fragment = Fragment {
                    id: u32::from(header.identification()),
                    protocol: header.protocol().0,
                    offset: header.fragments_offset().byte_offset(),
                    more: header.more_fragments(),
                    payload: payload.payload,
                };
                return Ok(Layer::Fragment(
                    header.source_addr().into(),
                    header.destination_addr().into(),
                    fragment,
                ));
            }
            Ok(Layer::Transport(Network {
                src: header.source_addr().into(),
                dst: header.destination_addr().into(),
                protocol: payload.ip_number.0,
                payload: payload.payload,
            }))
        }
        Some(6) => {
            let (slice, ext_error) =
                LaxIpv6Slice::from_slice(packet).map_err(|_| DecodeError::BadIp)?;
            if ext_error.is_some() {
                return Err(DecodeError::BadIp);
            }
            let header = slice.header();
            let payload = slice.payload();
            if payload.fragmented {
                let fragment_header =
                    slice
                        .extensions()
                        .clone()
                        .into_iter()
                        .find_map(|ext| match ext {
                            etherparse::Ipv6ExtensionSlice::Fragment(f) => Some(f),
                            _ => None,
                        });
                let f = fragment_header.ok_or(DecodeError::BadIp)?;
                let fragment = Fragment {
                    id: f.identification(),
                    protocol: payload.ip_number.0,
                    offset: f.fragment_offset().byte_offset(),
                    more: f.more_fragments(),
                    payload: payload.payload,
                };
                return Ok(Layer::Fragment(
                    header.source_addr().into(),
                    header.destination_addr().into(),
                    fragment,
                ));
            }
            Ok(Layer::Transport(Network {
                src: header.source_addr().into(),
                dst: header.destination_addr().into(),
                protocol: payload.ip_number.0,
                payload: payload.payload,
            }))
        }
        Some(_) => Err(DecodeError::BadIp),
        None => Err(DecodeError::LinkTruncated),
    }
}

/// Decodes the transport header (finishing the packet) or an IP-level tunnel
/// (continuing). `packet_len` is the length of the packet the header is in.
fn transport(net: Network<'_>, vlans: Vlans, packet_len: usize) -> Result<Next<'_>, DecodeError> {
    let done = |l4| Ok(Next::Done(l4));
    let carrier = |ports| Carrier {
        vlans,
        src: net.src,
        dst: net.dst,
        ports,
        protocol: net.protocol,
        len: packet_len,
    };
    match IpNumber(net.protocol) {
        IpNumber::TCP => {
            let tcp = TcpSlice::from_slice(net.payload).map_err(|_| DecodeError::BadTcp)?;
            done(L4::Tcp(TcpSegment {
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                seq: tcp.sequence_number(),
                ack_number: tcp.acknowledgment_number(),
                syn: tcp.syn(),
                ack: tcp.ack(),
                fin: tcp.fin(),
                rst: tcp.rst(),
                signed: tcp.rst() && has_signature_option(tcp.options()),
                payload: tcp.payload(),
            }))
        }
        IpNumber::UDP => {
            let udp = UdpSlice::from_slice_lax(net.payload).map_err(|_| DecodeError::BadUdp)?;
            let datagram = UdpDatagram {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
                payload: udp.payload(),
            };
            match udp_tunnel(&datagram) {
                Some(inner) => {
                    let ports = Some((datagram.src_port, datagram.dst_port));
                    Ok(Next::Tunnel(inner, Some(carrier(ports))))
                }
                None => done(L4::Udp(datagram)),
            }
        }
        IpNumber::IPV4 | IpNumber::IPV6 => {
            Ok(Next::Tunnel(Layer::Ip(net.payload), Some(carrier(None))))
        }
        // Suricata tracks no flow for a GRE carrier, only for what it carries.
        IpNumber::GRE => Ok(Next::Tunnel(tunnel::gre(net.payload)?, None)),
        // A header too short to say its type or SPI leaves the packet counted as a
        // protocol aigress does not track.
        IpNumber::ICMP | IpNumber::IPV6_ICMP => match net.payload {
            [kind, code, ..] => done(L4::Icmp {
                v6: net.protocol == IpNumber::IPV6_ICMP.0,
                message: IcmpMessage {
                    kind: *kind,
                    code: *code,
                },
            }),
            _ => done(L4::Other(net.protocol)),
        },
        IpNumber::ENCAPSULATING_SECURITY_PAYLOAD => match net.payload {
            [a, b, c, d, ..] => done(L4::Esp {
                spi: u32::from_be_bytes([*a, *b, *c, *d]),
            }),
            _ => done(L4::Other(net.protocol)),
        },
        IpNumber::SCTP => match net.payload {
            [a, b, c, d, ..] => done(L4::Sctp {
                src_port: u16::from_be_bytes([*a, *b]),
                dst_port: u16::from_be_bytes([*c, *d]),
            }),
            _ => done(L4::Other(net.protocol)),
        },
        other => done(L4::Other(other.0)),
    }
}

/// The inner layer of a UDP tunnel, when the port and the header say it is one. A payload
/// that fails the check stays plain UDP: an application may use the port for itself.
fn udp_tunnel<'a>(udp: &UdpDatagram<'a>) -> Option<Layer<'a>> {
    let either = |port| udp.src_port == port || udp.dst_port == port;
    if udp.dst_port == ports::VXLAN {
        tunnel::vxlan(udp.payload)
    } else if udp.dst_port == ports::GENEVE {
        tunnel::geneve(udp.payload)
    } else if udp.dst_port == ports::GRE_IN_UDP {
        tunnel::gre(udp.payload).ok()
    } else if either(ports::GTP_U) {
        tunnel::gtp_u(udp.payload)
    } else if either(ports::TEREDO) {
        tunnel::teredo(udp.payload)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const PAYLOAD: &[u8] = b"\x16\x03\x01hello";

    /// IPv4 10.0.0.1:40000 → 10.0.0.2:443 TCP carrying [`PAYLOAD`].
    fn ipv4_tcp() -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 443, 1000, 512)
            .write(&mut v, PAYLOAD)
            .unwrap();
        v
    }

    fn ethernet(ether_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        v.extend_from_slice(&ether_type.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn outer_ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        let header = etherparse::Ipv4Header::new(
            u16::try_from(payload.len()).unwrap(),
            64,
            IpNumber(protocol),
            [192, 0, 2, 1],
            [192, 0, 2, 2],
        )
        .unwrap();
        header.write(&mut v).unwrap();
        v.extend_from_slice(payload);
        ethernet(0x0800, &v)
    }

    fn outer_udp(dst_port: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .udp(50000, dst_port)
            .write(&mut v, payload)
            .unwrap();
        v
    }

    fn assert_inner_tcp(frame: &[u8], link: LinkType) -> Decoded<'_> {
        let d = decode(link, frame).unwrap();
        assert_eq!(d.src, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(d.dst, IpAddr::from([10, 0, 0, 2]));
        let L4::Tcp(tcp) = d.l4 else {
            panic!("{:?}", d.l4)
        };
        assert_eq!(
            (tcp.src_port, tcp.dst_port, tcp.payload),
            (40000, 443, PAYLOAD)
        );
        d
    }

    #[test]
    fn qinq_tags_are_reported_outermost_first() {
        let mut tags = vec![0x00, 100, 0x81, 0x00, 0x00, 200, 0x08, 0x00];
        tags.extend_from_slice(&ipv4_tcp());
        let frame = ethernet(0x88a8, &tags);
        let d = assert_inner_tcp(&frame, LinkType::Ethernet);
        assert_eq!(d.vlans.as_slice(), &[100, 200]);
    }

    #[test]
    fn mpls_label_stack() {
        let mut stack = vec![0x00, 0x01, 0x40, 0x40, 0x00, 0x01, 0x51, 0x40];
        stack.extend_from_slice(&ipv4_tcp());
        assert_inner_tcp(&ethernet(0x8847, &stack), LinkType::Ethernet);
    }

    #[test]
    fn erspan_type_ii_and_iii() {
        let inner = ethernet(0x0800, &ipv4_tcp());
        let mut type2 = vec![0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 7];
        type2.extend_from_slice(&[0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
        type2.extend_from_slice(&inner);
        assert_inner_tcp(&outer_ipv4(47, &type2), LinkType::Ethernet);

        let mut type3 = vec![0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 7];
        type3.extend_from_slice(&[0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]);
        type3.extend_from_slice(&[0; 8]);
        type3.extend_from_slice(&inner);
        assert_inner_tcp(&outer_ipv4(47, &type3), LinkType::Ethernet);

        let mut type1 = vec![0x00, 0x00, 0x88, 0xbe];
        type1.extend_from_slice(&inner);
        assert_inner_tcp(&outer_ipv4(47, &type1), LinkType::Ethernet);
    }

    #[test]
    fn gre_with_key_carrying_ip() {
        let mut gre = vec![0x20, 0x00, 0x08, 0x00, 0, 0, 0, 42];
        gre.extend_from_slice(&ipv4_tcp());
        assert_inner_tcp(&outer_ipv4(47, &gre), LinkType::Ethernet);
    }

    #[test]
    fn vxlan_and_geneve() {
        let inner = ethernet(0x0800, &ipv4_tcp());
        let mut vxlan = vec![0x08, 0, 0, 0, 0, 0, 0x7b, 0];
        vxlan.extend_from_slice(&inner);
        assert_inner_tcp(&outer_udp(4789, &vxlan), LinkType::Ethernet);

        let mut geneve = vec![0x01, 0x00, 0x65, 0x58, 0, 0, 0x7b, 0, 0, 0, 0, 0];
        geneve.extend_from_slice(&inner);
        assert_inner_tcp(&outer_udp(6081, &geneve), LinkType::Ethernet);
    }

    #[test]
    fn a_bad_tunnel_header_leaves_plain_udp() {
        let frame = outer_udp(4789, b"\x00 not vxlan");
        let d = decode(LinkType::Ethernet, &frame).unwrap();
        assert!(matches!(d.l4, L4::Udp(u) if u.dst_port == 4789));
    }

    #[test]
    fn pppoe_session() {
        let inner = ipv4_tcp();
        let mut pppoe = vec![0x11, 0x00, 0x12, 0x34];
        pppoe.extend_from_slice(&u16::try_from(inner.len() + 2).unwrap().to_be_bytes());
        pppoe.extend_from_slice(&[0x00, 0x21]);
        pppoe.extend_from_slice(&inner);
        assert_inner_tcp(&ethernet(0x8864, &pppoe), LinkType::Ethernet);

        // With protocol field compression the protocol is the one byte 0x21.
        let mut compressed = vec![0x11, 0x00, 0x12, 0x34];
        compressed.extend_from_slice(&u16::try_from(inner.len() + 1).unwrap().to_be_bytes());
        compressed.push(0x21);
        compressed.extend_from_slice(&inner);
        assert_inner_tcp(&ethernet(0x8864, &compressed), LinkType::Ethernet);
    }

    #[test]
    fn nsh_of_either_md_type() {
        // MD type 1: version 0, length 6 words, next protocol IPv4, path header, 16 bytes
        // of fixed context.
        let mut md1 = vec![0x0f, 0xc6, 0x01, 0x01, 0, 0, 0x01, 0xff];
        md1.extend_from_slice(&[0; 16]);
        md1.extend_from_slice(&ipv4_tcp());
        assert_inner_tcp(&ethernet(0x894f, &md1), LinkType::Ethernet);
        // MD type 2 without context headers, carrying Ethernet.
        let mut md2 = vec![0x0f, 0xc2, 0x02, 0x03, 0, 0, 0x01, 0xff];
        md2.extend_from_slice(&ethernet(0x0800, &ipv4_tcp()));
        assert_inner_tcp(&ethernet(0x894f, &md2), LinkType::Ethernet);
        // MD type 1 with the wrong length, and an unknown version: refused.
        let mut bad = md1.clone();
        bad[1] = 0xc2;
        assert!(decode(LinkType::Ethernet, &ethernet(0x894f, &bad)).is_err());
        bad[0] = 0x4f;
        assert!(decode(LinkType::Ethernet, &ethernet(0x894f, &bad)).is_err());
    }

    #[test]
    fn cooked_null_and_raw_link_types() {
        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&ipv4_tcp());
        assert_inner_tcp(&sll, LinkType::LinuxSll);

        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        sll2.extend_from_slice(&ipv4_tcp());
        assert_inner_tcp(&sll2, LinkType::LinuxSll2);

        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(&ipv4_tcp());
        assert_inner_tcp(&null, LinkType::Null);

        assert_inner_tcp(&ipv4_tcp(), LinkType::Raw);
    }

    #[test]
    fn ipv6_extension_headers_and_6in4() {
        let mut v6 = Vec::new();
        PacketBuilder::ipv6([0x20; 16], [0x21; 16], 64)
            .tcp(1, 2, 3, 4)
            .write(&mut v6, b"x")
            .unwrap();
        // Insert a hop-by-hop header: next header TCP, length 0 (8 bytes).
        let mut with_ext = v6[..40].to_vec();
        with_ext[6] = 0;
        let payload_len = u16::from_be_bytes([v6[4], v6[5]]) + 8;
        with_ext[4..6].copy_from_slice(&payload_len.to_be_bytes());
        with_ext.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        with_ext.extend_from_slice(&v6[40..]);
        let d = decode(LinkType::Raw, &with_ext).unwrap();
        assert!(matches!(d.l4, L4::Tcp(t) if t.payload == b"x"));

        let frame = outer_ipv4(41, &with_ext);
        let d = decode(LinkType::Ethernet, &frame).unwrap();
        assert_eq!(d.src, IpAddr::from([0x20; 16]));
    }

    #[test]
    fn fragments_are_handed_to_reassembly() {
        let mut packet = ipv4_tcp();
        packet[6] = 0x20; // more fragments
        let d = decode(LinkType::Raw, &packet).unwrap();
        assert!(matches!(d.l4, L4::Fragment(f) if f.offset == 0 && f.more && f.protocol == 6));
    }

    #[test]
    fn nested_tunnels_stop_at_the_layer_bound() {
        let mut packet = ipv4_tcp();
        for _ in 0..MAX_LAYERS {
            let mut v = Vec::new();
            etherparse::Ipv4Header::new(
                u16::try_from(packet.len()).unwrap(),
                64,
                IpNumber::IPV4,
                [192, 0, 2, 1],
                [192, 0, 2, 2],
            )
            .unwrap()
            .write(&mut v)
            .unwrap();
            v.extend_from_slice(&packet);
            packet = v;
        }
        // The frame is still counted in the flows of its two outermost carriers.
        let d = decode(LinkType::Raw, &packet).unwrap();
        assert_eq!(d.l4, L4::Undecodable(DecodeError::TooManyLayers));
        assert_eq!(d.carriers.iter().count(), 2);
        assert!(d.carriers.iter().all(|c| c.protocol == 4));
        assert_eq!(d.carriers.iter().next().unwrap().len, packet.len());
    }

    #[test]
    fn icmp_esp_and_sctp_are_transports_of_their_own() {
        let frame = outer_ipv4(1, &[8, 0, 0xf7, 0xff, 0, 1, 0, 1]);
        let d = decode(LinkType::Ethernet, &frame).unwrap();
        let message = IcmpMessage { kind: 8, code: 0 };
        assert_eq!(d.l4, L4::Icmp { v6: false, message });
        let frame = outer_ipv4(50, &[0, 0, 0x01, 0x41, 0, 0, 0, 1, 0xaa]);
        let d = decode(LinkType::Ethernet, &frame).unwrap();
        assert_eq!(d.l4, L4::Esp { spi: 321 });
        let frame = outer_ipv4(132, &[0x1f, 0x90, 0x00, 0x07, 0, 0, 0, 0]);
        let d = decode(LinkType::Ethernet, &frame).unwrap();
        assert_eq!(
            d.l4,
            L4::Sctp {
                src_port: 8080,
                dst_port: 7
            }
        );
        // Too short to say the type or SPI: counted as a protocol not tracked.
        let short = outer_ipv4(50, &[0, 0]);
        let d = decode(LinkType::Ethernet, &short).unwrap();
        assert_eq!(d.l4, L4::Other(50));
        assert!(d.tunnelled_len.is_none() && d.carriers.iter().next().is_none());
    }

    #[test]
    fn a_udp_tunnel_is_a_carrier_and_its_payload_what_the_inner_flow_counts() {
        let inner = ethernet(0x0800, &ipv4_tcp());
        let mut vxlan = vec![0x08, 0, 0, 0, 0, 0, 0x2a, 0];
        vxlan.extend_from_slice(&inner);
        let frame = outer_udp(4789, &vxlan);
        let d = assert_inner_tcp(&frame, LinkType::Ethernet);
        assert_eq!(d.tunnelled_len, Some(inner.len()));
        let carriers: Vec<_> = d.carriers.iter().collect();
        assert_eq!(carriers.len(), 1);
        assert_eq!(carriers[0].ports, Some((50000, 4789)));
        assert_eq!(carriers[0].protocol, 17);
        assert_eq!(carriers[0].len, frame.len());

        // An ARP frame inside: the carrier still counts, the inner is undecodable.
        let mut arp = vec![0x08, 0, 0, 0, 0, 0, 0x2a, 0];
        arp.extend_from_slice(&ethernet(0x0806, &[0; 28]));
        let frame = outer_udp(4789, &arp);
        let d = decode(LinkType::Ethernet, &frame).unwrap();
        assert_eq!(d.l4, L4::Undecodable(DecodeError::NotIp));
        assert_eq!(d.src, IpAddr::from([192, 0, 2, 1]));
        assert_eq!(d.carriers.iter().count(), 1);
    }

    #[test]
    fn every_prefix_of_every_frame_decodes_or_errors_without_panic() {
        let inner = ethernet(0x0800, &ipv4_tcp());
        let mut erspan = vec![
            0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 7, 0x10, 0x01, 0, 0, 0, 0, 0, 0,
        ];
        erspan.extend_from_slice(&inner);
        let mut vxlan = vec![0x08, 0, 0, 0, 0, 0, 0x7b, 0];
        vxlan.extend_from_slice(&inner);
        let frames = [
            (LinkType::Ethernet, outer_ipv4(47, &erspan)),
            (LinkType::Ethernet, outer_udp(4789, &vxlan)),
            (
                LinkType::Radiotap,
                vec![0, 0, 8, 0, 0, 0, 0, 0, 0x88, 0x01, 0, 0],
            ),
            (LinkType::Nflog, vec![2, 0, 0, 0, 8, 0, 9, 0, 0x45, 0, 0, 0]),
        ];
        for (link, frame) in frames {
            // Whatever a prefix decodes to lies within the prefix.
            for cut in 0..=frame.len() {
                let prefix = &frame[..cut];
                if let Ok(d) = decode(link, prefix) {
                    let inside = |b: &[u8]| {
                        let (start, end) =
                            (prefix.as_ptr() as usize, prefix.as_ptr() as usize + cut);
                        let at = b.as_ptr() as usize;
                        b.is_empty() || (at >= start && at + b.len() <= end)
                    };
                    match d.l4 {
                        L4::Tcp(t) => assert!(inside(t.payload)),
                        L4::Udp(u) => assert!(inside(u.payload)),
                        _ => {}
                    }
                }
            }
            assert!(decode(link, &frame[..0]).is_err());
        }
    }
}
