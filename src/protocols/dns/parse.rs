//! DNS messages (RFC 1035 §4, RFC 3596 AAAA, RFC 9460 SVCB/HTTPS).
//!
//! [`parse_message`] reads a whole message into an owned [`Message`]: DNS messages become
//! events one for one, so owning the strings here costs nothing extra. Name compression is
//! followed with a bound on jumps and on the name's length, so a pointer loop is an error.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::{Reader, Truncated};

/// RFC 1035 §2.3.4: a name is at most 255 octets on the wire.
pub const MAX_NAME_LEN: usize = 255;
/// Compression pointers followed for one name. A legitimate name needs one per label at
/// most; 64 is above any real chain and stops loops at once.
pub const MAX_POINTER_JUMPS: usize = 64;
/// Labels and pointers followed while reading all the names of one message. A name costs
/// at most ~190 steps (127 one-byte labels reach the length bound, plus the jumps), and a
/// real 64 KiB zone-transfer message of 2,000 records about 10,000; beyond this budget the
/// remaining records are not read, so a message built of pointer chains costs microseconds,
/// not seconds.
pub const MAX_NAME_STEPS: usize = 16_384;
/// Entries kept from one SVCB parameter list (alpn ids, address hints).
const MAX_SVC_VALUES: usize = 32;

/// Why bytes are not a DNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    #[error("DNS message truncated")]
    Truncated,
    #[error("DNS name compression loops or points outside the message")]
    BadPointer,
    #[error("DNS name longer than 255 octets")]
    NameTooLong,
    #[error("DNS label type not defined")]
    BadLabel,
    #[error("DNS names of the message need more than {MAX_NAME_STEPS} steps to read")]
    TooMuchWork,
}

impl From<Truncated> for DnsError {
    fn from(_: Truncated) -> Self {
        DnsError::Truncated
    }
}

/// A question entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// As sent (Suricata keeps the case too), without the trailing dot; `<Root>` for the root.
    pub name: String,
    pub qtype: u16,
}

/// Service parameters of an SVCB or HTTPS record that matter for attribution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Svcb {
    pub priority: u16,
    pub target: String,
    pub alpn: Vec<String>,
    pub ipv4hint: Vec<Ipv4Addr>,
    pub ipv6hint: Vec<Ipv6Addr>,
    /// An `ech` parameter publishes an Encrypted Client Hello configuration.
    pub ech: bool,
}

/// A zone's start of authority (RFC 1035 §3.3.13).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Soa {
    pub mname: String,
    pub rname: String,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

/// Record data, decoded for the types aigress reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// CNAME, NS, PTR, DNAME: a single domain name.
    Name(String),
    Mx {
        preference: u16,
        exchange: String,
    },
    /// The character-strings, as sent.
    Txt(Vec<Vec<u8>>),
    /// NULL (type 10): opaque bytes.
    Null(Vec<u8>),
    Soa(Soa),
    Svcb(Svcb),
    /// Anything else, by length.
    Other(usize),
}

/// A resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub ttl: u32,
    pub data: RData,
}

/// A DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    /// The header's flags word, as sent.
    pub flags: u16,
    pub response: bool,
    pub opcode: u8,
    pub rcode: u8,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    /// The [`MAX_NAME_STEPS`] budget ran out: records after that point were not read.
    pub work_limited: bool,
}

/// Record types by name, as Suricata 8's EVE writes them (its table, and the IANA
/// mnemonics of SVCB, CAA, IXFR and AXFR, which Suricata writes as numbers); any other type
/// as its number, as Suricata writes it.
pub fn type_name(rtype: u16) -> String {
    let name = match rtype {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAPPTR",
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        other => return other.to_string(),
    };
    name.to_owned()
}

/// Response codes by name (RFC 1035, RFC 2136, RFC 6895).
pub fn rcode_name(rcode: u8) -> String {
    let name = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        other => return format!("RCODE{other}"),
    };
    name.to_owned()
}

