//! An output file that can be reopened by name (on SIGHUP), so logrotate can move it
//! away: the alert file and the live sensor's event file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A buffered file opened for appending, reopened by name once `reopen` is set.
pub struct ReopeningFile {
    path: PathBuf,
    out: BufWriter<File>,
    reopen: Arc<AtomicBool>,
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))
}

impl ReopeningFile {
    /// Opens (creating or appending) `path`.
    ///
    /// # Errors
    /// The file cannot be opened for appending.
    pub fn open(path: &Path, reopen: Arc<AtomicBool>) -> io::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::new(append(path)?),
            reopen,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes out what is buffered to the file in use, then opens the file again by name
    /// if asked since the last call. Call it between records, never inside one.
    ///
    /// # Errors
    /// Flushing fails, or the file cannot be opened again.
    pub fn reopen_if_asked(&mut self) -> io::Result<()> {
        if self.reopen.swap(false, Ordering::Relaxed) {
            self.out.flush()?;
            self.out = BufWriter::new(append(&self.path)?);
            tracing::info!(file = %self.path.display(), "Reopened the output file.");
        }
        Ok(())
    }
}

impl ReopeningFile {
    /// Closes the file without writing what is buffered, and returns that: for a writer
    /// that has failed and must not leave a gap by succeeding later.
    pub fn into_unwritten(self) -> Vec<u8> {
        self.out.into_parts().1.unwrap_or_default()
    }
}

impl Write for ReopeningFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
