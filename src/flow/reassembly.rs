//! In-order delivery of one direction of a TCP stream, for the beginning of the stream.
//!
//! Segments arrive retransmitted, overlapping and out of order. [`Reassembler`] hands the
//! parser each byte once, in sequence order: data at the expected sequence number goes
//! straight through without a copy; data ahead of it waits in a bounded list until the
//! hole fills. When the waiting data outgrows its bound, the hole is declared a gap
//! (the capture lost the segment), the parser is told, and delivery resumes after it.

/// Bytes held out of order per direction. A 2 KB ClientHello split over two segments needs
/// one segment's worth; 16 KiB also covers a full initial congestion window of reordering.
pub const MAX_PENDING_BYTES: usize = 16 * 1024;
/// Out-of-order segments held per direction.
pub const MAX_PENDING_SEGMENTS: usize = 32;

/// What the reassembler hands its consumer.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery<'a> {
    /// The next bytes of the stream.
    Data(&'a [u8]),
    /// Bytes were lost before the next delivery.
    Gap,
}

/// Counters of reassembly trouble, added to the engine's totals.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Holes given up on because the data after them outgrew the bound.
    pub gaps: u64,
}

/// Sequence-ordered delivery for one direction.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of the next byte to deliver, once known.
    next: Option<u32>,
    /// Out-of-order segments: (sequence number, bytes), in arrival order.
    pending: Vec<(u32, Vec<u8>)>,
    pending_bytes: usize,
    stats: ReassemblyStats,
}

/// Signed distance from `from` to `to` in sequence space (RFC 9293 §3.4 modular arithmetic).
fn seq_diff(to: u32, from: u32) -> i64 {
    i64::from(to.wrapping_sub(from) as i32)
}

/// Whether sequence number `a` is at or before `b`.
pub fn seq_le(a: u32, b: u32) -> bool {
    seq_diff(b, a) >= 0
}

impl Reassembler {
    /// Records the SYN's sequence number: data starts one past it.
    pub fn syn(&mut self, seq: u32) {
        if self.next.is_none() {
            self.next = Some(seq.wrapping_add(1));
        }
    }