/// Parses a whole DNS message.
///
/// A message whose sections end early (a truncated UDP capture, a lying count) keeps what
/// was read before the cut when at least the questions are whole; tshark does the same.
///
/// # Errors
/// [`DnsError`] when the header or a question cannot be read.
pub fn parse_message(msg: &[u8]) -> Result<Message, DnsError> {
    let mut r = Reader::new(msg);
    let id = r.u16()?;
    let flags = r.u16()?;
    let counts = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
    let [qd, an, ns, ar] = counts.map(usize::from);
    let mut message = Message {
        id,
        flags,
        response: flags & 0x8000 != 0,
        opcode: u8::try_from((flags >> 11) & 0xf).unwrap_or(0),
        rcode: u8::try_from(flags & 0xf).unwrap_or(0),
        questions: Vec::with_capacity(qd.min(8)),
        answers: Vec::new(),
        authorities: Vec::new(),
        additionals: Vec::new(),
        work_limited: false,
    };
    let mut names = Names {
        msg,
        steps_left: MAX_NAME_STEPS,
    };
    // Each question and record consumes at least one byte, so these loops end with the
    // message even when a count claims 65,535 entries.
    for _ in 0..qd {
        let name = names.read(&mut r)?;
        let qtype = r.u16()?;
        r.u16()?;
        message.questions.push(Question { name, qtype });
    }
    let _complete = read_records(&mut names, &mut r, an, &mut message.answers)
        && read_records(&mut names, &mut r, ns, &mut message.authorities)
        && read_records(&mut names, &mut r, ar, &mut message.additionals);
    message.work_limited = names.steps_left == 0;
    Ok(message)
}

/// Reads up to `count` records; false when the message ended early.
fn read_records<'a>(
    names: &mut Names<'a>,
    r: &mut Reader<'a>,
    count: usize,
    out: &mut Vec<Record>,
) -> bool {
    for _ in 0..count {
        match read_record(names, r) {
            Ok(record) => out.push(record),
            Err(_) => return false,
        }
    }
    true
}

fn read_record<'a>(names: &mut Names<'a>, r: &mut Reader<'a>) -> Result<Record, DnsError> {
    let name = names.read(r)?;
    let rtype = r.u16()?;
    let _class = r.u16()?;
    let ttl = r.u32()?;
    let rdlen = usize::from(r.u16()?);
    let start = r.position();
    let rdata = r.bytes(rdlen)?;
    // RDATA is bounded by its length field, so one that does not decode (an UPDATE's
    // empty delete record, a lying length) costs only its own value.
    let data = read_rdata(names, rtype, rdata, start).unwrap_or(RData::Other(rdlen));
    Ok(Record {
        name,
        rtype,
        ttl,
        data,
    })
}

fn read_rdata(
    names: &mut Names<'_>,
    rtype: u16,
    rdata: &[u8],
    start: usize,
) -> Result<RData, DnsError> {
    let msg = names.msg;
    // Names inside RDATA may point anywhere in the message, so they are read with a
    // reader over the whole message positioned at the RDATA.
    let mut at = Reader::new(msg);
    at.skip(start)?;
    Ok(match rtype {
        1 => RData::A(Ipv4Addr::from(
            <[u8; 4]>::try_from(rdata).map_err(|_| DnsError::Truncated)?,
        )),
        28 => RData::Aaaa(Ipv6Addr::from(
            <[u8; 16]>::try_from(rdata).map_err(|_| DnsError::Truncated)?,
        )),
        2 | 5 | 12 | 39 => RData::Name(names.read(&mut at)?),
        15 => {
            let preference = at.u16()?;
            RData::Mx {
                preference,
                exchange: names.read(&mut at)?,
            }
        }
        6 => {
            let mname = names.read(&mut at)?;
            let rname = names.read(&mut at)?;
            RData::Soa(Soa {
                mname,
                rname,
                serial: at.u32()?,
                refresh: at.u32()?,
                retry: at.u32()?,
                expire: at.u32()?,
                minimum: at.u32()?,
            })
        }
        16 => {
            let mut strings = Vec::new();
            let mut t = Reader::new(rdata);
            // Ends: each string consumes its length byte and its bytes.
            while !t.is_empty() {
                strings.push(t.vec8()?.to_vec());
            }
            RData::Txt(strings)
        }
        10 => RData::Null(rdata.to_vec()),
        64 | 65 => RData::Svcb(read_svcb(names, &mut at, rdata.len())?),
        _ => RData::Other(rdata.len()),
    })
}

