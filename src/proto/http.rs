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

/// Reads the request head at the start of `stream`.
pub fn parse_request(stream: &[u8]) -> Scan<'_> {
    if !looks_like_request(stream) {
        return Scan::NotHttp;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(stream) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if stream.len() < MAX_HEAD_LEN => return Scan::Incomplete,
        _ => return Scan::NotHttp,
    };
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Scan::NotHttp;
    };
    let mut host = None;
    let mut user_agent = None;
    let mut body = Body::Length(0);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") {
            host.get_or_insert(h.value);
        } else if h.name.eq_ignore_ascii_case("user-agent") {
            user_agent.get_or_insert(h.value);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            if let Some(n) = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                body = Body::Length(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
            && h.value.to_ascii_lowercase().ends_with(b"chunked")
        {
            body = Body::Chunked;
        }
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Scan::Complete(Request {
        method,
        path,
        host,
        user_agent,
        head_len,
        body,
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
        assert!(looks_like_request(b"M-SEARCH * HTTP/1.1\r\n"));
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
