//! Capture link types: what the first bytes of a captured frame are.
//!
//! The numbers are libpcap's `LINKTYPE_*` values
//! (<https://www.tcpdump.org/linktypes.html>). Each link type says how to reach the
//! first network-layer header; [`super::decode`] does the rest.

use std::fmt;

/// A link type aigress can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// `LINKTYPE_ETHERNET` (1), with any number of 802.1Q/802.1ad tags.
    Ethernet,
    /// `LINKTYPE_NULL` (0): BSD loopback, a 4-byte address family in host byte order.
    Null,
    /// `LINKTYPE_LOOP` (108): OpenBSD loopback, the family in network byte order.
    Loop,
    /// `LINKTYPE_RAW` (101, and the DLT values 12 and 14 some systems write): an IP packet.
    Raw,
    /// `LINKTYPE_IPV4` (228).
    Ipv4,
    /// `LINKTYPE_IPV6` (229).
    Ipv6,
    /// `LINKTYPE_LINUX_SLL` (113): Linux "cooked" capture, version 1.
    LinuxSll,
    /// `LINKTYPE_LINUX_SLL2` (276): Linux "cooked" capture, version 2.
    LinuxSll2,
    /// `LINKTYPE_PPP` (9) and `LINKTYPE_PPP_HDLC` (50).
    Ppp,
    /// `LINKTYPE_C_HDLC` (104): Cisco HDLC.
    CiscoHdlc,
    /// `LINKTYPE_NFLOG` (239): Linux netfilter log messages.
    Nflog,
    /// `LINKTYPE_IEEE802_11` (105): 802.11 frames without a radio header.
    Ieee80211,
    /// `LINKTYPE_IEEE802_11_RADIOTAP` (127): 802.11 frames behind a radiotap header.
    Radiotap,
    /// `LINKTYPE_FDDI` (10).
    Fddi,
}

/// A link type number aigress does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("link type {number} ({name}) is not supported; supported: {SUPPORTED}")]
pub struct UnsupportedLinkType {
    /// libpcap's number for it.
    pub number: i32,
    /// libpcap's name for it, or "unknown".
    pub name: &'static str,
}

const SUPPORTED: &str = "EN10MB, NULL, LOOP, RAW, IPV4, IPV6, LINUX_SLL, LINUX_SLL2, PPP, \
                         C_HDLC, NFLOG, IEEE802_11, IEEE802_11_RADIOTAP, FDDI";

impl LinkType {
    /// Maps libpcap's link type number.
    ///
    /// # Errors
    /// [`UnsupportedLinkType`] names any other number.
    pub fn from_number(number: i32) -> Result<Self, UnsupportedLinkType> {
        Ok(match number {
            0 => Self::Null,
            1 => Self::Ethernet,
            9 | 50 => Self::Ppp,
            10 => Self::Fddi,
            12 | 14 | 101 => Self::Raw,
            104 => Self::CiscoHdlc,
            105 => Self::Ieee80211,
            108 => Self::Loop,
            113 => Self::LinuxSll,
            127 => Self::Radiotap,
            228 => Self::Ipv4,
            229 => Self::Ipv6,
            239 => Self::Nflog,
            276 => Self::LinuxSll2,
            _ => {
                return Err(UnsupportedLinkType {
                    number,
                    name: unsupported_name(number),
                });
            }
        })
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ethernet => "EN10MB",
            Self::Null => "NULL",
            Self::Loop => "LOOP",
            Self::Raw => "RAW",
            Self::Ipv4 => "IPV4",
            Self::Ipv6 => "IPV6",
            Self::LinuxSll => "LINUX_SLL",
            Self::LinuxSll2 => "LINUX_SLL2",
            Self::Ppp => "PPP",
            Self::CiscoHdlc => "C_HDLC",
            Self::Nflog => "NFLOG",
            Self::Ieee80211 => "IEEE802_11",
            Self::Radiotap => "IEEE802_11_RADIOTAP",
            Self::Fddi => "FDDI",
        })
    }
}

/// Names for the link types people most often hand us by mistake.
fn unsupported_name(number: i32) -> &'static str {
    match number {
        6 => "IEEE802_5 (Token Ring)",
        8 => "SLIP",
        11 => "ATM_RFC1483",
        107 => "FRELAY",
        119 => "PRISM_HEADER",
        143 => "DOCSIS",
        147..=162 => "USER",
        163 => "IEEE802_11_AVS",
        187 => "BLUETOOTH_HCI_H4",
        192 => "PPI",
        195 => "IEEE802_15_4",
        220 => "USB_LINUX_MMAPPED",
        227 => "CAN_SOCKETCAN",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_known_numbers_and_names_unknown_ones() {
        assert_eq!(LinkType::from_number(1), Ok(LinkType::Ethernet));
        assert_eq!(LinkType::from_number(276), Ok(LinkType::LinuxSll2));
        let err = LinkType::from_number(195).unwrap_err();
        assert!(err.to_string().contains("195 (IEEE802_15_4)"), "{err}");
    }
}