/// SVCB/HTTPS RDATA (RFC 9460 §2.2): priority, target, then key/value parameters.
fn read_svcb<'a>(
    names: &mut Names<'a>,
    at: &mut Reader<'a>,
    rdlen: usize,
) -> Result<Svcb, DnsError> {
    let start = at.position();
    let priority = at.u16()?;
    let target = names.read(at)?;
    let used = at.position().saturating_sub(start);
    let params = at.bytes(rdlen.checked_sub(used).ok_or(DnsError::Truncated)?)?;
    let mut svcb = Svcb {
        priority,
        target,
        ..Svcb::default()
    };
    let mut p = Reader::new(params);
    // Ends: each parameter consumes its 4-byte key and length and its value.
    while !p.is_empty() {
        let key = p.u16()?;
        let value = p.vec16()?;
        let mut v = Reader::new(value);
        match key {
            1 => {
                while !v.is_empty() && svcb.alpn.len() < MAX_SVC_VALUES {
                    svcb.alpn
                        .push(String::from_utf8_lossy(v.vec8()?).into_owned());
                }
            }
            4 => {
                while !v.is_empty() && svcb.ipv4hint.len() < MAX_SVC_VALUES {
                    svcb.ipv4hint.push(Ipv4Addr::from(v.array::<4>()?));
                }
            }
            5 => svcb.ech = !value.is_empty(),
            6 => {
                while !v.is_empty() && svcb.ipv6hint.len() < MAX_SVC_VALUES {
                    svcb.ipv6hint.push(Ipv6Addr::from(v.array::<16>()?));
                }
            }
            _ => {}
        }
    }
    Ok(svcb)
}

/// The text tshark shows for a name longer than [`MAX_NAME_LEN`]; the record is kept.
pub const NAME_TOO_LONG: &str = "<Name too long>";
/// The text tshark shows for a name whose compression pointers loop; the record is kept.
pub const NAME_LOOPS: &str = "<Name contains a pointer that loops>";

/// The names of one message, read against its [`MAX_NAME_STEPS`] budget.
struct Names<'a> {
    msg: &'a [u8],
    steps_left: usize,
}

impl<'a> Names<'a> {
    /// Reads a possibly compressed name at the reader's position and advances past it.
    ///
    /// Labels are joined with dots, their case kept; control bytes are written `\ooo`
    /// (octal, as tshark writes them) and bytes that are not UTF-8 become U+FFFD. The root
    /// name is `<Root>`. A name that is too long or whose pointers loop is reported as
    /// [`NAME_TOO_LONG`] or [`NAME_LOOPS`], as tshark reports it, and the records after it
    /// are still read: its labels in place are walked to their end to find where it stops
    /// on the wire, but nothing is followed past a pointer once its text is settled.
    ///
    /// Ends because each step consumes a label or a pointer from the budget, and within
    /// one run of labels the cursor only moves forward.
    fn read(&mut self, r: &mut Reader<'a>) -> Result<String, DnsError> {
        let msg = self.msg;
        let mut name: Vec<u8> = Vec::with_capacity(32);
        let mut wire_len = 0usize;
        let mut cursor = *r;
        let mut jumped = false;
        let mut jumps = 0usize;
        let mut placeholder = None;
        loop {
            self.steps_left = self
                .steps_left
                .checked_sub(1)
                .ok_or(DnsError::TooMuchWork)?;
            let len = cursor.u8()?;
            match len >> 6 {
                0 => {
                    if len == 0 {
                        break;
                    }
                    let label = cursor.bytes(usize::from(len))?;
                    wire_len = wire_len.saturating_add(label.len()).saturating_add(1);
                    if wire_len > MAX_NAME_LEN {
                        placeholder.get_or_insert(NAME_TOO_LONG);
                        if jumped {
                            break;
                        }
                    }
                    if placeholder.is_none() {
                        if !name.is_empty() {
                            name.push(b'.');
                        }
                        push_label(&mut name, label);
                    }
                }
                3 => {
                    let low = cursor.u8()?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                    if !jumped {
                        *r = cursor;
                        jumped = true;
                    }
                    jumps = jumps.saturating_add(1);
                    if target >= msg.len() {
                        return Err(DnsError::BadPointer);
                    }
                    if placeholder.is_some() {
                        break;
                    }
                    if jumps > MAX_POINTER_JUMPS {
                        placeholder = Some(NAME_LOOPS);
                        break;
                    }
                    cursor = Reader::new(msg);
                    cursor.skip(target)?;
                }
                _ => return Err(DnsError::BadLabel),
            }
        }
        if !jumped {
            *r = cursor;
        }
        if let Some(text) = placeholder {
            return Ok(text.to_owned());
        }
        if name.is_empty() {
            return Ok("<Root>".to_owned());
        }
        Ok(String::from_utf8_lossy(&name).into_owned())
    }
}

