//! QUIC Initial reading on real Chromium 156 traffic: its ~1.9 KB ML-KEM ClientHello comes
//! as CRYPTO frames spread over two Initial datagrams, out of order, mixed with PING and
//! PADDING.

mod common;

use aigress::decode::{L4, LinkType, decode};
use aigress::flow::budget::BufferBudget;
use aigress::protocols::quic::{Finding as QuicFinding, QuicInspection};

/// The client's first two datagrams to chat.mistral.ai.
fn chromium_first_flight() -> Vec<Vec<u8>> {
    let path = common::captures_dir().join("ai-clients__d_quic_chromium_mtu1500.pcap");
    let mut capture = pcap::Capture::from_file(path).expect("capture opens");
    let link = LinkType::from_number(capture.get_datalink().0).expect("link type");
    let mut datagrams = Vec::new();
    let mut client_port = None;
    while let Ok(packet) = capture.next_packet() {
        let Ok(decoded) = decode(link, packet.data) else {
            continue;
        };
        let L4::Udp(udp) = decoded.l4 else { continue };
        if udp.dst_port != 443 {
            continue;
        }
        if *client_port.get_or_insert(udp.src_port) != udp.src_port {
            continue;
        }
        datagrams.push(udp.payload.to_vec());
        if datagrams.len() == 2 {
            break;
        }
    }
    assert_eq!(datagrams.len(), 2);
    datagrams
}

fn hellos(datagrams: &[&[u8]]) -> Vec<QuicFinding> {
    let mut out = Vec::new();
    let Some((first, rest)) = datagrams.split_first() else {
        return out;
    };
    let Some(mut quic) =
        QuicInspection::start(first, &BufferBudget::default(), &mut |f| out.push(f))
    else {
        return out;
    };
    for d in rest {
        quic.client_datagram(d, &mut |f| out.push(f));
    }
    quic.give_up(&mut |f| out.push(f));
    out
}

fn sni(finding: &QuicFinding) -> Option<&str> {
    match finding {
        QuicFinding::ClientHello { hello, .. } => hello.sni.as_deref(),
        _ => None,
    }
}

#[test]
fn a_hello_over_two_datagrams_is_read_in_either_order() {
    let d = chromium_first_flight();
    for order in [[&d[0][..], &d[1][..]], [&d[1][..], &d[0][..]]] {
        let found = hellos(&order);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(sni(&found[0]), Some("chat.mistral.ai"));
        let QuicFinding::ClientHello { version, hello } = &found[0] else {
            unreachable!()
        };
        assert_eq!(*version, 1);
        assert!(hello.pq_key_share && hello.ja4.starts_with("q13d"));
    }
}

#[test]
fn half_a_hello_is_unreadable_not_silent() {
    let d = chromium_first_flight();
    assert_eq!(hellos(&[&d[0]]), vec![QuicFinding::Unreadable]);
}

#[test]
fn a_retransmitted_datagram_does_not_repeat_the_hello() {
    let d = chromium_first_flight();
    let found = hellos(&[&d[0], &d[0], &d[1], &d[1]]);
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn tampered_and_truncated_initials_are_not_read() {
    let d = chromium_first_flight();
    let mut tampered = d[0].clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(QuicInspection::start(&tampered, &BufferBudget::default(), &mut |_| {}).is_none());
    for cut in [0, 1, 5, 20, 40, d[0].len() / 2, d[0].len() - 1] {
        assert!(
            QuicInspection::start(&d[0][..cut], &BufferBudget::default(), &mut |_| {}).is_none(),
            "cut {cut}"
        );
    }
    assert!(
        QuicInspection::start(
            b"\xc0\x00\x00\x00\x01garbage",
            &BufferBudget::default(),
            &mut |_| {}
        )
        .is_none()
    );
}

#[test]
fn a_spent_buffer_budget_refuses_the_crypto_data_and_gives_it_back() {
    let d = chromium_first_flight();
    let budget = BufferBudget::new(1024);
    let mut out = Vec::new();
    let quic =
        QuicInspection::start(&d[0], &budget, &mut |f| out.push(f)).expect("a client Initial");
    assert!(quic.is_done());
    assert!(out.contains(&QuicFinding::BudgetRefused), "{out:?}");
    assert_eq!(budget.used(), 0);
    // With room, the first datagram's part of the hello is held and counted.
    let budget = BufferBudget::default();
    let quic = QuicInspection::start(&d[0], &budget, &mut |_| {}).expect("a client Initial");
    assert!(budget.used() > 0);
    drop(quic);
    assert_eq!(budget.used(), 0);
}
