//! Bytes placed by offset, arriving in any order: IP fragments of a datagram, QUIC CRYPTO
//! frames of a ClientHello. The buffer knows how much of its start is contiguous.

/// A bounded buffer filled at arbitrary offsets.
#[derive(Debug, Default, Clone)]
pub struct OffsetBuffer {
    bytes: Vec<u8>,
    /// Byte ranges received, sorted by start; there are few, so a scan is cheapest.
    ranges: Vec<(usize, usize)>,
}

/// Why a piece was not placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// It would end past the buffer's bound.
    TooLarge,
    /// The buffer already holds as many pieces as allowed.
    TooManyPieces,
}

impl OffsetBuffer {
    /// Places `data` at `offset`, refusing to grow past `max_len` bytes or `max_pieces`
    /// pieces. Overlapping data overwrites: retransmissions carry the same bytes.
    ///
    /// # Errors
    /// [`Refused`] says which bound the piece would break; nothing is changed.
    pub fn insert(
        &mut self,
        offset: usize,
        data: &[u8],
        max_len: usize,
        max_pieces: usize,
    ) -> Result<(), Refused> {
        let end = offset.checked_add(data.len()).ok_or(Refused::TooLarge)?;
        if end > max_len {
            return Err(Refused::TooLarge);
        }
        if self.ranges.len() >= max_pieces {
            return Err(Refused::TooManyPieces);
        }
        if self.bytes.len() < end {
            // Exactly as long as the highest offset, not doubled: the callers' memory
            // budgets count this length.
            self.bytes
                .reserve_exact(end.saturating_sub(self.bytes.len()));
            self.bytes.resize(end, 0);
        }
        if let Some(dest) = self.bytes.get_mut(offset..end) {
            dest.copy_from_slice(data);
        }
        let at = self.ranges.partition_point(|r| *r < (offset, end));
        self.ranges.insert(at, (offset, end));
        Ok(())
    }

    /// How many bytes from offset 0 have arrived without a hole.
    pub fn contiguous_len(&self) -> usize {
        let mut covered = 0usize;
        for &(start, end) in &self.ranges {
            if start > covered {
                break;
            }
            covered = covered.max(end);
        }
        covered
    }

    /// The contiguous bytes from offset 0.
    pub fn contiguous(&self) -> &[u8] {
        self.bytes.get(..self.contiguous_len()).unwrap_or_default()
    }

    /// Heap bytes the buffer holds, bytes and range list together.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity().saturating_add(
            self.ranges
                .capacity()
                .saturating_mul(std::mem::size_of::<(usize, usize)>()),
        )
    }

    /// Bytes from offset 0 to the highest offset received, holes included.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing has been placed.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Pieces placed so far.
    pub fn pieces(&self) -> usize {
        self.ranges.len()
    }

    /// Takes the bytes, cut to `len`.
    pub fn into_bytes(mut self, len: usize) -> Vec<u8> {
        self.bytes.truncate(len);
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contiguous_prefix_grows_as_holes_fill() {
        let mut b = OffsetBuffer::default();
        b.insert(4, b"efgh", 64, 8).unwrap();
        assert_eq!(b.contiguous_len(), 0);
        b.insert(0, b"abcd", 64, 8).unwrap();
        b.insert(12, b"mn", 64, 8).unwrap();
        assert_eq!(b.contiguous(), b"abcdefgh");
        b.insert(6, b"ghijkl", 64, 8).unwrap();
        assert_eq!(b.contiguous(), b"abcdefghijklmn");
    }

    #[test]
    fn bounds_are_enforced_without_change() {
        let mut b = OffsetBuffer::default();
        assert_eq!(b.insert(60, b"12345", 64, 8), Err(Refused::TooLarge));
        assert_eq!(b.insert(usize::MAX, b"1", 64, 8), Err(Refused::TooLarge));
        b.insert(0, b"1", 64, 1).unwrap();
        assert_eq!(b.insert(1, b"2", 64, 1), Err(Refused::TooManyPieces));
        assert_eq!(b.contiguous(), b"1");
    }
}