    /// The sequence number of the next byte to deliver, once known.
    pub fn next_seq(&self) -> Option<u32> {
        self.next
    }

    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// Bytes held out of order now.
    pub fn held_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Adds a segment and delivers whatever became contiguous.
    ///
    /// The bounds hold at every moment: a segment that would not fit beside the held ones
    /// first turns the earliest hole into a gap (each such gap delivers at least one held
    /// segment, so making room ends), and a segment larger than the whole bound is never
    /// held: the hole before it becomes a gap at once.
    pub fn push(&mut self, seq: u32, data: &[u8], deliver: &mut impl FnMut(Delivery<'_>)) {
        if data.is_empty() {
            return;
        }
        // Without a SYN, the stream starts at the first data seen.
        let mut next = *self.next.get_or_insert(seq);
        if seq_diff(seq, next) > 0 {
            while !self.pending.is_empty()
                && (self.pending_bytes.saturating_add(data.len()) > MAX_PENDING_BYTES
                    || self.pending.len() >= MAX_PENDING_SEGMENTS)
            {
                self.skip_gap(deliver);
            }
            next = self.next.unwrap_or(seq);
            if seq_diff(seq, next) > 0 {
                if data.len() <= MAX_PENDING_BYTES {
                    self.hold(seq, data);
                    return;
                }
                self.stats.gaps = self.stats.gaps.saturating_add(1);
                self.next = Some(seq);
                next = seq;
                deliver(Delivery::Gap);
            }
        }
        let already = usize::try_from(seq_diff(next, seq)).unwrap_or(usize::MAX);
        if let Some(fresh) = data.get(already..).filter(|f| !f.is_empty()) {
            self.advance(fresh.len());
            deliver(Delivery::Data(fresh));
            self.drain(deliver);
        }
    }

    fn advance(&mut self, len: usize) {
        if let Some(next) = self.next.as_mut() {
            *next = next.wrapping_add(u32::try_from(len).unwrap_or(u32::MAX));
        }
    }

    fn hold(&mut self, seq: u32, data: &[u8]) {
        if self
            .pending
            .iter()
            .any(|(s, d)| *s == seq && d.len() >= data.len())
        {
            return;
        }
        self.pending_bytes = self.pending_bytes.saturating_add(data.len());
        self.pending.push((seq, data.to_vec()));
    }

    /// Delivers held segments that now start at or before `next`; ends because each
    /// round removes one held segment.
    fn drain(&mut self, deliver: &mut impl FnMut(Delivery<'_>)) {
        loop {
            let Some(next) = self.next else { return };
            let Some(i) = self
                .pending
                .iter()
                .position(|(s, _)| seq_diff(*s, next) <= 0)
            else {
                return;
            };
            let (seq, data) = self.pending.swap_remove(i);
            self.pending_bytes = self.pending_bytes.saturating_sub(data.len());
            let already = usize::try_from(seq_diff(next, seq)).unwrap_or(usize::MAX);
            if let Some(fresh) = data.get(already..).filter(|f| !f.is_empty()) {
                self.advance(fresh.len());
                deliver(Delivery::Data(fresh));
            }
        }
    }

    /// The stream ends: every hole still open becomes a gap and what was held beyond it is
    /// delivered, in order, so data sent after a lost segment is read as far as the
    /// parser can (Suricata reads it too once the receiver has acknowledged it). Ends
    /// after as many gaps as segments were held, each delivering at least one.
    pub fn flush(&mut self, deliver: &mut impl FnMut(Delivery<'_>)) {
        for _ in 0..self.pending.len() {
            if self.pending.is_empty() {
                break;
            }
            self.skip_gap(deliver);
        }
    }

    /// Gives up on the hole before the earliest held segment and resumes there.
    fn skip_gap(&mut self, deliver: &mut impl FnMut(Delivery<'_>)) {
        let Some(next) = self.next else { return };
        let Some(earliest) = self
            .pending
            .iter()
            .map(|(s, _)| *s)
            .min_by_key(|s| seq_diff(*s, next))
        else {
            return;
        };
        self.stats.gaps = self.stats.gaps.saturating_add(1);
        self.next = Some(earliest);
        deliver(Delivery::Gap);
        self.drain(deliver);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(segments: &[(u32, &[u8])]) -> (Vec<u8>, usize) {
        let mut r = Reassembler::default();
        r.syn(99);
        let mut out = Vec::new();
        let mut gaps = 0;
        for (seq, data) in segments {
            r.push(*seq, data, &mut |d| match d {
                Delivery::Data(b) => out.extend_from_slice(b),
                Delivery::Gap => gaps += 1,
            });
        }
        (out, gaps)
    }

    #[test]
    fn in_order_segments_pass_through() {
        assert_eq!(run(&[(100, b"hello "), (106, b"world")]).0, b"hello world");
    }

    #[test]
    fn out_of_order_segments_wait_for_the_hole() {
        assert_eq!(run(&[(106, b"world"), (100, b"hello ")]).0, b"hello world");
        assert_eq!(
            run(&[(108, b"rld"), (106, b"wo"), (100, b"hello ")]).0,
            b"hello world"
        );
    }

    #[test]
    fn retransmissions_and_overlaps_are_delivered_once() {
        let (out, _) = run(&[
            (100, b"hello "),
            (100, b"hello "),
            (103, b"lo wor"),
            (109, b"ld"),
        ]);
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut r = Reassembler::default();
        r.syn(u32::MAX - 2);
        let mut out = Vec::new();
        r.push(0, b"cd", &mut |d| {
            if let Delivery::Data(b) = d {
                out.extend_from_slice(b)
            }
        });
        r.push(u32::MAX - 1, b"ab", &mut |d| {
            if let Delivery::Data(b) = d {
                out.extend_from_slice(b)
            }
        });
        assert_eq!(out, b"abcd");
    }

    #[test]
    fn held_segments_never_pass_their_bounds() {
        let mut r = Reassembler::default();
        r.syn(99);
        let big = vec![1u8; 64 * 1024];
        let mut delivered = 0usize;
        let mut gaps = 0;
        // Offloaded 64 KB frames, each after a hole: none may be held beyond the bound.
        for i in 0..40u32 {
            r.push(1000 + i * 70_000, &big, &mut |d| match d {
                Delivery::Data(b) => delivered += b.len(),
                Delivery::Gap => gaps += 1,
            });
            assert!(r.held_bytes() <= MAX_PENDING_BYTES);
            assert!(r.pending.len() <= MAX_PENDING_SEGMENTS);
        }
        assert_eq!(delivered, 40 * big.len());
        assert_eq!(gaps, 40);
        let small = [2u8; 10];
        for i in 0..100u32 {
            r.push(u32::MAX / 2 + i * 20, &small, &mut |_| {});
            assert!(r.pending.len() <= MAX_PENDING_SEGMENTS);
        }
    }

    #[test]
    fn a_hole_that_never_fills_becomes_a_gap() {
        let chunk = [7u8; 1000];
        let segments: Vec<(u32, &[u8])> = (0..20).map(|i| (2000 + i * 1000, &chunk[..])).collect();
        let (out, gaps) = run(&segments);
        assert_eq!(gaps, 1);
        assert_eq!(out.len(), 20_000);
    }
}
