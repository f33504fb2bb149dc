//! The world a decision may depend on, passed in as values: the clock reading, the
//! trusted roots, the protected set and a read-only view of the file system. The
//! gate builds it at the edge; the pure decision and its checks only read it.

use super::protect::{Contains, Protected};
use crate::passport::rollout::Rollout;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Read-only view of the file system (symlinks, directory listings, small
/// ignore files), injected so the core stays pure. The edge passes the real
/// one; tests pass a map. Every method but `canonicalize` defaults to "nothing
/// there", so a view that cannot list makes readers read nothing beyond their operands.
pub trait FsView: Sync {
    /// The canonical (symlink-free) path of an existing path, if it exists.
    fn canonicalize(&self, path: &Path) -> Option<PathBuf>;

    /// Where a write to `path` really lands: every symlink on the way followed,
    /// dangling ones included (a link to a file that does not exist yet is
    /// where that file will be created). The default knows only existing paths.
    fn resolve(&self, path: &Path) -> Option<PathBuf> {
        self.canonicalize(path).or_else(|| {
            let parent = path.parent()?;
            Some(self.canonicalize(parent)?.join(path.file_name()?))
        })
    }

    /// For an existing directory (not a symlink), whether a protected name
    /// lies anywhere below it; `None` when `path` is not such a directory.
    fn contains_protected(&self, _path: &Path, _set: &Protected) -> Option<Contains> {
        None
    }

    /// For an existing regular file with more than one name (a hard link),
    /// whether another name of it is protected: the set's files, the files in
    /// its directories, and the protected names under `roots` are compared by
    /// identity (device and inode). With `secrets_only`, just the private keys.
    /// `None` when `path` is not such a file.
    fn hard_link_to_protected(
        &self,
        _path: &Path,
        _set: &Protected,
        _roots: &[PathBuf],
        _secrets_only: bool,
    ) -> Option<Contains> {
        None
    }

    /// The files (absolute) a whole-tree git command run in `dir` would write,
    /// as git itself lists them without changing anything, or `None` when it
    /// cannot say (no repository, an unknown revision, too many, too slow).
    fn git_tree(
        &self,
        _dir: &Path,
        _spec: &crate::checks::models::GitTree,
    ) -> Option<Vec<PathBuf>> {
        None
    }

    /// The names extracting the archive, or applying the patch, at `path`
    /// creates, read without running the program; why not, when it cannot say.
    fn archive_members(
        &self,
        _path: &Path,
        _format: crate::checks::extract::Format,
    ) -> Result<Vec<crate::checks::extract::Member>, crate::checks::extract::Unlisted> {
        Err(crate::checks::extract::Unlisted(
            "no file system is available to read it".into(),
        ))
    }

    /// The paths (relative to `top`) the git repository at `top` tracks, from
    /// its index, or `None` when there is none toolgate can read.
    fn git_tracked(&self, _top: &Path) -> Option<Vec<String>> {
        None
    }

    /// The entries of a directory (symlinks not followed), or `None` when
    /// `path` is not a directory that can be listed (following a final symlink).
    fn read_dir(&self, _path: &Path) -> Option<Vec<DirEntry>> {
        None
    }
    /// The text of a small file (an ignore file), at most `max` bytes, or `None`.
    fn read_small(&self, _path: &Path, _max: usize) -> Option<String> {
        None
    }
    /// Whether the edge's time budget for walking is spent. The decision reads
    /// no clock: the view that does the I/O keeps time.
    fn out_of_time(&self) -> bool {
        false
    }
}

/// What a directory entry is, as listed (a symlink is not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub kind: EntryKind,
}

/// A view in which nothing exists (pure evaluation).
pub struct NoFs;

impl FsView for NoFs {
    fn canonicalize(&self, _: &Path) -> Option<PathBuf> {
        None
    }
}

/// Everything about the world a decision may depend on, passed in as values.
pub struct Environment<'a> {
    pub now: OffsetDateTime,
    /// The user's home directory, for `~/` in passport globs.
    pub home: Option<PathBuf>,
    /// The trusted project roots (from the host or config, never from the
    /// call): relative passport globs are anchored here.
    pub roots: Vec<PathBuf>,
    /// What the gate never lets an agent write (or, for private keys, read).
    pub protected: Protected,
    /// The config's rollout modes: a floor that can only make the passport's stricter.
    pub rollout: Rollout,
    pub fs: &'a dyn FsView,
}

impl Environment<'static> {
    /// A world with only a clock: nothing on disk, no home, no trusted roots, and
    /// only the host directory names protected. Tests and pure evaluation start here.
    pub fn at(now: OffsetDateTime) -> Environment<'static> {
        Environment {
            now,
            home: None,
            roots: Vec::new(),
            protected: Protected::with_names(),
            rollout: Rollout::default(),
            fs: &NoFs,
        }
    }
}

impl<'a> Environment<'a> {
    /// The user's home directory, for `~/` in passport globs.
    pub fn with_home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }

    /// The trusted project roots that relative globs are anchored at.
    pub fn with_roots<P: Into<PathBuf>>(mut self, roots: impl IntoIterator<Item = P>) -> Self {
        self.roots = roots.into_iter().map(Into::into).collect();
        self
    }

    /// What the gate never lets an agent write.
    pub fn with_protected(mut self, protected: Protected) -> Self {
        self.protected = protected;
        self
    }

    /// The config's rollout floor (it can only make a passport's modes stricter).
    pub fn with_rollout(mut self, rollout: Rollout) -> Self {
        self.rollout = rollout;
        self
    }

    /// The file-system view the checks read.
    pub fn with_fs<'b>(self, fs: &'b dyn FsView) -> Environment<'b> {
        Environment {
            now: self.now,
            home: self.home,
            roots: self.roots,
            protected: self.protected,
            rollout: self.rollout,
            fs,
        }
    }
}
