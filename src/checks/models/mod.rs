//! Program models: what an allowlisted program will really do with its
//! arguments, beyond the generic reader/writer tables of [`super::programs`].
//!
//! A model turns a command line into *touches* (files read or written, the
//! whole working tree written) that the command check then judges under the
//! file packs, or refuses it with a reason naming the option or script
//! construct. The knowledge is data (tables in each model) read by small
//! interpreters; the interpreters only ever add touches or refusals.

pub mod build;
pub mod git;
pub mod jq;
pub mod scripts;

use super::shell::Word;
use crate::reason::ReasonCode;

/// Something a command does to the file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touch {
    /// Reads this path (relative to the command's directory, or absolute).
    Read(String),
    /// Writes, creates, removes, renames or changes the mode of this path.
    Write(String),
    /// Reads the files a pattern the program expands itself matches (a git
    /// pathspec `'*.env'`): judged against the passport's blocked read globs.
    ReadPattern(String),
    /// Writes files of the working tree that the command line does not name
    /// (`git checkout BRANCH`, `git stash`, `git clean`).
    Tree,
    /// Writes the files git itself can list (`git switch BRANCH`: those that
    /// differ between HEAD and BRANCH); the edge asks git, and where it cannot
    /// answer the whole tree counts as written ([`Touch::Tree`]).
    GitTree(Box<GitTree>),
    /// Writes files below `dir` that no local listing can name (a clone, a
    /// pull from the network, a state git keeps): `why` says so and what to
    /// run instead. Refused, since any of them could be a protected name.
    Unlisted { dir: String, why: String },
    /// Creates the files an archive or a patch names (`tar x`, `unzip`,
    /// `patch`): the edge lists them and each is judged as a write; what it
    /// cannot list is refused.
    Extract(Box<crate::checks::extract::Extract>),
    /// Reads environment variables (jq's `env`, `$ENV`), which the shell's
    /// own `$VAR` needs `allow_expansion` for; the text names the construct.
    Environment(String),
}

/// What a whole-tree git command writes, in terms git can list without
/// changing anything: differences between trees, local changes, untracked files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitTree {
    /// `git -C DIR`, relative to the command's directory.
    pub dir: Option<String>,
    /// Pairs of tree-ish whose differing files are written (`HEAD`, `BRANCH`).
    pub diffs: Vec<(String, String)>,
    /// Files changed in the work tree or index against HEAD are written back
    /// (`stash`, `reset --hard`, `switch --discard-changes`).
    pub local: bool,
    /// Untracked files are removed too (`stash -u`); with `ignored`, ignored ones as well (`stash -a`).
    pub untracked: bool,
    pub ignored: bool,
    /// A stash entry whose untracked files (its third parent) are restored.
    pub stash_untracked: Option<String>,
    /// Pathspecs, as the command line gives them (relative to its directory),
    /// that limit every listing; none means the whole tree.
    pub paths: Vec<String>,
    /// `restore`, `checkout -- PATHS`, `checkout-index`: the work-tree files that
    /// differ from this source are written back (created where missing).
    pub restore_from: Option<Source>,
    /// `pull`: the branch comes from another repository, fetched first.
    pub fetch: Option<Fetch>,
    /// `apply`, `am`: the patch files whose headers name the files written.
    pub patches: Option<Patches>,
    /// `worktree add DIR [COMMIT]`: every file of COMMIT is created under DIR.
    pub populate: Option<(String, String)>,
    /// Said in the deny when git cannot list the files: what makes them
    /// unknowable and what to run instead.
    pub unlisted: String,
}

/// Where `restore` and its kin take the content they write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The index (`git restore PATH`, `git checkout -- PATH`).
    Index,
    /// A tree-ish (`git restore --source=REV`, `git checkout REV -- PATH`).
    Tree(String),
}

/// The branch a `git pull` merges: from `remote` (as written; `None` is the
/// current branch's configured remote), the `refs` named (none: its
/// configured upstream branch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetch {
    pub remote: Option<String>,
    pub refs: Vec<String>,
}

/// Patch files and how `git apply`/`git am` map their names onto the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patches {
    /// Relative to the command's directory.
    pub files: Vec<String>,
    /// Leading components removed from each name (`-p`, default 1).
    pub strip: usize,
    /// Prepended to each name (`--directory`).
    pub directory: Option<String>,
}

/// Why a model refuses a command: the code and a sentence naming the option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ReasonCode,
    pub message: String,
}

impl Refusal {
    pub fn option(message: impl Into<String>) -> Refusal {
        Refusal {
            code: ReasonCode::CommandOptionNotAllowed,
            message: message.into(),
        }
    }

