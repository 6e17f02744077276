//! Problems found in the files aigress reads (signatures, policy, GeoIP tables), each
//! named by file and line so the person fixing it goes straight there.

use std::fmt;

/// One problem in a data or configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    /// The entry (vendor, endpoint, rule…) the problem is in, when known.
    pub entry: Option<String>,
    pub message: String,
}

impl Problem {
    /// A problem at byte `offset` of `text`.
    pub fn at(file: &str, text: &str, offset: usize, entry: Option<&str>, message: String) -> Self {
        Self {
            file: file.to_owned(),
            line: line_of(text, offset),
            entry: entry.map(str::to_owned),
            message,
        }
    }

    /// A TOML syntax or type error, placed on its line.
    pub fn from_toml(file: &str, text: &str, e: &toml::de::Error) -> Self {
        Self {
            file: file.to_owned(),
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            entry: None,
            message: e.message().trim().to_owned(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(entry) = &self.entry {
            write!(f, "{entry}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem in a file or set of files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems {
    /// What was being read: `policy`, `front door table`, …
    pub what: &'static str,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_problems(f, self.what, &self.problems)
    }
}

/// "N problems in the WHAT", then one problem per indented line.
///
/// # Errors
/// The formatter's.
pub fn write_problems(f: &mut fmt::Formatter<'_>, what: &str, problems: &[Problem]) -> fmt::Result {
    let n = problems.len();
    write!(
        f,
        "{n} problem{} in the {what}",
        if n == 1 { "" } else { "s" }
    )?;
    for p in problems {
        write!(f, "\n  {p}")?;
    }
    Ok(())
}

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let before = text.get(..offset.min(text.len())).unwrap_or_default();
    before
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        .saturating_add(1)
}

/// Whether `code` looks like an ISO 3166-1 alpha-2 country code.
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}
