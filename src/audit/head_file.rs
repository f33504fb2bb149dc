//! The head file on disk: two slots rewritten in place, so a writer replaces the head
//! with one `pwrite` instead of a temporary file and a `rename` (a rename over a file
//! makes ext4 start writing the new one back at once: about half of a hook's I/O time).
//!
//! Layout: a 64-byte header line `toolgate-audit-head-slots-v1 <slot bytes>`, then slot 0
//! and slot 1, each `slot bytes` long. A slot holds a head's bytes ([`Head::to_bytes`],
//! one line), then a line with the writer's seal tag (empty when it had no cache key),
//! then zeros. The newest head is the readable slot with the highest seq. A writer puts
//! the next head in the other slot, appends the record, and only then zeroes the older
//! slot, so at rest the file holds one head, as a renamed file did, and an older head
//! cannot be taken back out of it to hide a cut-off record (docs/audit.md, "The head
//! file"). A file that does not begin with the header is a head in the single-document
//! format of earlier versions: read as such, and replaced by a slot file on the next
//! append.

use super::head::{read_regular, write_atomic, Head, HeadFault};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: &str = "toolgate-audit-head-slots-v1";
const HEADER_BYTES: u64 = 64;
/// A head is a record and a few hundred bytes: most fit a page, all but records with a
/// large stored input fit this.
const MIN_SLOT_BYTES: u64 = 16 * 1024;
/// A head is one record plus a few hundred bytes; anything far larger is not one.
pub const MAX_HEAD_BYTES: u64 = 16 * 1024 * 1024;

/// One slot: how far its bytes reach (zeroing that far clears it), the seq of the head in
/// it (as read, or as this writer wrote it), and the head as read.
#[derive(Debug, Default)]
struct Slot {
    extent: u64,
    seq: Option<u64>,
    head: Option<Read>,
}

/// A head read from a file, with its exact bytes and the seal tag stored beside it.
#[derive(Debug)]
pub struct Read {
    pub head: Head,
    pub bytes: Vec<u8>,
    pub tag: Option<String>,
}

/// The head file as a writer holds it under the log's lock.
#[derive(Debug)]
pub struct HeadFile {
    path: PathBuf,
    /// Open for writing in place; `None` when there is no slot file yet (none, an
    /// earlier format, or one that is to be replaced whole).
    file: Option<File>,
    slot_bytes: u64,
    slots: [Slot; 2],
    /// A head in the earlier single-document format.
    legacy: Option<Read>,
    /// What the last [`HeadFile::write_next`] wrote, to take back on failure.
    written: Option<Written>,
}

#[derive(Debug)]
enum Written {
    InPlace(usize),
    Whole { before: Option<Vec<u8>> },
}

impl HeadFile {
    /// Reads the head file for a writer (`Ok` with no head when there is none).
    pub fn open(path: &Path) -> Result<HeadFile, HeadFault> {
        let read_err = |e: std::io::Error| HeadFault::Read {
            path: path.into(),
            source: Arc::new(e),
        };
        let mut hf = HeadFile::empty(path);
        let file = match open_rw(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(hf),
            Err(e) => return Err(read_err(e)),
        };
        let bytes = read_open(&file, MAX_HEAD_BYTES * 2 + HEADER_BYTES).map_err(read_err)?;
        match parse(path, &bytes)? {
            Parsed::Legacy(r) => hf.legacy = Some(*r),
            Parsed::Slots { slot_bytes, slots } => {
                hf.file = Some(file);
                hf.slot_bytes = slot_bytes;
                hf.slots = *slots;
            }
        }
        Ok(hf)
    }

    /// A head file with nothing read (a repair that replaces whatever is there).
    pub fn empty(path: &Path) -> HeadFile {
        HeadFile {
            path: path.into(),
            file: None,
            slot_bytes: 0,
            slots: Default::default(),
            legacy: None,
            written: None,
        }
    }

    /// The newest head in the file.
    pub fn newest(&self) -> Option<&Read> {
        self.newest_slot()
            .and_then(|i| self.slots.get(i))
            .and_then(|s| s.head.as_ref())
            .or(self.legacy.as_ref())
    }

    fn newest_slot(&self) -> Option<usize> {
        let seq = |i: usize| self.slots.get(i).and_then(|s| s.seq);
        match (seq(0), seq(1)) {
            (Some(a), Some(b)) => Some(if b > a { 1 } else { 0 }),
            (Some(_), None) => Some(0),
            (None, Some(_)) => Some(1),
            (None, None) => None,
        }
    }

