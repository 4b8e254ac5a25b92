//! What one archive may cost: bytes counted as the decoders produce them (never as headers
//! claim), checked against the total and the compression ratio while reading, so a
//! decompression bomb is stopped inside the read that crosses the line, not after it.

use std::cell::{Cell, RefCell};
use std::io::{self, Read};
use std::rc::Rc;

use super::{Limits, Problem};

/// The ratio is only judged past this many bytes: a small archive of text compresses well and
/// would otherwise trip it on its own.
pub(super) const RATIO_GRACE: u64 = 1 << 20;

/// Uncompressed bytes read so far, and the limit they crossed, if any. Shared (`Rc`) between
/// the reader that counts, deep inside a decoder chain, and the loop that reports.
#[derive(Debug)]
pub(super) struct Meter {
    limits: Limits,
    /// The archive's size on disk, for the ratio.
    disk: u64,
    read: Cell<u64>,
    /// Set for good once a limit is crossed: every later read fails too.
    crossed: Cell<bool>,
    /// The problem to report, until reported.
    tripped: RefCell<Option<Problem>>,
}

impl Meter {
    pub(super) fn new(limits: Limits, disk: u64) -> Self {
        Meter {
            limits,
            disk,
            read: Cell::new(0),
            crossed: Cell::new(false),
            tripped: RefCell::new(None),
        }
    }

    pub(super) fn bytes(&self) -> u64 {
        self.read.get()
    }

    /// Counts `n` more bytes; `false` once a limit is crossed (and from then on).
    pub(super) fn add(&self, n: u64) -> bool {
        if self.crossed.get() {
            return false;
        }
        let read = self.read.get().saturating_add(n);
        self.read.set(read);
        let over = if read > self.limits.max_total_bytes {
            Some(Problem {
                member: None,
                code: "archive_too_large",
                message: format!(
                    "more than {} uncompressed bytes read (the limit)",
                    self.limits.max_total_bytes
                ),
            })
        } else if read > RATIO_GRACE
            && read > self.limits.max_ratio.saturating_mul(self.disk.max(1))
        {
            Some(Problem {
                member: None,
                code: "compression_ratio",
                message: format!(
                    "{read} uncompressed bytes read from {} on disk: over the ratio of {}",
                    self.disk, self.limits.max_ratio
                ),
            })
        } else {
            None
        };
        let ok = over.is_none();
        if !ok {
            self.crossed.set(true);
            *self.tripped.borrow_mut() = over;
        }
        ok
    }

    /// The limit crossed, once: the caller reports it and stops.
    pub(super) fn take_trip(&self) -> Option<Problem> {
        self.tripped.borrow_mut().take()
    }
}

/// A reader that counts what passes through it into a [`Meter`], and fails once a limit is
/// crossed: the failure surfaces through whatever reads it (the tar crate, a zip member), and
/// the caller asks the meter whether the failure was a limit or a real corruption.
pub(super) struct Counted<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R> Counted<R> {
    pub(super) fn new(inner: R, meter: &Rc<Meter>) -> Self {
        Counted {
            inner,
            meter: Rc::clone(meter),
        }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.meter.add(n as u64) {
            Ok(n)
        } else {
            Err(io::Error::other("a limit of the archive was crossed"))
        }
    }
}
