//! The streaming [`Generator`]: the day a file is published, what kind of file it is, and the
//! ring of recent articles that duplicates and corrections pick from.

use std::collections::VecDeque;

use chrono::{Datelike, NaiveDate};

use crate::article::Draft;
use crate::{CorpusSpec, FileKind, GeneratedFile, FIRST_CONTENT_ID};

/// How many recent articles duplicates and corrections pick from.
const RING: usize = 64;

/// The streaming generator returned by [`generate`](crate::generate).
pub struct Generator {
    spec: CorpusSpec,
    rng: fastrand::Rng,
    seq: u64,
    articles: u64,
    day: NaiveDate,
    left_today: u32,
    ring: VecDeque<Draft>,
}

impl Iterator for Generator {
    type Item = GeneratedFile;

    fn next(&mut self) -> Option<GeneratedFile> {
        if self.seq >= self.spec.count {
            return None;
        }
        if self.left_today == 0 {
            self.day = self.day.succ_opt().expect("date in range");
            self.left_today = self.rng.u32(24..=72);
        }
        self.left_today -= 1;
        let rel_dir = format!(
            "{:04}/{:02}/{:02}",
            self.day.year(),
            self.day.month(),
            self.day.day()
        );
        let s = self.spec;
        let roll = self.rng.f64();
        let file = if roll < s.bad_share {
            self.bad(rel_dir)
        } else if roll < s.bad_share + s.duplicate_share && !self.ring.is_empty() {
            self.duplicate(rel_dir)
        } else if roll < s.bad_share + s.duplicate_share + s.correction_share
            && !self.ring.is_empty()
        {
            self.correction(rel_dir)
        } else {
            self.article(rel_dir)
        };
        self.seq += 1;
        Some(file)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.spec.count - self.seq).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl Generator {
    /// The generator at the first file of `spec`'s corpus.
    pub(crate) fn new(spec: CorpusSpec) -> Generator {
        let mut rng = fastrand::Rng::with_seed(spec.seed);
        let left_today = rng.u32(24..=72);
        Generator {
            spec,
            rng,
            seq: 0,
            articles: 0,
            day: NaiveDate::from_ymd_opt(2020, 1, 1).expect("valid date"),
            left_today,
            ring: VecDeque::with_capacity(RING),
        }
    }

    /// `0000042_3f9a…​.txt`: like the real exports' names, no content id in them.
    fn plain_name(&mut self) -> String {
        format!("{:07}_{:016x}.txt", self.seq, self.rng.u64(..))
    }

    fn keep(&mut self, draft: Draft) {
        if self.ring.len() == RING {
            self.ring.pop_front();
        }
        self.ring.push_back(draft);
    }

    fn article(&mut self, rel_dir: String) -> GeneratedFile {
        let id = FIRST_CONTENT_ID + self.articles;
        self.articles += 1;
        let draft = Draft::new(&mut self.rng, id, self.day);
        let name = if self.rng.u8(..100) < 10 {
            format!("content_{id}.txt")
        } else {
            self.plain_name()
        };
        let file = GeneratedFile {
            name,
            rel_dir,
            bytes: draft.render(true),
            kind: FileKind::Article,
            expected: Some(draft.expected()),
        };
        self.keep(draft);
        file
    }

    fn duplicate(&mut self, rel_dir: String) -> GeneratedFile {
        let k = self.rng.usize(..self.ring.len());
        let draft = &self.ring[k];
        let (bytes, expected) = (draft.render(true), draft.expected());
        GeneratedFile {
            name: self.plain_name(),
            rel_dir,
            bytes,
            kind: FileKind::Duplicate,
            expected: Some(expected),
        }
    }

    fn correction(&mut self, rel_dir: String) -> GeneratedFile {
        let k = self.rng.usize(..self.ring.len());
        let mut draft = self.ring[k].clone();
        draft.correct(&mut self.rng);
        let file = GeneratedFile {
            name: self.plain_name(),
            rel_dir,
            bytes: draft.render(true),
            kind: FileKind::Correction,
            expected: Some(draft.expected()),
        };
        self.keep(draft);
        file
    }

    fn bad(&mut self, rel_dir: String) -> GeneratedFile {
        let name = self.plain_name();
        let bytes = match self.rng.u8(..4) {
            0 => Vec::new(),
            1 => b"\n  \n\n".to_vec(),
            2 => {
                let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
                let n = self.rng.usize(256..4096);
                b.extend((0..n).map(|_| self.rng.u8(..)));
                b
            }
            _ => Draft::new(&mut self.rng, 0, self.day).render(false),
        };
        GeneratedFile {
            name,
            rel_dir,
            bytes,
            kind: FileKind::Bad,
            expected: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::generate;

    fn spec(seed: u64, count: u64) -> CorpusSpec {
        CorpusSpec {
            seed,
            count,
            duplicate_share: 0.05,
            correction_share: 0.05,
            bad_share: 0.03,
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        let a: Vec<GeneratedFile> = generate(spec(7, 300)).collect();
        let b: Vec<GeneratedFile> = generate(spec(7, 300)).collect();
        assert_eq!(a.len(), 300);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (&x.name, &x.rel_dir, &x.bytes, x.kind),
                (&y.name, &y.rel_dir, &y.bytes, y.kind)
            );
        }
        let c: Vec<GeneratedFile> = generate(spec(8, 300)).collect();
        assert!(a.iter().zip(&c).any(|(x, y)| x.bytes != y.bytes));
    }

    #[test]
    fn a_smaller_count_is_a_prefix() {
        let small: Vec<GeneratedFile> = generate(spec(3, 120)).collect();
        let large: Vec<GeneratedFile> = generate(spec(3, 400)).take(120).collect();
        for (x, y) in small.iter().zip(&large) {
            assert_eq!((&x.name, &x.bytes), (&y.name, &y.bytes));
        }
    }

    #[test]
    fn shares_are_roughly_right() {
        let s = CorpusSpec {
            seed: 5,
            count: 5000,
            duplicate_share: 0.10,
            correction_share: 0.04,
            bad_share: 0.02,
        };
        let mut counts: HashMap<FileKind, u64> = HashMap::new();
        for f in generate(s) {
            *counts.entry(f.kind).or_default() += 1;
        }
        let near = |kind, share: f64| {
            let want = share * s.count as f64;
            let got = counts.get(&kind).copied().unwrap_or(0) as f64;
            assert!(
                (got - want).abs() <= want * 0.25,
                "{kind:?}: {got} files, expected about {want}"
            );
        };
        near(FileKind::Duplicate, 0.10);
        near(FileKind::Correction, 0.04);
        near(FileKind::Bad, 0.02);
        near(FileKind::Article, 0.84);
    }
}