    pub fn not_allowed(message: impl Into<String>) -> Refusal {
        Refusal {
            code: ReasonCode::CommandNotAllowed,
            message: message.into(),
        }
    }

    pub fn computed(what: &str) -> Refusal {
        Refusal {
            code: ReasonCode::CommandExpansionNotAllowed,
            message: format!(
                "`{what}` is computed by the shell, so what the program does with it is unknown"
            ),
        }
    }
}

pub type Touches = Result<Vec<Touch>, Refusal>;

/// The touches of one simple command, or `None` when no model covers the program.
pub fn touches(name: &str, argv: &[Word]) -> Option<Touches> {
    let args = argv.get(1..).unwrap_or_default();
    match name {
        "git" => Some(git::touches(args)),
        _ if jq::PROGRAMS.contains(&name) => Some(jq::touches(name, args)),
        _ if TREE_WRITERS.contains(&name) => Some(tree_writer(name, args)),
        _ if UNREAD_EXTRACTORS.iter().any(|(p, _)| *p == name) => {
            Some(unread_extractor(name, args).unwrap_or(Ok(vec![])))
        }
        _ => match SECOND_OPERAND_WRITTEN.iter().find(|(p, _)| *p == name) {
            // A build-tool model may refuse an option of the same program (`split --filter`).
            Some((_, values)) => Some(second_operand_written(args, values).and_then(|mut t| {
                t.extend(build::touches(name, args).transpose()?.unwrap_or_default());
                Ok(t)
            })),
            None => scripts::touches(name, args).or_else(|| build::touches(name, args)),
        },
    }
}

/// Programs that read their first operand and write their second (`uniq IN OUT`,
/// `xxd -r IN OUT`), with the options whose next word is a value.
const SECOND_OPERAND_WRITTEN: &[(&str, &[&str])] = &[
    (
        "uniq",
        &[
            "-f",
            "-s",
            "-w",
            "--skip-fields",
            "--skip-chars",
            "--check-chars",
        ],
    ),
    (
        "xxd",
        &["-c", "-g", "-l", "-o", "-s", "-n", "-cols", "-len", "-seek"],
    ),
    // `split IN PREFIX` writes PREFIXaa, PREFIXab, …: judged as a write of PREFIX.
    (
        "split",
        &[
            "-a",
            "--suffix-length",
            "--additional-suffix",
            "-b",
            "--bytes",
            "-C",
            "--line-bytes",
            "-l",
            "--lines",
            "-n",
            "--number",
            "-t",
            "--separator",
            "--filter",
        ],
    ),
];

fn second_operand_written(args: &[Word], values: &[&str]) -> Touches {
    let mut operands = vec![];
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let t = arg.text.as_str();
        if values.contains(&t) {
            i += 2;
            continue;
        }
        if !t.starts_with('-') || t == "-" {
            operands.push(arg);
        }
        i += 1;
    }
    match operands.get(1) {
        Some(w) if w.text != "-" => Ok(vec![Touch::Write(lit(w)?.to_string())]),
        _ => Ok(vec![]),
    }
}

/// Programs that write the files they name, or with none, files named
/// elsewhere (in a patch, an archive), listed at the edge.
const TREE_WRITERS: &[&str] = &["patch", "unzip"];

/// Options of `patch` that put a file somewhere its name does not say (a
/// backup prefix or suffix may hold a `/`): refused.
const PATCH_RENAMING: &[&str] = &[
    "-B",
    "--prefix",
    "-Y",
    "--basename-prefix",
    "-z",
    "--suffix",
];