    /// Writes `bytes` (the [`Head::to_bytes`] of the head for record `seq`) and its seal
    /// `tag` as the new head: in the slot that does not hold the newest head, or, when
    /// there is no slot file yet or the head does not fit (or fits one far smaller), as a
    /// new file renamed into place.
    pub fn write_next(&mut self, bytes: &[u8], seq: u64, tag: Option<&str>) -> std::io::Result<()> {
        let content = slot_content(bytes, tag);
        let len = content.len() as u64;
        let fits = len <= self.slot_bytes
            && (self.slot_bytes == MIN_SLOT_BYTES || len * 4 > self.slot_bytes);
        let target = self.newest_slot().map_or(0, |i| 1 - i);
        if let (Some(file), true) = (&self.file, fits) {
            let extent = self.slots.get(target).map_or(0, |s| s.extent);
            write_at(file, &padded(&content, extent), self.offset(target))?;
            if let Some(s) = self.slots.get_mut(target) {
                *s = Slot {
                    extent: len,
                    seq: Some(seq),
                    head: None,
                };
            }
            self.written = Some(Written::InPlace(target));
            return Ok(());
        }
        let before = read_regular(&self.path, MAX_HEAD_BYTES * 2 + HEADER_BYTES).ok();
        let slot_bytes = len.next_power_of_two().max(MIN_SLOT_BYTES);
        write_atomic(&self.path, &whole_file(&content, slot_bytes))?;
        self.file = open_rw(&self.path).ok();
        self.slot_bytes = slot_bytes;
        self.slots = [
            Slot {
                extent: len,
                seq: Some(seq),
                head: None,
            },
            Slot::default(),
        ];
        self.legacy = None;
        self.written = Some(Written::Whole { before });
        Ok(())
    }

    /// Once the record the newest head names is in the log: zeroes the other slot, so the
    /// file holds one head. A failure leaves an older head beside the newest, which is
    /// still the one read, and the next append writes over it.
    pub fn settle(&mut self) {
        self.written = None;
        if let Some(keep) = self.newest_slot() {
            self.clear(1 - keep);
        }
    }

    fn clear(&mut self, slot: usize) {
        let (Some(file), Some(s)) = (&self.file, self.slots.get(slot)) else {
            return;
        };
        if s.extent == 0 {
            return;
        }
        if write_at(file, &vec![0u8; s.extent as usize], self.offset(slot)).is_ok() {
            if let Some(s) = self.slots.get_mut(slot) {
                *s = Slot::default();
            }
        }
    }

    /// Takes back the head [`HeadFile::write_next`] wrote (its record could not be
    /// appended): the slot is zeroed, or the file replaced whole is put back.
    pub fn undo(&mut self) {
        match self.written.take() {
            Some(Written::InPlace(i)) => self.clear(i),
            Some(Written::Whole { before }) => {
                let _ = match before {
                    Some(b) => write_atomic(&self.path, &b),
                    None => std::fs::remove_file(&self.path),
                };
                self.file = None;
                self.slot_bytes = 0;
                self.slots = Default::default();
            }
            None => {}
        }
    }

    fn offset(&self, slot: usize) -> u64 {
        HEADER_BYTES + slot as u64 * self.slot_bytes
    }
}

/// Reads the newest head of the file at `path` (readers: `verify-log`, checkpoints).
pub fn load(path: &Path) -> Result<Option<Read>, HeadFault> {
    let bytes = match read_regular(path, MAX_HEAD_BYTES * 2 + HEADER_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(HeadFault::Read {
                path: path.into(),
                source: Arc::new(e),
            })
        }
    };
    let mut hf = HeadFile::empty(path);
    match parse(path, &bytes)? {
        Parsed::Legacy(r) => return Ok(Some(*r)),
        Parsed::Slots { slots, .. } => hf.slots = *slots,
    }
    let newest = hf.newest_slot();
    Ok(newest.and_then(|i| {
        let [a, b] = hf.slots;
        if i == 0 {
            a.head
        } else {
            b.head
        }
    }))
}

/// Writes a head file holding `bytes` (a head's [`Head::to_bytes`]) and `tag` in its first
/// slot, replacing whatever was there (tests, and tools that put a head in place).
pub fn store(path: &Path, bytes: &[u8], tag: Option<&str>) -> std::io::Result<()> {
    let content = slot_content(bytes, tag);
    let slot_bytes = (content.len() as u64)
        .next_power_of_two()
        .max(MIN_SLOT_BYTES);
    write_atomic(path, &whole_file(&content, slot_bytes))
}

