//! Opening toolgate's own files (passport, signature, trust entries, config,
//! state, head, log) so that an agent cannot stall or exhaust the hook by
//! putting something other than a plain file in their place.
//!
//! A FIFO blocks `open(2)` until a writer appears and `/dev/zero` never ends,
//! so the file is opened with `O_NONBLOCK` (which makes neither wait), checked
//! with `fstat` on the open descriptor (no race with a rename), refused unless
//! it is a regular file, and read with a size cap. Symlinks are followed: a
//! symlink to a regular file is a regular file.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Cap for small JSON documents: passports, signatures, keys, config, state, head.
pub const DOC_CAP: u64 = 4 * 1024 * 1024;

/// Why one of toolgate's files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RegularError {
    #[error("{} does not exist", path.display())]
    NotFound { path: PathBuf },
    #[error("{} is a {kind}, not a regular file; toolgate reads only regular files here", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} is larger than {cap} bytes", path.display())]
    TooLarge { path: PathBuf, cap: u64 },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RegularError {
    /// Whether the file is simply absent (callers often treat that as "use the default").
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegularError::NotFound { .. })
    }

    pub fn path(&self) -> &Path {
        match self {
            RegularError::NotFound { path }
            | RegularError::NotRegular { path, .. }
            | RegularError::TooLarge { path, .. }
            | RegularError::Io { path, .. } => path,
        }
    }
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "FIFO";
        }
        if ft.is_char_device() {
            return "character device";
        }
        if ft.is_block_device() {
            return "block device";
        }
        if ft.is_socket() {
            return "socket";
        }
    }
    if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symlink"
    } else {
        "special file"
    }
}

/// Opens `path` with `opts` without blocking, and returns it only if it is a
/// regular file. The caller's options decide read/write/append/create; this
/// adds `O_NONBLOCK` (and `O_NOCTTY`), which change nothing for regular files.
pub fn open_with(path: &Path, opts: &mut OpenOptions) -> Result<File, RegularError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = opts.open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => RegularError::NotFound { path: path.into() },
        _ => RegularError::Io {
            path: path.into(),
            source,
        },
    })?;
    let meta = file.metadata().map_err(|source| RegularError::Io {
        path: path.into(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(RegularError::NotRegular {
            path: path.into(),
            kind: kind_of(meta.file_type()),
        });
    }
    Ok(file)
}

/// Opens `path` read-only, refusing anything but a regular file.
pub fn open(path: &Path) -> Result<File, RegularError> {
    open_with(path, OpenOptions::new().read(true))
}

/// Reads a whole regular file of at most `cap` bytes.
pub fn read(path: &Path, cap: u64) -> Result<Vec<u8>, RegularError> {
    let file = open(path)?;
    read_capped(file, path, cap)
}

/// A JSON document of toolgate's that cannot be used: unreadable, or not the JSON it should be.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: RegularError,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// [`read`], with the failure as a [`DocError`].
pub fn read_doc(path: &Path, cap: u64) -> Result<Vec<u8>, DocError> {
    read(path, cap).map_err(|source| DocError::Read {
        path: path.into(),
        source,
    })
}

/// Parses the bytes read from `path` as `T`.
pub fn parse_doc<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, DocError> {
    serde_json::from_slice(bytes).map_err(|source| DocError::Parse {
        path: path.into(),
        source,
    })
}

/// Like [`read`], but an absent file is `Ok(None)`.
pub fn read_optional(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, RegularError> {
    match read(path, cap) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads an already opened file up to `cap` bytes; one byte more is an error.
pub fn read_capped(file: File, path: &Path, cap: u64) -> Result<Vec<u8>, RegularError> {
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > cap {
        return Err(RegularError::TooLarge {
            path: path.into(),
            cap,
        });
    }
    let mut buf = Vec::with_capacity(len as usize);
    file.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|source| RegularError::Io {
            path: path.into(),
            source,
        })?;
    if buf.len() as u64 > cap {
        return Err(RegularError::TooLarge {
            path: path.into(),
            cap,
        });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn reads_regular_files_and_refuses_the_rest_fast() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        std::fs::write(&f, b"{}").unwrap();
        assert_eq!(read(&f, 10).unwrap(), b"{}");
        assert!(matches!(read(&f, 1), Err(RegularError::TooLarge { .. })));
        let missing = dir.path().join("missing");
        assert!(read(&missing, 10).unwrap_err().is_not_found());
        assert_eq!(read_optional(&missing, 10).unwrap(), None);
        assert!(matches!(
            read(dir.path(), 10),
            Err(RegularError::NotRegular { .. })
        ));
        // A symlink to a regular file is fine.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_eq!(read(&link, 10).unwrap(), b"{}");

        let started = Instant::now();
        let zero = read(Path::new("/dev/zero"), DOC_CAP).unwrap_err();
        assert!(zero.to_string().contains("character device"), "{zero}");
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let e = read(&fifo, DOC_CAP).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        // Writing to a FIFO with no reader must not wait either.
        let w = open_with(&fifo, OpenOptions::new().append(true)).unwrap_err();
        assert!(!w.is_not_found(), "{w}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
