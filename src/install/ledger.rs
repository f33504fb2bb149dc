//! What `install` changed, so `uninstall` can put it back exactly and leave nothing behind.
//!
//! One JSON file per host configuration file toolgate wrote, under `installs/` in
//! toolgate's configuration directory (which agents may not write): the file's bytes
//! before toolgate's first change (or that it did not exist, and which directories were
//! made for it), and the digest of what toolgate last wrote. Uninstall restores the old
//! bytes only while the file is still exactly what toolgate wrote; once anyone else has
//! changed it, only toolgate's entries are taken out and the rest is kept.
//! The entry is the backup, so no `.bak` file is left beside the host's configuration.

use super::InstallError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The ledger's directory under toolgate's configuration directory.
pub fn dir(config_root: &Path) -> PathBuf {
    config_root.join("installs")
}

/// Largest entry read back: a host configuration file is far smaller.
const MAX_ENTRY_BYTES: u64 = 16 * 1024 * 1024;

/// The file as it was before toolgate's first change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Before {
    /// The file did not exist: toolgate created it.
    Absent,
    /// Its exact content.
    Text { text: String },
    /// Not known any more (the file was changed by someone else, or already held a
    /// toolgate hook from before the ledger): uninstall takes out only toolgate's entries.
    Unknown,
}

/// One configuration file toolgate wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub host: String,
    pub path: PathBuf,
    pub before: Before,
    /// Directories toolgate created for the file, outermost first; removed on uninstall
    /// when they are empty.
    #[serde(default)]
    pub created_dirs: Vec<PathBuf>,
    /// `sha256:` of the bytes toolgate last wrote to the file.
    pub written: String,
}

/// `sha256:` of a file's bytes.
pub fn digest(bytes: &[u8]) -> String {
    crate::canonical::digest_bytes(bytes)
}

/// The ledger file for one configuration file.
pub fn entry_path(ledger: &Path, path: &Path) -> PathBuf {
    let id = digest(path.as_os_str().as_encoded_bytes());
    let short = id
        .trim_start_matches("sha256:")
        .get(..32)
        .unwrap_or("entry");
    ledger.join(format!("{short}.json"))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    super::io(path)
}

/// The entry for a configuration file, if toolgate recorded one (an unreadable entry
/// counts as none: uninstall then only takes toolgate's entries out).
pub fn load(ledger: &Path, path: &Path) -> Option<Entry> {
    let bytes = crate::regular::read(&entry_path(ledger, path), MAX_ENTRY_BYTES).ok()?;
    serde_json::from_slice::<Entry>(&bytes)
        .ok()
        .filter(|e| e.path == path)
}

/// Every recorded entry (for `uninstall --all`).
pub fn all(ledger: &Path) -> Vec<Entry> {
    let Ok(rd) = std::fs::read_dir(ledger) else {
        return vec![];
    };
    let mut out: Vec<Entry> = rd
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| crate::regular::read(&e.path(), MAX_ENTRY_BYTES).ok())
        .filter_map(|b| serde_json::from_slice::<Entry>(&b).ok())
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Writes an entry (temporary file, then rename).
pub fn save(ledger: &Path, e: &Entry) -> Result<(), InstallError> {
    std::fs::create_dir_all(ledger).map_err(io(ledger))?;
    let dest = entry_path(ledger, &e.path);
    let text = serde_json::to_vec_pretty(e).map_err(|x| super::io(&dest)(x.into()))?;
    let tmp = dest.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &dest).map_err(io(&dest))
}

/// Drops the entry for a file, and the ledger directory once it is empty.
pub fn forget(ledger: &Path, path: &Path) -> Result<(), InstallError> {
    let f = entry_path(ledger, path);
    match std::fs::remove_file(&f) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&f)(e)),
    }
    // Fails while other entries remain, which is what should happen.
    let _ = std::fs::remove_dir(ledger);
    Ok(())
}

/// The directories that `create_dir_all(dir)` would create, outermost first.
pub fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err())
        .map(Path::to_path_buf)
        .collect();
    out.reverse();
    out
}

/// Removes the directories toolgate created, innermost first, each only while empty.
pub fn remove_empty_dirs(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for d in dirs.iter().rev() {
        if std::fs::remove_dir(d).is_ok() {
            removed.push(d.clone());
        } else {
            break;
        }
    }
    removed
}