fn tree_writer(name: &str, args: &[Word]) -> Touches {
    use crate::checks::extract::{Extract, Format};
    let mut out = vec![];
    // Where the files it writes land, when the command line says.
    let mut into: Option<String> = None;
    let mut output = false;
    let mut source: Option<String> = None;
    let mut strip: Option<usize> = None;
    let mut junk = false;
    let mut excluding = false;
    let mut operands = vec![];
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let t = arg.text.as_str();
        if name == "unzip" && matches!(t, "-l" | "-t" | "-v" | "-Z" | "-p" | "-c" | "-z") {
            // Listing, testing or printing writes nothing.
            return Ok(out);
        }
        if name == "patch" && matches!(t, "--dry-run" | "-C" | "--check") {
            return Ok(out);
        }
        if name == "unzip" && t == "-:" {
            return Err(Refusal::option(
                "`unzip -:` keeps `../` in member names, so members may land outside the directory; extract without it",
            ));
        }
        if name == "patch" {
            if let Some(o) = PATCH_RENAMING
                .iter()
                .find(|o| option_value(args, i, o).is_some())
            {
                return Err(Refusal::option(format!(
                    "`patch {o}` writes backups under a name it builds, which may lie in another directory; patch without it"
                )));
            }
        }
        let value = |opt| option_value(args, i, opt);
        if let Some((v, n)) = value("-d").or_else(|| value("--directory")) {
            into = Some(v?.to_string());
            i += n;
        } else if let Some((v, n)) = value("-o")
            .or_else(|| value("--output"))
            .filter(|_| name == "patch")
        {
            out.push(Touch::Write(v?.to_string()));
            output = true;
            i += n;
        } else if let Some((v, n)) = value("-r")
            .or_else(|| value("--reject-file"))
            .filter(|_| name == "patch")
        {
            out.push(Touch::Write(v?.to_string()));
            i += n;
        } else if let Some((v, n)) = value("-i")
            .or_else(|| value("--input"))
            .filter(|_| name == "patch")
        {
            let v = v?.to_string();
            out.push(Touch::Read(v.clone()));
            source = Some(v);
            i += n;
        } else if let Some((v, n)) = value("-p")
            .or_else(|| value("--strip"))
            .filter(|_| name == "patch")
        {
            let v = v?;
            strip = Some(
                v.parse()
                    .map_err(|_| Refusal::option(format!("`patch -p{v}` is not a number")))?,
            );
            i += n;
        } else {
            if name == "unzip" && t.starts_with('-') && !t.starts_with("--") && t.contains('j') {
                junk = true;
            }
            // `-x NAMES…` leaves members out, up to the next option (`-d DIR` may follow).
            if name == "unzip" {
                excluding = (excluding && !t.starts_with('-')) || t == "-x";
            }
            if !t.starts_with('-') && !excluding {
                operands.push(lit(arg)?.to_string());
            }
            i += 1;
        }
    }
    let mut operands = operands.into_iter();
    let (format, source) = match (name, operands.next()) {
        // patch FILE [PATCHFILE]: only FILE is written (and its .orig/.rej).
        ("patch", Some(file)) => {
            let file = match &into {
                Some(d) if !file.starts_with('/') => format!("{d}/{file}"),
                _ => file,
            };
            for suffix in ["", ".orig", ".rej"] {
                out.push(Touch::Write(format!("{file}{suffix}")));
            }
            out.extend(operands.map(Touch::Read));
            return Ok(out);
        }
        ("patch", None) if output => return Ok(out),
        ("patch", None) => (Format::Patch, source),
        (_, Some(archive)) => {
            if archive.contains(['*', '?', '[']) {
                return Err(Refusal::option(format!(
                    "`unzip {archive}` extracts every archive the pattern matches; name one archive"
                )));
            }
            out.push(Touch::Read(archive.clone()));
            (Format::Zip, Some(archive))
        }
        (_, None) => return Ok(out),
    };
    out.push(Touch::Extract(Box::new(Extract {
        program: name.to_string(),
        format,
        source,
        into,
        strip: if format == Format::Zip {
            Some(0)
        } else {
            strip
        },
        absolute: false,
        junk,
    })));
    Ok(out)
}

/// Archivers whose archives toolgate does not read, with the words that
/// make them extract (a first-operand command, or options); each creates
/// files whose names are inside the archive, so those modes are refused.
const UNREAD_EXTRACTORS: &[(&str, Extracting)] = &[
    ("cpio", Extracting::Unless(&["-t", "--list"], 't')),
    ("bsdcpio", Extracting::Unless(&["-t", "--list"], 't')),
    ("7z", Extracting::Command(&["x", "e"])),
    ("7za", Extracting::Command(&["x", "e"])),
    ("7zr", Extracting::Command(&["x", "e"])),
    ("7zz", Extracting::Command(&["x", "e"])),
    ("unrar", Extracting::Command(&["x", "e"])),
    ("rar", Extracting::Command(&["x", "e"])),
    ("lha", Extracting::Letters(&['x', 'e'])),
    ("ar", Extracting::Letters(&['x'])),
    ("jar", Extracting::Letters(&['x'])),
    ("pax", Extracting::Options(&["-r"], 'r')),
    ("unar", Extracting::Unless(&[], '\0')),
    (
        "cabextract",
        Extracting::Unless(&["-l", "--list", "-t", "--test", "-p", "--pipe"], '\0'),
    ),
    (
        "unsquashfs",
        Extracting::Unless(&["-l", "-ll", "-lls", "-lln", "-llnumeric", "-s"], '\0'),
    ),
    (
        "dpkg-deb",
        Extracting::Options(
            &["-x", "--extract", "-X", "--vextract", "-R", "--raw-extract"],
            '\0',
        ),
    ),
    // gzip restores the name stored in the file with `-N` when decompressing.
    ("gunzip", Extracting::Options(&["-N", "--name"], 'N')),
    ("unpigz", Extracting::Options(&["-N", "--name"], 'N')),
    ("gzip", Extracting::Options(&["-N", "--name"], 'N')),
    ("pigz", Extracting::Options(&["-N", "--name"], 'N')),
];

