//! A bounds-checked cursor over wire bytes.
//!
//! Every parser in `decode` and `proto` reads through [`Reader`], so length arithmetic on
//! attacker-controlled input is checked in one place and a short buffer is an error value,
//! never a panic.

/// The input ended before a field that the format says is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

/// A forward-only cursor over a byte slice.
///
/// ```
/// use aigress::wire::{Reader, Truncated};
///
/// // A TLS-style vector: a 16-bit length, then that many bytes.
/// let mut r = Reader::new(&[0x00, 0x02, b'h', b'2', 0xff]);
/// assert_eq!(r.vec16(), Ok(&b"h2"[..]));
/// assert_eq!(r.u16(), Err(Truncated));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Whether every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Consumes and returns the next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let end = self.pos.checked_add(n).ok_or(Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(Truncated)?;
        self.pos = end;
        Ok(out)
    }

    /// Consumes `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), Truncated> {
        self.bytes(n).map(|_| ())
    }

    /// Consumes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Truncated> {
        let b = self.bytes(N)?;
        <[u8; N]>::try_from(b).map_err(|_| Truncated)
    }

    /// Consumes one byte.
    pub fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    /// Consumes a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, Truncated> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Consumes a big-endian 24-bit integer.
    pub fn u24(&mut self) -> Result<u32, Truncated> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    /// Consumes a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, Truncated> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Consumes a `u8` length followed by that many bytes.
    pub fn vec8(&mut self) -> Result<&'a [u8], Truncated> {
        let n = self.u8()?;
        self.bytes(usize::from(n))
    }

    /// Consumes a big-endian `u16` length followed by that many bytes.
    pub fn vec16(&mut self) -> Result<&'a [u8], Truncated> {
        let n = self.u16()?;
        self.bytes(usize::from(n))
    }

    /// Consumes a big-endian 24-bit length followed by that many bytes.
    pub fn vec24(&mut self) -> Result<&'a [u8], Truncated> {
        let n = self.u24()?;
        self.bytes(usize::try_from(n).map_err(|_| Truncated)?)
    }
}

/// Reads a big-endian `u16` at `offset` without a cursor.
pub fn be16(buf: &[u8], offset: usize) -> Option<u16> {
    let end = offset.checked_add(2)?;
    let b = buf.get(offset..end)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_in_order_and_stops_at_the_end() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 3, 2, 0xaa, 0xbb]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(2));
        assert_eq!(r.u24(), Ok(3));
        assert_eq!(r.vec8(), Ok(&[0xaa, 0xbb][..]));
        assert!(r.is_empty());
        assert_eq!(r.u8(), Err(Truncated));
    }

    #[test]
    fn a_length_past_the_end_is_truncated_and_consumes_nothing() {
        let mut r = Reader::new(&[0, 9, 1, 2]);
        assert_eq!(r.vec16(), Err(Truncated));
        assert_eq!(r.position(), 2);
        assert_eq!(r.bytes(usize::MAX), Err(Truncated));
        assert_eq!(r.remaining(), 2);
    }
}
