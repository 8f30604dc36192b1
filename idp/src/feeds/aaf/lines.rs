//! A reader wrapper that counts bytes and remembers where recent newlines are, so that a byte
//! offset reported by the XML parser (record start, error position) becomes a line number
//! without keeping the file in memory: offsets are asked in increasing order, so newlines
//! before the asked offset are folded into a counter and dropped.

use std::collections::VecDeque;
use std::io::{self, Read};

use indicatif::ProgressBar;

pub struct LineCounter<R> {
    inner: R,
    read: u64,
    newlines: VecDeque<u64>,
    lines_before: u64,
    progress: Option<ProgressBar>,
}

impl<R: Read> LineCounter<R> {
    pub fn new(inner: R, progress: Option<ProgressBar>) -> Self {
        Self {
            inner,
            read: 0,
            newlines: VecDeque::new(),
            lines_before: 0,
            progress,
        }
    }

    /// The 1-based line holding byte `offset`. Offsets smaller than one already asked
    /// answer with the line of the larger one (never needed by the parser).
    pub fn line_at(&mut self, offset: u64) -> u64 {
        while let Some(&n) = self.newlines.front() {
            if n < offset {
                self.newlines.pop_front();
                self.lines_before += 1;
            } else {
                break;
            }
        }
        self.lines_before + 1
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = buf.get(..n).unwrap_or_default();
        let base = self.read;
        for (i, _) in chunk.iter().enumerate().filter(|(_, &b)| b == b'\n') {
            self.newlines.push_back(base + i as u64);
        }
        self.read += n as u64;
        if let Some(p) = &self.progress {
            p.inc(n as u64);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_offsets_to_lines() {
        let text = b"ab\ncd\n\nef";
        let mut r = LineCounter::new(&text[..], None);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(r.line_at(0), 1);
        assert_eq!(r.line_at(2), 1);
        assert_eq!(r.line_at(3), 2);
        assert_eq!(r.line_at(6), 3);
        assert_eq!(r.line_at(8), 4);
        assert_eq!(r.bytes_read(), 9);
    }
}