/// When an archiver in [`UNREAD_EXTRACTORS`] extracts.
enum Extracting {
    /// Unless one of these options (or this letter in a short bundle) is given.
    Unless(&'static [&'static str], char),
    /// When the first operand is one of these commands.
    Command(&'static [&'static str]),
    /// When the first word (`ar xv`, `jar -xf`) holds one of these letters.
    Letters(&'static [char]),
    /// When one of these options (or this letter in a short bundle) is given.
    Options(&'static [&'static str], char),
}

fn unread_extractor(name: &str, args: &[Word]) -> Option<Touches> {
    let (_, how) = UNREAD_EXTRACTORS.iter().find(|(p, _)| *p == name)?;
    let texts: Vec<&str> = args.iter().map(|w| w.text.as_str()).collect();
    let short = |c: char| {
        c != '\0'
            && texts
                .iter()
                .any(|t| t.starts_with('-') && !t.starts_with("--") && t.contains(c))
    };
    let extracts = match how {
        Extracting::Unless(opts, c) => !(texts.iter().any(|t| opts.contains(t)) || short(*c)),
        Extracting::Command(cmds) => texts
            .iter()
            .find(|t| !t.starts_with('-'))
            .is_some_and(|t| cmds.contains(t)),
        Extracting::Letters(cs) => texts
            .first()
            .is_some_and(|t| t.trim_start_matches('-').contains(|c| cs.contains(&c))),
        Extracting::Options(opts, c) => texts.iter().any(|t| opts.contains(t)) || short(*c),
    };
    let gzip = matches!(name, "gunzip" | "unpigz" | "gzip" | "pigz");
    // gzip and pigz decompress only with `-d`.
    let decompresses = !matches!(name, "gzip" | "pigz")
        || short('d')
        || texts
            .iter()
            .any(|t| matches!(*t, "--decompress" | "--uncompress"));
    (extracts && decompresses).then(|| {
        Ok(vec![Touch::Unlisted {
            dir: ".".into(),
            why: match gzip {
                true => format!("`{name} -N` names the file it writes after the name stored inside the compressed file, which toolgate does not read; decompress without `-N`"),
                false => format!("`{name}` here creates files whose names are inside the archive, which toolgate cannot list (it reads tar, tar.gz and zip); list the archive first and extract the members you need with `tar` or `unzip`, or ask the user to extract it"),
            },
        }])
    })
}

/// Whether a model (or the generic tables) covers this program; `--explain`
/// says when an allowlisted program is not modelled.
pub fn is_modelled(name: &str) -> bool {
    name == "git"
        || jq::PROGRAMS.contains(&name)
        || TREE_WRITERS.contains(&name)
        || SECOND_OPERAND_WRITTEN.iter().any(|(p, _)| *p == name)
        || scripts::MODELLED.contains(&name)
        || build::MODELLED.contains(&name)
}

/// A word's value, which must be literal for a touch to be checked.
pub(crate) fn lit(w: &Word) -> Result<&str, Refusal> {
    if w.is_literal() {
        Ok(&w.text)
    } else {
        Err(Refusal::computed(&w.text))
    }
}

