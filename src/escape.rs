//! Escaping for text that came off the wire (SNI, Host, DNS names, User-Agents, alert
//! reasons quoting them) before it reaches a person's terminal, a Markdown page or a
//! spreadsheet. Each output has its own hazard, so each has its own function:
//!
//! - [`terminal`]: control characters would drive the terminal (colours, cursor moves,
//!   window titles, OSC 8 links), and bidirectional overrides reorder what is read. They
//!   are written as visible escapes instead: `\x1b`, `\u{202e}`.
//! - [`markdown`]: a wiki renders Markdown, and most renderers pass raw HTML through, so a
//!   `<script>` in a server name would become a tag, and a `|` or newline would break the
//!   table it sits in.
//! - [`csv_cell`]: spreadsheets run a cell that starts like a formula (CSV injection).
//!
//! The HTML report has its own escaping of element content and attributes.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;

use serde::Serialize;

/// Whether `c` must not reach a terminal or a page as itself: the C0 controls (ESC, NUL,
/// newline, …), DEL, the C1 controls (including the one-byte CSI), the bidirectional
/// marks, embeddings, overrides and isolates, and the Unicode line and paragraph
/// separators.
fn hazardous(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Writes `c` as a visible escape: `\x1b` for a code point below 256, else `\u{202e}`.
fn push_escaped(out: &mut String, c: char) {
    let n = u32::from(c);
    let _ = if n < 0x100 {
        write!(out, "\\x{n:02x}")
    } else {
        write!(out, "\\u{{{n:04x}}}")
    };
}

/// `text` with every control character and bidirectional override written as a visible
/// escape (`\x1b[31m` stays readable and colours nothing), for tables on a terminal.
///
/// A backslash is left as it is: a name that already holds `\x1b` as text reads the same
/// as an escaped ESC, which is harmless, and text the inventory stored escaped (a NUL as
/// `\x00`) is not escaped twice.
pub fn terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hazardous) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().saturating_add(8));
    for c in text.chars() {
        if hazardous(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` as literal inline Markdown, for a table cell or a sentence.
///
/// - `<`, `>` and `&` become the entities `&lt;`, `&gt;` and `&amp;`: no tag, comment or
///   autolink can form, whatever the renderer's raw-HTML setting, and an entity in the
///   text shows as written instead of as the character it names. Entities rather than
///   backslashes because every Markdown renderer decodes entities, while some do not
///   honour `\<`.
/// - `\`, `` ` ``, `*`, `_`, `[`, `]`, `~` and `|` get a backslash (CommonMark lets any
///   ASCII punctuation be escaped so): no code span, emphasis, strikethrough, link or
///   image can start, and a `|` stays inside its table cell. The backslash itself first,
///   so text ending in `\` cannot un-escape the next character.
/// - Control characters (a newline would end the table row) and bidirectional overrides
///   become visible escapes as on the terminal (`\x0a`).
///
/// Block syntax (`#`, `>`, `-`, `1.`) matters only at the start of a line, and the text
/// never starts one: it has no newline left and is written after a `| ` or inside a
/// sentence.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len().saturating_add(8));
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '~' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c if hazardous(c) => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// A text cell for CSV, safe to open in a spreadsheet: a cell starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return (OWASP's list of what spreadsheets read as the
/// start of a formula) gets a leading `'`, which makes Excel and LibreOffice take the
/// cell as text and is not shown. Anything else is left as it is, so the CSV stays the
/// stored data; the CSV writer quotes what needs quoting.
///
/// Reports write their CSV through [`csv_rows`], which applies this to every cell; their
/// numbers are counts, never negative, so they stay numbers.
pub fn csv_cell(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Writes `rows` as CSV, a header from the first, every cell through [`csv_cell`]: one rule
/// for every column of every report, so no column can be forgotten. The csv crate
/// serializes only into a writer, so the rows are serialized first and each record is read
/// back and written again.
///
/// # Errors
/// The writer's I/O errors, or a row that does not serialize as a record.
pub fn csv_rows<T: Serialize>(
    rows: impl IntoIterator<Item = T>,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    let mut plain = csv::Writer::from_writer(Vec::new());
    for row in rows {
        plain.serialize(row).map_err(io::Error::other)?;
    }
    let plain = plain
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut safe = csv::Writer::from_writer(out);
    for record in csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(plain.as_slice())
        .records()
    {
        let record = record.map_err(io::Error::other)?;
        let cells: Vec<Cow<'_, str>> = record.iter().map(csv_cell).collect();
        safe.write_record(cells.iter().map(|c| c.as_bytes()))
            .map_err(io::Error::other)?;
    }
    safe.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_text_has_no_control_character_left() {
        let hostile = "a\u{1b}[31mred\u{1b}]0;title\u{7}\0\n\r\t\u{7f}\u{9b}2J\u{202e}gpj.exe";
        let shown = terminal(hostile);
        assert_eq!(
            shown,
            "a\\x1b[31mred\\x1b]0;title\\x07\\x00\\x0a\\x0d\\x09\\x7f\\x9b2J\\u{202e}gpj.exe"
        );
        assert!(!shown.chars().any(hazardous), "{shown}");
        assert!(matches!(terminal("api.openai.com"), Cow::Borrowed(_)));
        // Text already stored escaped is shown as stored, not escaped again.
        assert_eq!(terminal("evil\\x00.com"), "evil\\x00.com");
        assert_eq!(terminal("zürich.example ☃"), "zürich.example ☃");
    }

    #[test]
    fn markdown_text_renders_literally() {
        assert_eq!(
            markdown("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(markdown("a|b"), "a\\|b");
        assert_eq!(
            markdown("x\\|y"),
            "x\\\\\\|y",
            "a backslash cannot eat the escape"
        );
        assert_eq!(markdown("two\nlines\r"), "two\\x0alines\\x0d");
        assert_eq!(
            markdown("[x](javascript:y) ![i](http://t/p.png) *b* _i_ `c` ~s~ &lt;"),
            "\\[x\\](javascript:y) !\\[i\\](http://t/p.png) \\*b\\* \\_i\\_ \\`c\\` \\~s\\~ &amp;lt;"
        );
        assert_eq!(markdown("\u{1b}[31m\0"), "\\x1b\\[31m\\x00");
        assert_eq!(markdown("api.openai.com"), "api.openai.com");
    }

    #[test]
    fn csv_cells_that_look_like_formulas_are_text() {
        for (cell, safe) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\r=1", "'\r=1"),
            ("api.openai.com", "api.openai.com"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(csv_cell(cell), safe, "{cell:?}");
        }
    }
}
