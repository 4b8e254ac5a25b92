//! What every format shares once an entry is found: its name made safe, the `wanted` filter,
//! the counts, and reading one member whole under the per-member limit, refusing nested
//! archives.

use std::fmt::Display;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::rc::Rc;

use chrono::{DateTime, Utc};

use super::limits::Meter;
use super::{has_packed_extension, looks_packed, Event, Limits, Member, Problem, Summary, HEAD};

/// A member's name made safe: `/`-separated, without `.` or empty components (so without a
/// leading `./`). `Err` says why a name is refused: it is absolute, climbs out with `..`,
/// holds a NUL, or is empty. Nothing is written to disk, but the names are handed on, and a
/// consumer must be able to trust them.
pub(super) fn clean_name(raw: &str) -> Result<String, &'static str> {
    if raw.contains('\0') {
        return Err("a NUL byte in the name");
    }
    let bytes = raw.as_bytes();
    if raw.starts_with('/')
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
    {
        return Err("an absolute path");
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("a `..` component"),
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err("an empty name");
    }
    Ok(parts.join("/"))
}

/// One read in progress: the caller's filter and visitor, the counts, the meter.
pub(super) struct Run<'a> {
    limits: Limits,
    meter: Rc<Meter>,
    wanted: &'a dyn Fn(&str) -> bool,
    visit: &'a mut dyn FnMut(Event) -> ControlFlow<()>,
    summary: Summary,
}

/// An entry's name as the format gives it, once judged: `Skip` when `wanted` rejects it (or it
/// was reported unsafe), else the clean name.
pub(super) enum Named {
    Take(String),
    Skip,
}

impl<'a> Run<'a> {
    pub(super) fn new(
        limits: Limits,
        meter: Rc<Meter>,
        wanted: &'a dyn Fn(&str) -> bool,
        visit: &'a mut dyn FnMut(Event) -> ControlFlow<()>,
    ) -> Self {
        Run {
            limits,
            meter,
            wanted,
            visit,
            summary: Summary::default(),
        }
    }

    /// The meter, for a reader that counts the bytes of one member (zip).
    pub(super) fn meter(&self) -> Rc<Meter> {
        Rc::clone(&self.meter)
    }

    pub(super) fn finish(mut self) -> Summary {
        self.summary.bytes = self.meter.bytes();
        self.summary
    }

    /// Counts one more entry of any kind; past `max_members`, reports it and stops.
    pub(super) fn entry(&mut self) -> ControlFlow<()> {
        self.summary.entries += 1;
        if self.summary.entries > self.limits.max_members {
            let message = format!("more than {} entries (the limit)", self.limits.max_members);
            let _ = self.problem(None, "too_many_members", message);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Cleans a raw name and applies `wanted` (to the clean name, or to the raw one when it is
    /// refused): an unsafe name that is wanted is reported as `unsafe_path`.
    pub(super) fn name(&mut self, raw: &str) -> (Named, ControlFlow<()>) {
        match clean_name(raw) {
            Ok(name) if (self.wanted)(&name) => (Named::Take(name), ControlFlow::Continue(())),
            Ok(_) => (Named::Skip, ControlFlow::Continue(())),
            Err(why) if (self.wanted)(raw) => {
                let flow = self.problem(
                    Some(raw.to_owned()),
                    "unsafe_path",
                    format!("{why}: not read"),
                );
                (Named::Skip, flow)
            }
            Err(_) => (Named::Skip, ControlFlow::Continue(())),
        }
    }

    pub(super) fn problem(
        &mut self,
        member: Option<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> ControlFlow<()> {
        debug_assert!(
            super::PROBLEM_CODES.contains(&code),
            "unknown problem code {code}"
        );
        self.summary.problems += 1;
        (self.visit)(Event::Problem(Problem {
            member,
            code,
            message: message.into(),
        }))
    }

    /// A read failed: a crossed limit (reported, and the read stops), or a corruption of
    /// `member` (reported; the read goes on only for a member of an archive that can be read
    /// past it, `member: Some`) or of the archive itself (`None`: the read stops).
    pub(super) fn failed(&mut self, member: Option<String>, err: &dyn Display) -> ControlFlow<()> {
        if self.limit_crossed().is_break() {
            return ControlFlow::Break(());
        }
        let archive_level = member.is_none();
        let flow = self.problem(member, "corrupt", err.to_string());
        if archive_level {
            ControlFlow::Break(())
        } else {
            flow
        }
    }

    /// The archive's corruption: reported (unless a limit was crossed first), and the read stops.
    pub(super) fn corrupt(&mut self, err: &dyn Display) -> ControlFlow<()> {
        self.failed(None, err)
    }

    /// Reports a limit the meter saw crossed, if any, and stops.
    pub(super) fn limit_crossed(&mut self) -> ControlFlow<()> {
        match self.meter.take_trip() {
            Some(p) => {
                self.summary.problems += 1;
                let _ = (self.visit)(Event::Problem(p));
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        }
    }

    /// Reads one wanted regular-file member whole, or reports why not: a packed name or head
    /// (`nested_archive`: one level at most, and not a byte past the head), a size over
    /// `max_member_bytes` by its header or as read (`too_large`: never more than the limit and
    /// one byte is read). `Err` is the reader's failure, for the caller to judge.
    pub(super) fn read_member(
        &mut self,
        mut reader: impl Read,
        name: String,
        header_size: Option<u64>,
        mtime: Option<DateTime<Utc>>,
    ) -> io::Result<ControlFlow<()>> {
        let max = self.limits.max_member_bytes;
        if has_packed_extension(&name) {
            return Ok(self.nested(name));
        }
        if let Some(size) = header_size.filter(|s| *s > max) {
            let message = format!("{size} bytes by its header, over the limit of {max}");
            return Ok(self.problem(Some(name), "too_large", message));
        }
        // Headers may lie: they size the first allocation, never the read.
        let capacity = header_size.unwrap_or(0).min(max).min(1 << 20);
        let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        (&mut reader).take(HEAD as u64).read_to_end(&mut bytes)?;
        if looks_packed(&bytes) {
            return Ok(self.nested(name));
        }
        let left = max.saturating_add(1).saturating_sub(bytes.len() as u64);
        (&mut reader).take(left).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > max {
            let message = format!("more than {max} bytes as read, over the limit of {max}");
            return Ok(self.problem(Some(name), "too_large", message));
        }
        self.summary.members += 1;
        Ok((self.visit)(Event::Member(Member {
            name,
            size: bytes.len() as u64,
            mtime,
            bytes,
        })))
    }

    fn nested(&mut self, name: String) -> ControlFlow<()> {
        let message = "an archive inside the archive: one level is read at most, so it is not";
        self.problem(Some(name), "nested_archive", message)
    }
}
