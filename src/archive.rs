//! The names an archive or a patch will create, read at the edge before the
//! decision (as [`crate::gitview`] asks git): the pure check then judges each
//! one as a file write ([`crate::checks::extract`]).
//!
//! Read in-process, never by running the archiver: tar (plain or gzip) and
//! zip, told apart by their first bytes as GNU tar and bsdtar do, and diffs.
//! Bounded: the file must be a regular file of at most [`MAX_FILE`] bytes;
//! at most [`MAX_MEMBERS`] names; a gzip stream is inflated to at most
//! [`MAX_INFLATED`] bytes (a decompression bomb stops there); all within
//! [`BUDGET`]. Anything else (another compression, another format, a bound
//! reached, a malformed header) answers an error, and the check refuses.

use crate::checks::extract::{Format, Member, MemberKind, Unlisted};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

/// Largest archive or patch file read.
pub const MAX_FILE: u64 = 256 * 1024 * 1024;
/// Most members listed; an archive with more is refused.
pub const MAX_MEMBERS: usize = 10_000;
/// Most bytes a compressed tar is inflated to while its headers are read.
pub const MAX_INFLATED: u64 = 512 * 1024 * 1024;
/// Wall-clock budget for reading one archive.
pub const BUDGET: Duration = Duration::from_millis(400);
/// Largest zip symlink target read (a path).
const MAX_LINK: u64 = 4096;

/// Why an archive could not be listed. Every case is a refusal upstream.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Open(#[from] crate::regular::RegularError),
    #[error("it is larger than {MAX_FILE} bytes")]
    TooLarge,
    #[error("it has more than {MAX_MEMBERS} members")]
    TooMany,
    #[error("reading it took longer than {} ms", BUDGET.as_millis())]
    TooSlow,
    #[error("it inflates to more than {MAX_INFLATED} bytes")]
    Bomb,
    #[error("it is {0}, which toolgate does not read (it reads tar, tar.gz and zip)")]
    Unsupported(&'static str),
    #[error("it is not a tar or zip archive toolgate can read: {0}")]
    Malformed(String),
    #[error("cannot read it: {0}")]
    Io(#[source] std::io::Error),
    #[error("the patch names no file toolgate can read (a quoted name, or none)")]
    NoNames,
}

/// The members `path` would create, read as `format` says.
/// unzip, given a name that does not exist, tries it with `.zip` and `.ZIP` appended.
pub fn members(path: &Path, format: Format) -> Result<Vec<Member>, Unlisted> {
    let mut path = path.to_path_buf();
    if format == Format::Zip && std::fs::symlink_metadata(&path).is_err() {
        for ext in [".zip", ".ZIP"] {
            let mut with = path.clone().into_os_string();
            with.push(ext);
            if std::fs::symlink_metadata(&with).is_ok() {
                path = with.into();
                break;
            }
        }
    }
    list(&path, format).map_err(|e| Unlisted(format!("`{}`: {e}", path.display())))
}

fn list(path: &Path, format: Format) -> Result<Vec<Member>, ArchiveError> {
    let started = Instant::now();
    let mut file = crate::regular::open(path)?;
    let len = file.metadata().map_err(ArchiveError::Io)?.len();
    if len > MAX_FILE {
        return Err(ArchiveError::TooLarge);
    }
    if format == Format::Patch {
        let bytes = crate::regular::read_capped(file, path, MAX_FILE)?;
        return patch_members(&String::from_utf8_lossy(&bytes));
    }
    if format == Format::Zip {
        return zip_members(file, len, started);
    }
    let mut magic = [0u8; 6];
    let n = read_up_to(&mut file, &mut magic)?;
    file.seek(SeekFrom::Start(0)).map_err(ArchiveError::Io)?;
    match magic.get(..n).unwrap_or_default() {
        [0x1f, 0x8b, ..] => {
            let inflated = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
            tar_members(
                Bounded::new(Unseekable(inflated), MAX_INFLATED, started),
                false,
            )
        }
        [b'P', b'K', ..] => Err(ArchiveError::Unsupported(
            "a zip archive given to tar (extract it with unzip)",
        )),
        [b'B', b'Z', b'h', ..] => Err(ArchiveError::Unsupported("bzip2-compressed")),
        [0xfd, b'7', b'z', b'X', b'Z', 0] => Err(ArchiveError::Unsupported("xz-compressed")),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Err(ArchiveError::Unsupported("zstd-compressed")),
        [0x1f, 0x9d, ..] | [0x1f, 0xa0, ..] => {
            Err(ArchiveError::Unsupported("compress(1)-compressed"))
        }
        [b'L', b'Z', b'I', b'P', ..] => Err(ArchiveError::Unsupported("lzip-compressed")),
        [b'7', b'z', 0xbc, 0xaf, ..] => Err(ArchiveError::Unsupported("a 7-Zip archive")),
        [b'R', b'a', b'r', b'!', ..] => Err(ArchiveError::Unsupported("a RAR archive")),
        [b'0', b'7', b'0', b'7', ..] => Err(ArchiveError::Unsupported("a cpio archive")),
        _ => tar_members(Bounded::new(file, MAX_FILE, started), true),
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, ArchiveError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ArchiveError::Io(e)),
        }
    }
    Ok(n)
}

