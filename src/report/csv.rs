//! The reports as CSV; the transfer register's CSV is [`super::transfers::write_csv`].

use std::io::{self, Write};

use super::change_lines;
use super::changes::Changes;
use super::inventory::Report;
use crate::escape::{csv_cell, csv_rows};

pub(super) fn csv(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    csv_rows(&r.rows, out)
}

pub(super) fn changes_csv(c: &Changes, out: &mut dyn Write) -> io::Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(["change", "item", "detail", "first_seen"])
        .map_err(io::Error::other)?;
    for (section, item, detail, first) in change_lines(c) {
        w.write_record([
            section,
            &csv_cell(&item),
            &csv_cell(&detail),
            &csv_cell(&first),
        ])
        .map_err(io::Error::other)?;
    }
    w.flush()
}