fn push_label(name: &mut Vec<u8>, label: &[u8]) {
    for &b in label {
        if b < 0x20 || b == 0x7f {
            name.extend_from_slice(&[
                b'\\',
                b'0' | (b >> 6),
                b'0' | ((b >> 3) & 7),
                b'0' | (b & 7),
            ]);
        } else {
            name.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response whose question is a label run that loops back on itself and whose
    /// answers all point at it: every name costs a long walk. `records` answers of type A
    /// with empty RDATA.
    fn pointer_chain_message(records: usize) -> Vec<u8> {
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1];
        m.extend_from_slice(&u16::try_from(records).unwrap().to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        // The question's name is the run itself.
        let chain = m.len();
        for _ in 0..100 {
            m.extend_from_slice(&[1, b'a']);
        }
        m.extend_from_slice(&[0xc0, u8::try_from(chain).unwrap(), 0, 1, 0, 1]);
        for _ in 0..records {
            m.extend_from_slice(&[
                0xc0,
                u8::try_from(chain).unwrap(),
                0,
                1,
                0,
                1,
                0,
                0,
                0,
                60,
                0,
                0,
            ]);
        }
        m
    }

    #[test]
    fn names_built_of_pointer_chains_spend_a_bounded_budget() {
        let udp = pointer_chain_message(100);
        let m = parse_message(&udp).unwrap();
        assert_eq!(m.answers.len(), 100);
        assert!(!m.work_limited);
        assert!(m.answers.iter().all(|a| a.name == NAME_TOO_LONG));
        // A 64 KiB message over TCP: the budget stops it long before its end.
        let tcp = pointer_chain_message(5_000);
        assert!(tcp.len() <= 65_535);
        let started = std::time::Instant::now();
        let m = parse_message(&tcp).unwrap();
        assert!(m.work_limited);
        assert!(m.answers.len() < 200, "{}", m.answers.len());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_large_real_message_is_read_whole() {
        let records = 3_000usize;
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1];
        m.extend_from_slice(&u16::try_from(records).unwrap().to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        m.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
        for i in 0..records {
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            m.extend_from_slice(&u32::try_from(i).unwrap().to_be_bytes());
        }
        let parsed = parse_message(&m).unwrap();
        assert_eq!(parsed.answers.len(), records);
        assert!(!parsed.work_limited);
        assert!(parsed.answers.iter().all(|a| a.name == "example.com"));
    }

    #[rustfmt::skip]
    const RESPONSE: &[u8] = &[
        0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
        // question: API.openai.com A IN
        3, b'A', b'P', b'I', 6, b'o', b'p', b'e', b'n', b'a', b'i', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1,
        // answer 1: ptr to question, CNAME -> cdn.openai.com (label + pointer to "openai.com")
        0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, b'c', b'd', b'n', 0xc0, 16,
        // answer 2: cdn.openai.com A 104.18.7.192
        0xc0, 44, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 104, 18, 7, 192,
    ];

    #[test]
    fn parses_questions_and_compressed_answers_keeping_the_case_sent() {
        let m = parse_message(RESPONSE).unwrap();
        assert!(m.response);
        assert_eq!(m.rcode, 0);
        assert_eq!(
            m.questions,
            vec![Question {
                name: "API.openai.com".into(),
                qtype: 1
            }]
        );
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].data, RData::Name("cdn.openai.com".into()));
        assert_eq!(m.answers[1].name, "cdn.openai.com");
        assert_eq!(m.answers[1].data, RData::A(Ipv4Addr::new(104, 18, 7, 192)));
        assert_eq!(m.answers[1].ttl, 256);
    }

    #[test]
    fn a_pointer_loop_is_reported_as_tshark_does_and_parsing_goes_on() {
        let mut msg = vec![0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        msg.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
        let m = parse_message(&msg).unwrap();
        assert_eq!(m.questions[0].name, NAME_LOOPS);
        assert_eq!(m.questions[1].name, "a");
    }

    #[test]
    fn a_pointer_outside_the_message_is_an_error() {
        let mut msg = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&[0xc0, 200, 0, 1, 0, 1]);
        assert_eq!(parse_message(&msg), Err(DnsError::BadPointer));
    }

    #[test]
    fn long_names_and_control_bytes() {
        let mut msg = vec![0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0];
        for _ in 0..5 {
            msg.push(63);
            msg.extend_from_slice(&[b'x'; 63]);
        }
        msg.extend_from_slice(&[0, 0, 1, 0, 1]);
        msg.extend_from_slice(&[4, b'a', 4, 5, 0x7f, 0, 0, 1, 0, 1]);
        let m = parse_message(&msg).unwrap();
        assert_eq!(m.questions[0].name, NAME_TOO_LONG);
        assert_eq!(m.questions[1].name, "a\\004\\005\\177");
    }

    #[test]
    fn a_record_with_undecodable_data_is_kept() {
        let mut msg = vec![0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        msg.extend_from_slice(&[0, 0, 1, 0, 0xff, 0, 0, 0, 0, 0, 0]);
        let m = parse_message(&msg).unwrap();
        assert_eq!(m.answers[0].data, RData::Other(0));
    }

    #[test]
    fn truncations_never_panic_and_keep_whole_questions() {
        for cut in 0..RESPONSE.len() {
            if let Ok(m) = parse_message(&RESPONSE[..cut]) {
                assert_eq!(m.questions.len(), 1);
            }
        }
        let cut = parse_message(&RESPONSE[..RESPONSE.len() - 3]).unwrap();
        assert_eq!(cut.answers.len(), 1);
    }

    #[test]
    fn https_record_parameters() {
        #[rustfmt::skip]
        let mut msg = vec![0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0];
        msg.extend_from_slice(&[0, 0, 65, 0, 1, 0, 0, 0, 5]);
        let rdata: Vec<u8> = [
            &[0, 1, 0][..],               // priority 1, target "."
            &[0, 1, 0, 3, 2, b'h', b'3'], // alpn h3
            &[0, 4, 0, 4, 1, 2, 3, 4],    // ipv4hint
            &[0, 5, 0, 2, 0xab, 0xcd],    // ech
        ]
        .concat();
        msg.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
        msg.extend_from_slice(&rdata);
        let m = parse_message(&msg).unwrap();
        let RData::Svcb(s) = &m.answers[0].data else {
            panic!("{:?}", m.answers)
        };
        assert_eq!(s.priority, 1);
        assert_eq!(s.target, "<Root>");
        assert_eq!(s.alpn, vec!["h3"]);
        assert_eq!(s.ipv4hint, vec![Ipv4Addr::new(1, 2, 3, 4)]);
        assert!(s.ech);
        assert_eq!(type_name(65), "HTTPS");
        assert_eq!(type_name(4242), "4242");
    }
}