/// A reader that fails past a byte cap or the time budget, so neither a
/// bomb nor a slow device keeps the hook.
struct Bounded<R> {
    inner: R,
    left: u64,
    started: Instant,
    hit: Option<ArchiveError>,
}

impl<R: Read> Bounded<R> {
    fn new(inner: R, cap: u64, started: Instant) -> Bounded<R> {
        Bounded {
            inner,
            left: cap,
            started,
            hit: None,
        }
    }
}

impl<R: Seek> Seek for Bounded<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(to)
    }
}

/// A stream (an inflater) given to a reader that is generic over seeking, which it never uses.
struct Unseekable<R>(R);

impl<R: Read> Read for Unseekable<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R> Seek for Unseekable<R> {
    fn seek(&mut self, _: SeekFrom) -> std::io::Result<u64> {
        Err(std::io::Error::other("a compressed stream does not seek"))
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.started.elapsed() > BUDGET {
            self.hit = Some(ArchiveError::TooSlow);
            return Err(std::io::Error::other("time budget spent"));
        }
        if self.left == 0 {
            // One byte more than the cap tells a bomb from an archive that ends exactly there.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.hit = Some(ArchiveError::Bomb);
                    Err(std::io::Error::other("inflation cap reached"))
                }
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

fn tar_members<R: Read + Seek>(
    reader: Bounded<R>,
    seek: bool,
) -> Result<Vec<Member>, ArchiveError> {
    let mut archive = tar::Archive::new(reader);
    // GNU tar stops at the first zero block unless `-i`; reading past it lists a superset.
    archive.set_ignore_zeros(true);
    let listed = match seek {
        true => archive.entries_with_seek().and_then(tar_names),
        false => archive.entries().and_then(tar_names),
    };
    match listed {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e),
        // A bound the reader hit says more than the error the tar reader made of it.
        Err(e) => Err(archive
            .into_inner()
            .hit
            .unwrap_or_else(|| ArchiveError::Malformed(e.to_string()))),
    }
}

/// Each entry's name and kind (long names and pax `path` records applied by the reader).
fn tar_names<'a, R: Read + 'a>(
    entries: tar::Entries<'a, R>,
) -> std::io::Result<Result<Vec<Member>, ArchiveError>> {
    let mut out = vec![];
    for entry in entries {
        let mut entry = entry?;
        if out.len() >= MAX_MEMBERS {
            return Ok(Err(ArchiveError::TooMany));
        }
        let utf8 = |b: std::borrow::Cow<[u8]>, what: &str| {
            String::from_utf8(b.into_owned())
                .map_err(|_| ArchiveError::Malformed(format!("a {what} is not UTF-8")))
        };
        let t = entry.header().entry_type();
        if let Some(e) = pax_override(&mut entry, t) {
            return Ok(Err(e));
        }
        let name = match utf8(entry.path_bytes(), "member name") {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        let link = || match entry.link_name_bytes() {
            Some(l) => utf8(l, "link target"),
            None => Err(ArchiveError::Malformed(format!(
                "the link `{name}` has no target"
            ))),
        };
        let kind = if t.is_file() || t.is_contiguous() {
            MemberKind::File
        } else if t.is_dir() {
            MemberKind::Dir
        } else if t.is_symlink() || t.is_hard_link() {
            let target = match link() {
                Ok(l) => l,
                Err(e) => return Ok(Err(e)),
            };
            match t.is_symlink() {
                true => MemberKind::Symlink(target),
                false => MemberKind::Hardlink(target),
            }
        } else {
            MemberKind::Other
        };
        out.push(Member { name, kind });
    }
    Ok(Ok(out))
}

/// A pax record that renames a member in a way this reader does not apply
/// (GNU tar's sparse `GNU.sparse.name`, a global `path`): refused.
fn pax_override<R: Read>(entry: &mut tar::Entry<R>, t: tar::EntryType) -> Option<ArchiveError> {
    let global = t == tar::EntryType::XGlobalHeader;
    let mut records = match entry.pax_extensions() {
        Ok(Some(r)) => r,
        Ok(None) => return None,
        Err(e) => return Some(ArchiveError::Malformed(e.to_string())),
    };
    records.find_map(|r| {
        let key = match r {
            Ok(r) => r.key().map(str::to_string).unwrap_or_default(),
            Err(e) => return Some(ArchiveError::Malformed(e.to_string())),
        };
        let renames = key.starts_with("GNU.sparse")
            || (global && matches!(key.as_str(), "path" | "linkpath"));
        renames.then(|| {
            ArchiveError::Malformed(format!(
                "a pax record `{key}` renames members in a way toolgate does not read"
            ))
        })
    })
}

/// The central directory of a zip (what unzip lists and extracts by), read
/// by hand: the format is a few fixed records, and no crate is needed for it.
/// ZIP64 and multi-disk archives are refused.
fn zip_members(
    mut file: std::fs::File,
    len: u64,
    started: Instant,
) -> Result<Vec<Member>, ArchiveError> {
    let bad = |m: &str| ArchiveError::Malformed(format!("zip: {m}"));
    // The end record is in the last 22 + 65535 bytes (its comment is at most 64 KiB).
    let tail_len = len.min(22 + 65_535);
    file.seek(SeekFrom::Start(len - tail_len))
        .map_err(ArchiveError::Io)?;
    let mut tail = vec![0u8; usize::try_from(tail_len).unwrap_or(0)];
    file.read_exact(&mut tail).map_err(ArchiveError::Io)?;
    let at = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail.get(i..i + 4) == Some(b"PK\x05\x06"))
        .ok_or_else(|| bad("no end of central directory record"))?;
    let end = tail
        .get(at..at + 22)
        .ok_or_else(|| bad("truncated end record"))?;
    let (disk, cd_disk) = (le16(end, 4), le16(end, 6));
    let (count, total) = (le16(end, 8), le16(end, 10));
    let (cd_size, cd_offset) = (le32(end, 12), le32(end, 16));
    if disk != 0 || cd_disk != 0 || count != total {
        return Err(ArchiveError::Unsupported("a multi-disk zip"));
    }
    if count == 0xffff || cd_size == 0xffff_ffff || cd_offset == 0xffff_ffff {
        return Err(ArchiveError::Unsupported("a ZIP64 archive"));
    }
    if usize::from(count) > MAX_MEMBERS {
        return Err(ArchiveError::TooMany);
    }
    if u64::from(cd_offset) + u64::from(cd_size) > len {
        return Err(bad("the central directory lies past the end"));
    }
    file.seek(SeekFrom::Start(u64::from(cd_offset)))
        .map_err(ArchiveError::Io)?;
    let mut cd = vec![0u8; usize::try_from(cd_size).unwrap_or(0)];
    file.read_exact(&mut cd).map_err(ArchiveError::Io)?;
    let mut out = vec![];
    let mut p = 0usize;
    for _ in 0..count {
        if started.elapsed() > BUDGET {
            return Err(ArchiveError::TooSlow);
        }
        let h = cd
            .get(p..p + 46)
            .ok_or_else(|| bad("truncated central directory"))?;
        if h.get(..4) != Some(b"PK\x01\x02") {
            return Err(bad("a central directory entry has a wrong signature"));
        }
        let method = le16(h, 10);
        let csize = le32(h, 20);
        let (name_len, extra_len, comment_len) = (
            usize::from(le16(h, 28)),
            usize::from(le16(h, 30)),
            usize::from(le16(h, 32)),
        );
        let external = le32(h, 38);
        let local = le32(h, 42);
        let name = cd
            .get(p + 46..p + 46 + name_len)
            .ok_or_else(|| bad("truncated name"))?;
        let name =
            String::from_utf8(name.to_vec()).map_err(|_| bad("a member name is not UTF-8"))?;
        p += 46 + name_len + extra_len + comment_len;
        // Unix mode bits ride in the high half of the external attributes. They are
        // read whatever host the entry says made it (MS-DOS leaves them zero), so a
        // link is never taken for a file.
        let mode = external >> 16;
        let kind = match mode & 0o170_000 {
            0o120_000 => MemberKind::Symlink(zip_link(&mut file, local, method, csize)?),
            0o040_000 => MemberKind::Dir,
            0 | 0o100_000 if name.ends_with('/') => MemberKind::Dir,
            0 | 0o100_000 => MemberKind::File,
            _ => MemberKind::Other,
        };
        out.push(Member { name, kind });
    }
    Ok(out)
}

/// A zip symlink's target: its (small) stored or deflated content.
fn zip_link(
    file: &mut std::fs::File,
    local: u32,
    method: u16,
    csize: u32,
) -> Result<String, ArchiveError> {
    let bad = |m: &str| ArchiveError::Malformed(format!("zip: {m}"));
    if u64::from(csize) > MAX_LINK {
        return Err(bad("a symbolic link's target is too long"));
    }
    file.seek(SeekFrom::Start(u64::from(local)))
        .map_err(ArchiveError::Io)?;
    let mut h = [0u8; 30];
    file.read_exact(&mut h).map_err(ArchiveError::Io)?;
    if h.get(..4) != Some(b"PK\x03\x04") {
        return Err(bad("a local header has a wrong signature"));
    }
    let skip = u64::from(le16(&h, 26)) + u64::from(le16(&h, 28));
    file.seek(SeekFrom::Current(i64::try_from(skip).unwrap_or(0)))
        .map_err(ArchiveError::Io)?;
    let mut data = vec![0u8; usize::try_from(csize).unwrap_or(0)];
    file.read_exact(&mut data).map_err(ArchiveError::Io)?;
    let target = match method {
        0 => data,
        8 => {
            let mut t = vec![];
            flate2::read::DeflateDecoder::new(&data[..])
                .take(MAX_LINK)
                .read_to_end(&mut t)
                .map_err(ArchiveError::Io)?;
            t
        }
        _ => {
            return Err(ArchiveError::Unsupported(
                "a zip whose link targets use another compression",
            ))
        }
    };
    String::from_utf8(target).map_err(|_| bad("a link target is not UTF-8"))
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([
        b.get(at).copied().unwrap_or(0),
        b.get(at + 1).copied().unwrap_or(0),
    ])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from(le16(b, at)) | (u32::from(le16(b, at + 2)) << 16)
}

/// The names a diff's headers give (no strip: the check strips): git's and
/// unified `---`/`+++`, context `***`, and `Index:` lines, which GNU patch
/// also reads a name from.
fn patch_members(text: &str) -> Result<Vec<Member>, ArchiveError> {
    let headers = ["--- ", "+++ ", "diff --git "];
    let mut names = match crate::checks::extract::patch_names(text, 0) {
        Some(n) => n,
        // `None` with a header line: a name it would not decode (quoted).
        None if text
            .lines()
            .any(|l| headers.iter().any(|h| l.starts_with(h))) =>
        {
            return Err(ArchiveError::NoNames)
        }
        None => vec![],
    };
    for line in text.lines() {
        // `*** NAME` heads a context diff's file; `*** 1,5 ****` is a hunk.
        let named = line
            .strip_prefix("*** ")
            .filter(|_| !line.trim_end().ends_with(" ****"))
            .or_else(|| line.strip_prefix("Index: "));
        if let Some(n) = named {
            let n = n.split('\t').next().unwrap_or_default().trim_end();
            if n.starts_with('"') {
                return Err(ArchiveError::NoNames);
            }
            if !n.is_empty() && n != "/dev/null" {
                names.push(n.to_string());
            }
        }
    }
    if names.is_empty() {
        return Err(ArchiveError::NoNames);
    }
    if names.len() > MAX_MEMBERS {
        return Err(ArchiveError::TooMany);
    }
    names.sort();
    names.dedup();
    Ok(names.into_iter().map(Member::file).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip of stored entries (name, unix mode, content), by the format's records.
    fn zip(entries: &[(&str, u32, &str)]) -> Vec<u8> {
        let (mut body, mut cd) = (vec![], vec![]);
        for (name, mode, data) in entries {
            let offset = body.len() as u32;
            body.extend(b"PK\x03\x04\x14\0\0\0\0\0\0\0\0\0\0\0\0\0");
            body.extend((data.len() as u32).to_le_bytes());
            body.extend((data.len() as u32).to_le_bytes());
            body.extend((name.len() as u16).to_le_bytes());
            body.extend(0u16.to_le_bytes());
            body.extend(name.as_bytes());
            body.extend(data.as_bytes());
            cd.extend(b"PK\x01\x02\x14\x03\x14\0\0\0\0\0\0\0\0\0\0\0\0\0");
            cd.extend((data.len() as u32).to_le_bytes());
            cd.extend((data.len() as u32).to_le_bytes());
            cd.extend((name.len() as u16).to_le_bytes());
            cd.extend([0u8; 8]);
            cd.extend((mode << 16).to_le_bytes());
            cd.extend(offset.to_le_bytes());
            cd.extend(name.as_bytes());
        }
        let n = entries.len() as u16;
        let mut end = b"PK\x05\x06\0\0\0\0".to_vec();
        end.extend(n.to_le_bytes());
        end.extend(n.to_le_bytes());
        end.extend((cd.len() as u32).to_le_bytes());
        end.extend((body.len() as u32).to_le_bytes());
        end.extend(0u16.to_le_bytes());
        [body, cd, end].concat()
    }

    #[test]
    fn zip_central_directory_with_links() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.zip");
        std::fs::write(
            &p,
            zip(&[
                ("docs/", 0o040_755, ""),
                ("docs/a.md", 0o100_644, "x"),
                ("l", 0o120_777, "../up"),
            ]),
        )
        .unwrap();
        let m = list(&p, Format::Zip).unwrap();
        assert_eq!(m[0].kind, MemberKind::Dir);
        assert_eq!(m[1], Member::file("docs/a.md"));
        assert_eq!(m[2].kind, MemberKind::Symlink("../up".into()));
        // unzip's `.zip` fallback.
        assert_eq!(members(&d.path().join("a"), Format::Zip).unwrap().len(), 3);
        std::fs::write(&p, b"PK\x03\x04 truncated").unwrap();
        assert!(list(&p, Format::Zip).is_err());
    }

    #[test]
    fn inflation_stops_at_the_cap() {
        let started = Instant::now();
        let mut b = Bounded::new(&[0u8; 100][..], 10, started);
        let mut out = vec![];
        assert!(b.read_to_end(&mut out).is_err());
        assert!(matches!(b.hit, Some(ArchiveError::Bomb)));
        let mut exact = Bounded::new(&[0u8; 10][..], 10, started);
        assert_eq!(exact.read_to_end(&mut out).unwrap(), 10);
    }

    #[test]
    fn patch_headers_name_files() {
        let names =
            |t: &str| patch_members(t).map(|m| m.into_iter().map(|m| m.name).collect::<Vec<_>>());
        assert_eq!(
            names("--- a/x.rs\t2026\n+++ b/x.rs\n@@ -1 +1 @@\n").unwrap(),
            ["a/x.rs", "b/x.rs"]
        );
        assert_eq!(
            names("Index: y.c\n*** y.c.orig\n--- y.c\n*** 1,2 ****\n").unwrap(),
            ["y.c", "y.c.orig"]
        );
        assert!(names("--- \"a/q\"\n+++ \"b/q\"\n").is_err());
        assert!(names("1c1\n< a\n---\n> b\n").is_err());
    }
}
