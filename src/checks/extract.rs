//! Extractions: `tar x`, `unzip`, `patch` create files named by data (the
//! archive's members, the diff's headers), not by the command line. The
//! edge lists those names ([`super::environment::FsView::archive_members`]);
//! this module, pure, turns the list into the paths written, or refuses the
//! archive when a member could land outside what the names say.
//!
//! Rules: a member's name is split on `/` (and on `\`, which unzip turns into
//! `/` for archives made on Windows: both readings are judged); a leading
//! `/` is stripped as tar and unzip do, unless `tar -P` keeps it (refused);
//! a `..` component is refused; `--strip-components`/`-p` drop leading
//! components (a member left with none is not extracted). A link member
//! (symlink or hard link) whose target is absolute or climbs out of the
//! extraction directory is refused, and so is any member at or below a link
//! member's name, in either order: writing through a link is writing where it
//! points, which the names do not show.

use std::fmt;

/// What a member is, as the archive says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberKind {
    File,
    Dir,
    /// A symbolic link to this target (as stored).
    Symlink(String),
    /// A hard link to this other member or file (as stored).
    Hardlink(String),
    /// A device, FIFO or anything else that is created by name.
    Other,
}

/// One name an extraction creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub kind: MemberKind,
}

impl Member {
    pub fn file(name: impl Into<String>) -> Member {
        Member {
            name: name.into(),
            kind: MemberKind::File,
        }
    }
}

/// How the edge reads the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// tar, plain or gzip-compressed: told apart by the first bytes, as GNU
    /// tar and bsdtar detect compression whatever the flags say.
    Tar,
    /// zip, by its central directory (what unzip extracts by), wherever the
    /// file's first bytes say otherwise (a tar and zip polyglot is read as zip).
    Zip,
    /// A unified, context or git diff: the names in its headers.
    Patch,
}

/// An extraction as the command line states it (from the program's model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extract {
    /// The program, for the deny sentences.
    pub program: String,
    pub format: Format,
    /// The archive or patch file (relative to the command's directory); `None`
    /// when it comes on standard input (`-f -`, no `-f`, `patch < x.diff`).
    pub source: Option<String>,
    /// `-C DIR`, `-d DIR`: where the names land (relative to the command's directory).
    pub into: Option<String>,
    /// Leading components removed from each name; for `patch` without `-p`, `None`.
    pub strip: Option<usize>,
    /// `tar -P`: leading `/` kept.
    pub absolute: bool,
    /// `unzip -j`: directories dropped, each member lands as its base name.
    pub junk: bool,
}

/// Why the names an extraction creates are not known, or not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unlisted(pub String);

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Tar => "tar archive",
            Format::Zip => "zip archive",
            Format::Patch => "patch",
        })
    }
}

/// Components of a stored name: `.` and empty ones dropped. `None` on `..`.
fn components(name: &str) -> Option<Vec<&str>> {
    let mut out = vec![];
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// The readings of a stored name (with `\` as a separator too, when it has one).
fn readings(name: &str) -> Vec<String> {
    let mut v = vec![name.to_string()];
    if name.contains('\\') {
        v.push(name.replace('\\', "/"));
    }
    v
}

/// Where a member lands below the extraction directory, as components, or
/// `Ok(None)` when the strip count leaves nothing (not extracted).
fn landing(spec: &Extract, name: &str, strip: usize) -> Result<Option<Vec<String>>, Unlisted> {
    if name.starts_with('/') && spec.absolute {
        return Err(Unlisted(format!(
            "the {} member `{name}` has an absolute name, which `-P` keeps; extract without `-P`",
            spec.format
        )));
    }
    let Some(parts) = components(name) else {
        return Err(Unlisted(format!(
            "the {} member `{name}` climbs out of the directory with `..`; extract only archives without such names",
            spec.format
        )));
    };
    let rest: Vec<String> = parts.iter().skip(strip).map(|s| s.to_string()).collect();
    if rest.is_empty() {
        return Ok(None);
    }
    if spec.junk {
        return Ok(rest.last().map(|b| vec![b.clone()]));
    }
    Ok(Some(rest))
}

/// Whether a link target, read from the link's own directory, stays inside
/// the extraction directory.
fn stays_inside(link: &[String], target: &str) -> bool {
    if target.starts_with('/') || target.contains('\\') {
        return false;
    }
    let mut at: Vec<&str> = link
        .iter()
        .take(link.len().saturating_sub(1))
        .map(String::as_str)
        .collect();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if at.pop().is_none() {
                    return false;
                }
            }
            c => at.push(c),
        }
    }
    true
}