enum Parsed {
    Legacy(Box<Read>),
    Slots {
        slot_bytes: u64,
        slots: Box<[Slot; 2]>,
    },
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed, HeadFault> {
    let header = bytes
        .get(..HEADER_BYTES as usize)
        .and_then(|h| std::str::from_utf8(h).ok());
    let Some(size) = header.and_then(|h| h.strip_prefix(MAGIC)) else {
        return parse_head(path, bytes, None).map(|r| Parsed::Legacy(Box::new(r)));
    };
    let layout = || HeadFault::Layout {
        path: path.into(),
        bytes: bytes.len() as u64,
    };
    let slot_bytes: u64 = size.trim().parse().map_err(|_| layout())?;
    if !(MIN_SLOT_BYTES..=MAX_HEAD_BYTES).contains(&slot_bytes)
        || bytes.len() as u64 != HEADER_BYTES + 2 * slot_bytes
    {
        return Err(layout());
    }
    let body = bytes.get(HEADER_BYTES as usize..).unwrap_or_default();
    let mut slots: [Slot; 2] = Default::default();
    for (slot, raw) in slots.iter_mut().zip(body.chunks(slot_bytes as usize)) {
        let used = raw.get(..nonzero_extent(raw)).unwrap_or_default();
        slot.extent = used.len() as u64;
        // An unreadable slot (zeroed, or torn by a writer killed while writing it) holds
        // no head; which head is newest, and whether it fits the log, is checked on what
        // is left.
        slot.head = split_slot(used).and_then(|(head, tag)| parse_head(path, head, tag).ok());
        slot.seq = slot.head.as_ref().map(|r| r.head.record.seq);
    }
    Ok(Parsed::Slots {
        slot_bytes,
        slots: Box::new(slots),
    })
}

/// The length of `raw` without its trailing zero bytes. A slot is mostly zeros (16 KiB or more
/// for a head of ~2 KB), so they are skipped 64 bytes at a time: byte by byte, the two slots
/// cost ~0.3M instructions, more than parsing the head.
fn nonzero_extent(raw: &[u8]) -> usize {
    const STEP: usize = 64;
    let mut end = raw.len();
    while end >= STEP {
        match raw.get(end - STEP..end) {
            Some(block) if block.iter().fold(0u8, |acc, &b| acc | b) == 0 => end -= STEP,
            _ => break,
        }
    }
    raw.get(..end)
        .and_then(|r| r.iter().rposition(|&b| b != 0))
        .map_or(0, |i| i + 1)
}

/// A slot's head line (with its newline) and its tag line, if both are whole.
fn split_slot(raw: &[u8]) -> Option<(&[u8], Option<String>)> {
    let end = raw.iter().position(|&b| b == b'\n')? + 1;
    let (head, rest) = raw.split_at(end);
    let tag_end = rest.iter().position(|&b| b == b'\n')?;
    let tag = std::str::from_utf8(rest.get(..tag_end)?).ok()?;
    Some((head, (!tag.is_empty()).then(|| tag.to_owned())))
}

fn parse_head(path: &Path, bytes: &[u8], tag: Option<String>) -> Result<Read, HeadFault> {
    let head: Head = serde_json::from_slice(bytes).map_err(|e| {
        let old =
            std::str::from_utf8(bytes).is_ok_and(|t| t.contains(super::head::OLD_HEAD_CONTEXT));
        if old {
            HeadFault::OldFormat { path: path.into() }
        } else {
            HeadFault::Parse {
                path: path.into(),
                source: Arc::new(e),
            }
        }
    })?;
    Ok(Read {
        head,
        bytes: bytes.to_vec(),
        tag,
    })
}

fn slot_content(bytes: &[u8], tag: Option<&str>) -> Vec<u8> {
    let mut c = Vec::with_capacity(bytes.len() + 48);
    c.extend_from_slice(bytes);
    if c.last() != Some(&b'\n') {
        c.push(b'\n');
    }
    c.extend_from_slice(tag.unwrap_or_default().as_bytes());
    c.push(b'\n');
    c
}

/// `content` followed by zeros up to `extent`: what was in the slot is gone.
fn padded(content: &[u8], extent: u64) -> Vec<u8> {
    let mut v = content.to_vec();
    if (v.len() as u64) < extent {
        v.resize(extent as usize, 0);
    }
    v
}

fn whole_file(content: &[u8], slot_bytes: u64) -> Vec<u8> {
    let mut header = format!("{MAGIC} {slot_bytes}");
    header.push_str(&" ".repeat((HEADER_BYTES as usize).saturating_sub(header.len() + 1)));
    header.push('\n');
    let mut v = header.into_bytes();
    v.extend_from_slice(content);
    v.resize((HEADER_BYTES + 2 * slot_bytes) as usize, 0);
    v
}

fn open_rw(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(f)
}

fn read_open(f: &File, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let len = f.metadata()?.len();
    if len > max {
        return Err(std::io::Error::other(format!(
            "{len} bytes is more than the {max} allowed"
        )));
    }
    let mut out = Vec::with_capacity(len as usize);
    f.take(max + 1).read_to_end(&mut out)?;
    Ok(out)
}

fn write_at(f: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, bytes, offset)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_nonzero_extent_ends_at_the_last_nonzero_byte() {
        for len in [0usize, 1, 63, 64, 65, 127, 128, 200, 16 * 1024] {
            let marks = [
                None,
                Some(0),
                Some(1),
                Some(63),
                Some(64),
                Some(len / 2),
                Some(len.saturating_sub(1)),
            ];
            for at in marks {
                let mut raw = vec![0u8; len];
                if let Some(b) = at.and_then(|i| raw.get_mut(i)) {
                    *b = b'x';
                }
                let naive = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                assert_eq!(
                    super::nonzero_extent(&raw),
                    naive,
                    "len {len}, byte at {at:?}"
                );
            }
        }
    }
}