/// The value of option `opt` in `args[i]`: attached (`--opt=v`, `-ov`) or the next word.
/// Returns the value and how many words it took (1 or 2).
pub(crate) fn option_value<'a>(
    args: &'a [Word],
    i: usize,
    opt: &str,
) -> Option<(Result<&'a str, Refusal>, usize)> {
    let word = args.get(i)?;
    let t = word.text.as_str();
    if t == opt {
        return Some((args.get(i + 1).map_or(Ok(""), lit), 2));
    }
    if let Some(v) = t.strip_prefix(opt) {
        // `--opt=v`, and single-dash long options as go spells them (`-exec=prog`).
        if opt.len() > 2 {
            return v.strip_prefix('=').map(|v| (lit(word).map(|_| v), 1));
        }
        if opt.len() == 2 && !v.is_empty() {
            return Some((lit(word).map(|_| v), 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::shell;

    fn run(cmd: &str) -> Touches {
        let argv = shell::analyze(cmd).unwrap().commands.remove(0).argv;
        touches(&argv[0].text.clone(), &argv).expect("modelled")
    }

    #[test]
    fn sed_scripts() {
        assert_eq!(run("sed -n 1,5p f"), Ok(vec![]));
        assert_eq!(
            run("sed 's/a/b/w out' f"),
            Ok(vec![Touch::Write("out".into())])
        );
        assert_eq!(
            run("sed '1r in.txt' f"),
            Ok(vec![Touch::Read("in.txt".into())])
        );
        assert!(run("sed '1e id' f").is_err());
        assert!(run("sed 's/x/y/e' f").is_err());
        assert!(run("sed -f s.sed f").is_err());
        assert_eq!(run("sed 's|a;b|c|g;p' f"), Ok(vec![]));
    }

    #[test]
    fn awk_programs() {
        assert_eq!(run("awk '{print $1}' f"), Ok(vec![]));
        assert_eq!(run("awk '$1 > 3 {print}' f"), Ok(vec![]));
        assert_eq!(
            run("awk '{print > \"o.txt\"}' f"),
            Ok(vec![Touch::Write("o.txt".into())])
        );
        assert_eq!(
            run("awk '{getline l < \"in\"}' f"),
            Ok(vec![Touch::Read("in".into())])
        );
        assert!(run("awk 'BEGIN{system(\"id\")}'").is_err());
        assert!(run("awk '{print | \"sh\"}'").is_err());
        assert!(run("awk '{print > $2}' f").is_err());
        assert_eq!(run("awk '/a|b/' f"), Ok(vec![]));
    }

    #[test]
    fn git_subcommands() {
        let listed = |cmd: &str| {
            run(cmd).unwrap().into_iter().find_map(|t| match t {
                Touch::GitTree(g) => Some(*g),
                _ => None,
            })
        };
        assert_eq!(run("git status"), Ok(vec![]));
        let restore = listed("git restore --source=HEAD:x .claude/s.json").unwrap();
        assert_eq!(restore.paths, [".claude/s.json"]);
        assert_eq!(restore.restore_from, Some(Source::Tree("HEAD:x".into())));
        assert_eq!(
            listed("git checkout -- a b").unwrap().restore_from,
            Some(Source::Index)
        );
        assert_eq!(
            run("git show HEAD:.env"),
            Ok(vec![Touch::Read(".env".into())])
        );
        assert!(listed("git stash").unwrap().local);
        assert_eq!(run("git stash list"), Ok(vec![]));
        assert_eq!(run("git reset HEAD~1"), Ok(vec![]));
        assert!(listed("git reset --hard").unwrap().local);
        assert_eq!(
            listed("git switch -").unwrap().diffs,
            [("HEAD".to_string(), "@{-1}".to_string())]
        );
        assert_eq!(
            listed("git cherry-pick a..b c").unwrap().diffs,
            [("a".into(), "b".into()), ("c^".into(), "c".to_string())]
        );
        assert!(listed("git stash -u").unwrap().untracked);
        assert_eq!(
            listed("git stash pop").unwrap().stash_untracked.as_deref(),
            Some("stash@{0}")
        );
        // What git cannot list in advance is unknown content below the tree.
        for cmd in [
            "git checkout main x.rs",
            "git rebase --abort",
            "git switch --orphan x -- y",
            "git clone https://example.org/r.git",
            "git submodule update --init",
            "git am",
            "git --work-tree=/tmp/w checkout main",
        ] {
            let t = run(cmd).unwrap();
            assert!(
                t.iter().any(|t| matches!(t, Touch::Unlisted { .. })),
                "{cmd}: {t:?}"
            );
        }
        assert_eq!(
            listed("git pull origin main").unwrap().fetch,
            Some(Fetch {
                remote: Some("origin".into()),
                refs: vec!["main".into()]
            })
        );
        assert!(listed("git pull").unwrap().local);
        assert!(!listed("git pull --no-autostash").unwrap().local);
        let p = listed("git apply -p2 --directory=sub x.patch").unwrap();
        assert_eq!(
            p.patches,
            Some(Patches {
                files: vec!["x.patch".into()],
                strip: 2,
                directory: Some("sub".into())
            })
        );
        assert_eq!(
            listed("git worktree add -b t ../wt main").unwrap().populate,
            Some(("../wt".into(), "main".into()))
        );
        assert!(listed("git switch -- -x").is_none());
        assert_eq!(run("git checkout -b topic"), Ok(vec![]));
        assert!(run("git co main").is_err());
        assert!(run("git config alias.x '!id'").is_err());
        assert_eq!(run("git config user.name"), Ok(vec![]));
    }
}