/// The paths (relative to the command's directory, or absolute under an
/// absolute `into`) the extraction writes, one per member reading.
pub fn destinations(spec: &Extract, members: &[Member]) -> Result<Vec<String>, Unlisted> {
    let base = spec.into.as_deref().unwrap_or(".").trim_end_matches('/');
    let base = if base.is_empty() { "/" } else { base };
    let join = |parts: &[String]| format!("{}/{}", base.trim_end_matches('/'), parts.join("/"));
    // Without `-p`, patch may use a name whole or its base name: judge both.
    let strips: Vec<usize> = match spec.strip {
        Some(n) => vec![n],
        None => vec![0],
    };
    let mut out: Vec<String> = vec![];
    let mut landed: Vec<Vec<String>> = vec![];
    let mut links: Vec<Vec<String>> = vec![];
    for m in members {
        for name in readings(&m.name) {
            for &strip in &strips {
                let Some(parts) = landing(spec, &name, strip)? else {
                    continue;
                };
                match &m.kind {
                    MemberKind::Symlink(t) if !stays_inside(&parts, t) => {
                        return Err(Unlisted(format!(
                            "the {} member `{}` is a symbolic link to `{t}`, outside the directory it is extracted into; files written through it land there",
                            spec.format, m.name
                        )));
                    }
                    MemberKind::Hardlink(t) => {
                        // A hard link shares the target's content: writing one writes the other.
                        match landing(spec, t, strip)? {
                            Some(target) => out.push(join(&target)),
                            None => {
                                return Err(Unlisted(format!(
                                    "the {} member `{}` is a hard link to `{t}`, which the strip count removes, so what it links to is unknown",
                                    spec.format, m.name
                                )))
                            }
                        }
                        links.push(parts.clone());
                    }
                    MemberKind::Symlink(_) => links.push(parts.clone()),
                    MemberKind::File | MemberKind::Dir | MemberKind::Other => {}
                }
                if spec.strip.is_none() && spec.format == Format::Patch {
                    if let Some(b) = parts.last() {
                        out.push(join(std::slice::from_ref(b)));
                    }
                }
                out.push(join(&parts));
                landed.push(parts);
            }
        }
    }
    let lower = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>();
    for l in &links {
        let l = lower(l);
        let through = landed.iter().filter(|p| {
            let p = lower(p);
            p.len() >= l.len() && p.get(..l.len()) == Some(&l[..])
        });
        // The link itself is one of them; any other is written through it (or replaces it).
        if through.count() > 1 {
            return Err(Unlisted(format!(
                "the {} has another member at or below its link `{}`, so a file would be written through the link",
                spec.format,
                l.join("/")
            )));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The names a patch (git's format or a traditional unified diff) writes:
/// both sides of `diff --git`, `---`/`+++` lines (`strip` leading components
/// removed), and rename and copy targets. `None` when it names nothing or
/// quotes a name (git's C-style quoting is not decoded here).
pub fn patch_names(text: &str, strip: usize) -> Option<Vec<String>> {
    let stripped = |name: &str, n: usize| -> Option<String> {
        let name = name.split('\t').next()?.trim_end();
        if name == "/dev/null" {
            return Some(String::new());
        }
        if name.starts_with('"') {
            return None;
        }
        let parts: Vec<&str> = name.split('/').filter(|c| !c.is_empty()).collect();
        Some(parts.get(n..)?.join("/"))
    };
    let mut names = vec![];
    for line in text.lines() {
        let found: Vec<Option<String>> = if let Some(rest) = line.strip_prefix("diff --git ") {
            // `a/X b/Y`: split on the ` b/`-like boundary the strip count implies.
            let words: Vec<&str> = rest.split(' ').collect();
            if words.len() != 2 {
                return None;
            }
            words.iter().map(|w| stripped(w, strip)).collect()
        } else if let Some(n) = line
            .strip_prefix("--- ")
            .or_else(|| line.strip_prefix("+++ "))
        {
            vec![stripped(n, strip)]
        } else if let Some(n) = ["rename from ", "rename to ", "copy from ", "copy to "]
            .iter()
            .find_map(|p| line.strip_prefix(p))
        {
            vec![stripped(n, strip.saturating_sub(1))]
        } else {
            continue;
        };
        for n in found {
            let n = n?;
            if !n.is_empty() {
                names.push(n);
            }
        }
    }
    (!names.is_empty()).then_some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(into: Option<&str>, strip: Option<usize>) -> Extract {
        Extract {
            program: "tar".into(),
            format: Format::Tar,
            source: Some("a.tar".into()),
            into: into.map(str::to_string),
            strip,
            absolute: false,
            junk: false,
        }
    }

    fn link(name: &str, to: &str) -> Member {
        Member {
            name: name.into(),
            kind: MemberKind::Symlink(to.into()),
        }
    }

    #[test]
    fn names_land_below_the_directory() {
        let m = [
            Member::file("/.claude/settings.json"),
            Member::file("./src/a.rs"),
        ];
        assert_eq!(
            destinations(&spec(None, Some(0)), &m).unwrap(),
            ["./.claude/settings.json", "./src/a.rs"]
        );
        assert_eq!(
            destinations(&spec(Some("/tmp/deps/"), Some(1)), &m).unwrap(),
            ["/tmp/deps/a.rs", "/tmp/deps/settings.json"]
        );
        // Stripped to nothing: not extracted.
        assert_eq!(
            destinations(&spec(None, Some(3)), &m).unwrap(),
            Vec::<String>::new()
        );
        let win = [Member::file(".claude\\settings.json")];
        assert!(destinations(&spec(None, Some(0)), &win)
            .unwrap()
            .contains(&"./.claude/settings.json".to_string()));
        let mut junk = spec(Some("out"), Some(0));
        junk.junk = true;
        assert_eq!(
            destinations(&junk, &m).unwrap(),
            ["out/a.rs", "out/settings.json"]
        );
    }

    #[test]
    fn climbing_names_and_escaping_links_are_refused() {
        let s = spec(None, Some(0));
        assert!(destinations(&s, &[Member::file("a/../../x")]).is_err());
        let mut p = spec(None, Some(0));
        p.absolute = true;
        assert!(destinations(&p, &[Member::file("/etc/x")]).is_err());
        assert!(destinations(&s, &[link("l", "/home/u/.claude")]).is_err());
        assert!(destinations(&s, &[link("a/l", "../../x")]).is_err());
        // A link inside, with nothing written through it, is one more name.
        assert_eq!(
            destinations(&s, &[link("a/l", "../b"), Member::file("b")]).unwrap(),
            ["./a/l", "./b"]
        );
        // Anything at or below a link, before or after it, is written through it.
        for m in [
            vec![link("l", "sub"), Member::file("l/settings.json")],
            vec![Member::file("L/x"), link("l", "sub")],
            vec![link("l", "sub"), Member::file("l")],
        ] {
            assert!(destinations(&s, &m).is_err(), "{m:?}");
        }
        let hard = Member {
            name: "h".into(),
            kind: MemberKind::Hardlink(".claude/settings.json".into()),
        };
        assert_eq!(
            destinations(&s, &[hard]).unwrap(),
            ["./.claude/settings.json", "./h"]
        );
    }

    #[test]
    fn a_patch_without_strip_may_use_the_base_name() {
        let p = Extract {
            program: "patch".into(),
            format: Format::Patch,
            source: Some("x.diff".into()),
            into: Some("sub".into()),
            strip: None,
            absolute: false,
            junk: false,
        };
        assert_eq!(
            destinations(&p, &[Member::file("a/b/c.rs")]).unwrap(),
            ["sub/a/b/c.rs", "sub/c.rs"]
        );
    }
}
