//! Build tools and test runners: options that name files they write or
//! load, or code they run. As data: per program, which options' values are
//! files read, files written, or refused.
//!
//! Running the project's own tests and build scripts stays allowed (that is
//! what allowlisting `pytest` or `make` means, see docs/checks.md); what is
//! modelled is the command line choosing *other* files or code.

use super::{lit, option_value, Refusal, Touch, Touches};
use crate::checks::shell::Word;

/// What an option's value is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Value {
    /// A file or directory the program reads or loads (configuration, manifests, scripts).
    Reads,
    /// A file or directory the program writes (reports, caches, output dirs).
    Writes,
    /// Code (a plugin, module, command or shell) of the caller's choosing: refused.
    Runs(&'static str),
    /// Refused when the value sets one of these keys (`pytest -o addopts=...`).
    RunsWhen(&'static [&'static str], &'static str),
}

/// One program's options: (option, what its value is).
struct Tool {
    programs: &'static [&'static str],
    options: &'static [(&'static str, Value)],
    /// `NAME=value` operands that replace the program's shell or load files: refused.
    variables: &'static [&'static str],
    /// Leading operand words that write the program's persistent configuration,
    /// whose keys run programs (`npm config set`, `go env -w`): refused.
    config_writes: &'static [&'static [&'static str]],
}

const TOOLS: &[Tool] = &[
    Tool {
        programs: &["pytest", "py.test"],
        options: &[
            ("--junitxml", Value::Writes),
            ("--junit-xml", Value::Writes),
            ("--resultlog", Value::Writes),
            ("--result-log", Value::Writes),
            ("--basetemp", Value::Writes),
            ("--html", Value::Writes),
            ("--report-log", Value::Writes),
            ("-c", Value::Reads),
            ("--config-file", Value::Reads),
            ("-o", Value::RunsWhen(INI_CODE, "sets an ini option that loads plugins or import paths")),
            ("--override-ini", Value::RunsWhen(INI_CODE, "sets an ini option that loads plugins or import paths")),
            ("--rootdir", Value::Reads),
            ("--confcutdir", Value::Reads),
            ("-p", Value::Runs("loads a plugin module of the caller's choosing")),
            ("--pdbcls", Value::Runs("imports a debugger class of the caller's choosing")),
            ("--pyargs", Value::Runs("imports test modules by name from anywhere on sys.path")),
        ],
        variables: &[],
        config_writes: &[],
    },
    Tool {
        programs: &["npm", "pnpm", "yarn", "npx"],
        options: &[
            ("--userconfig", Value::Reads),
            ("--globalconfig", Value::Reads),
            ("--prefix", Value::Writes),
            ("-C", Value::Writes),
            ("--dir", Value::Writes),
            ("--cache", Value::Writes),
            ("--cwd", Value::Writes),
            ("--script-shell", Value::Runs("runs package scripts in a shell of the caller's choosing")),
            ("--node-options", Value::Runs("passes options (such as --require) to every node it starts")),
            ("--init-module", Value::Runs("runs a module of the caller's choosing")),
            ("--onload-script", Value::Runs("runs a module of the caller's choosing")),
            ("--shell", Value::Runs("runs commands in a shell of the caller's choosing")),
            ("--call", Value::Runs("runs a command of the caller's choosing")),
            ("-c", Value::Runs("runs a command of the caller's choosing")),
        ],
        variables: &[],
        config_writes: &[&["config", "set"], &["config", "edit"], &["c", "set"], &["set"], &["config", "fix"]],
    },
    Tool {
        programs: &["cargo"],
        options: &[
            ("--manifest-path", Value::Reads),
            ("--target-dir", Value::Writes),
            ("--artifact-dir", Value::Writes),
            ("--out-dir", Value::Writes),
            ("--lockfile-path", Value::Writes),
            ("-C", Value::Reads),
            ("--config", Value::Runs("sets configuration (build.rustc-wrapper, target runners, aliases) that runs programs")),
            ("-Z", Value::Runs("enables unstable behaviour, including configuration that runs programs")),
        ],
        variables: &[],
        config_writes: &[],
    },
    Tool {
        programs: &["make", "gmake"],
        options: &[
            ("-f", Value::Reads),
            ("--file", Value::Reads),
            ("--makefile", Value::Reads),
            ("-C", Value::Reads),
            ("--directory", Value::Reads),
            ("-I", Value::Reads),
            ("--include-dir", Value::Reads),
            ("--eval", Value::Runs("evaluates make code of the caller's choosing")),
            ("-E", Value::Runs("evaluates make code of the caller's choosing")),
        ],
        variables: MAKE_VARIABLES,
        config_writes: &[],
    },
    Tool {
        programs: &["go"],
        options: &[
            ("-modfile", Value::Reads),
            ("-overlay", Value::Reads),
            ("-pgo", Value::Reads),
            ("-C", Value::Reads),
            ("-exec", Value::Runs("runs test binaries through a program of the caller's choosing")),
            ("-toolexec", Value::Runs("runs every compiler tool through a program of the caller's choosing")),
            ("-vettool", Value::Runs("runs a vet tool of the caller's choosing")),
        ],
        variables: &[],
        config_writes: &[&["env", "-w"]],
    },
    Tool {
        programs: &["gcc", "g++", "cc", "c++", "clang", "clang++"],
        options: &[
            ("-wrapper", Value::Runs("runs the compiler's subprocesses through a program of the caller's choosing")),
            ("-fplugin", Value::Runs("loads a compiler plugin")),
            ("-B", Value::Runs("takes the compiler's own programs from a directory of the caller's choosing")),
            ("-specs", Value::Runs("loads a specs file that can run programs")),
        ],
        variables: &[],
        config_writes: &[],
    },
    Tool {
        programs: &["sort"],
        options: &[
            ("--compress-program", Value::Runs("compresses temporary files with a program of the caller's choosing")),
            ("--files0-from", Value::Runs("reads every file a list names, files the command line does not show")),
            ("-T", Value::Writes),
            ("--temporary-directory", Value::Writes),
        ],
        variables: &[],
        config_writes: &[],
    },
    Tool {
        programs: &["split", "csplit"],
        options: &[("--filter", Value::Runs("pipes every piece through a shell command"))],
        variables: &[],
        config_writes: &[],
    },
    Tool {
        programs: &["man"],
        options: &[
            ("-P", Value::Runs("pages through a program of the caller's choosing")),
            ("--pager", Value::Runs("pages through a program of the caller's choosing")),
            ("-H", Value::Runs("opens a browser of the caller's choosing")),
            ("--html", Value::Runs("opens a browser of the caller's choosing")),
            ("-M", Value::Reads),
            ("--manpath", Value::Reads),
        ],
        variables: &[],
        config_writes: &[],
    },
    Tool {
        programs: &["less", "more", "most"],
        options: &[
            ("-k", Value::Runs("loads key bindings that can run commands")),
            ("--lesskey-file", Value::Runs("loads key bindings that can run commands")),
            ("--lesskey-src", Value::Runs("loads key bindings that can run commands")),
            ("-o", Value::Writes),
            ("-O", Value::Writes),
            ("--log-file", Value::Writes),
            ("--LOG-FILE", Value::Writes),
        ],
        variables: &[],
        config_writes: &[],
    },
    Tool {
        programs: &["vim", "vi", "nvim", "view", "ex", "vimdiff"],
        options: &[
            ("-c", Value::Runs("runs an editor command, which can run shell commands")),
            ("--cmd", Value::Runs("runs an editor command, which can run shell commands")),
            ("-S", Value::Runs("sources an editor script")),
            ("-u", Value::Runs("loads a vimrc of the caller's choosing")),
        ],
        variables: &[],
        config_writes: &[],
    },
    Tool {
        programs: &["rsync"],
        options: &[("--files-from", Value::Reads), ("--include-from", Value::Reads), ("--exclude-from", Value::Reads)],
        variables: &[],
        config_writes: &[],
    },
    Tool {
        programs: &["hash"],
        options: &[("-p", Value::Runs("makes a command name run a program of the caller's choosing"))],
        variables: &[],
        config_writes: &[],
    },
    Tool {
        programs: &["mapfile", "readarray"],
        options: &[("-C", Value::Runs("runs a callback of the caller's choosing"))],
        variables: &[],
        config_writes: &[],
    },
    Tool {
        // `history -r/-n FILE` loads FILE into the history (which `history` prints), `-w/-a` writes it.
        programs: &["history"],
        options: &[("-r", Value::Reads), ("-n", Value::Reads), ("-w", Value::Writes), ("-a", Value::Writes)],
        variables: &[],
        config_writes: &[],
    },
    Tool {
        programs: &["enable"],
        options: &[("-f", Value::Runs("loads a builtin from a shared library"))],
        variables: &[],
        config_writes: &[],
    },
];

/// pytest ini keys that load code: plugins, or directories put on the import path.
const INI_CODE: &[&str] = &["addopts", "pythonpath", "required_plugins", "python_paths"];

/// make variables a command line may not set: the shell and make's own flags.
const MAKE_VARIABLES: &[&str] = &[
    "SHELL",
    ".SHELLFLAGS",
    "MAKESHELL",
    "MAKEFILES",
    "MAKEFLAGS",
    "MFLAGS",
    "GNUMAKEFLAGS",
];

/// make variables that name the programs recipes run by convention (`$(CC)`,
/// `$(MAKE)`): a program name from PATH (`CC=clang`) is allowed, a path or a
/// command line (`CC=/tmp/x`, `CC='sh -c id'`) is not.
const MAKE_PROGRAMS: &[&str] = &[
    "MAKE",
    "CC",
    "CXX",
    "CPP",
    "LD",
    "AR",
    "AS",
    "FC",
    "RANLIB",
    "STRIP",
    "NM",
    "OBJCOPY",
    "OBJDUMP",
    "INSTALL",
    "RM",
    "PYTHON",
    "PERL",
    "GO",
    "CARGO",
    "NPM",
    "NODE",
    "DOCKER",
    "LEX",
    "YACC",
    "M4",
    "PKG_CONFIG",
    "CHECKER",
    "LINT",
    "SED",
    "AWK",
    "SH",
    "BASH",
];

/// Characters that make a variable's value shell code once a recipe expands it.
const SHELL_SYNTAX: &[char] = &[';', '|', '&', '`', '$', '<', '>', '\n', '(', ')'];

/// Python: the script operand, or the module `-m` names, is code it loads.
const PYTHONS: &[&str] = &["python", "python2", "python3", "pypy", "pypy3"];
/// Python options that take a value.
const PYTHON_VALUE_OPTIONS: &[&str] = &["-W", "-X", "--check-hash-based-pycs"];

/// Programs modelled here.
pub const MODELLED: &[&str] = &[
    "pytest",
    "py.test",
    "npm",
    "pnpm",
    "yarn",
    "npx",
    "cargo",
    "make",
    "gmake",
    "go",
    "gcc",
    "g++",
    "cc",
    "c++",
    "clang",
    "clang++",
    "sort",
    "split",
    "csplit",
    "man",
    "less",
    "more",
    "most",
    "vim",
    "vi",
    "nvim",
    "view",
    "ex",
    "vimdiff",
    "rsync",
    "hash",
    "mapfile",
    "readarray",
    "enable",
    "history",
    "python",
    "python2",
    "python3",
    "pypy",
    "pypy3",
];

pub fn touches(name: &str, args: &[Word]) -> Option<Touches> {
    if PYTHONS.contains(&name) {
        return Some(python(args));
    }
    let tool = TOOLS.iter().find(|t| t.programs.contains(&name))?;
    Some(tool_touches(name, tool, args))
}

/// Standard input or an open descriptor as a file name: `-`, `/dev/stdin`,
/// `/dev/fd/N`, `/proc/self/fd/N` (and any process's `fd/`).
fn unseen_input(value: &str) -> bool {
    value == "-"
        || value == "/dev/stdin"
        || value.starts_with("/dev/fd/")
        || (value.starts_with("/proc/") && value.contains("/fd/"))
}

fn tool_touches(name: &str, tool: &Tool, args: &[Word]) -> Touches {
    let words: Vec<&str> = args.iter().map(|w| w.text.as_str()).collect();
    for seq in tool.config_writes {
        // The subcommand is the first operand; the rest of the sequence follows it anywhere.
        let sub = words.iter().position(|w| !w.starts_with('-'));
        let hit = sub.is_some_and(|a| {
            words.get(a) == seq.first()
                && seq
                    .iter()
                    .skip(1)
                    .all(|s| words.iter().skip(a + 1).any(|w| w == s))
        });
        if hit {
            return Err(Refusal::option(format!(
                "`{name} {}` writes {name}'s persistent configuration, whose keys (a shell, a wrapper, flags) run programs in every later {name} command",
                seq.join(" ")
            )));
        }
    }
    if matches!(name, "less" | "more" | "most") {
        initial_commands(name, &words)?;
    }
    let mut out = vec![];
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let t = arg.text.as_str();
        if t == "--" {
            break;
        }
        if let Some((var, value)) = t.split_once('=').filter(|_| !t.starts_with('-')) {
            if tool.variables.contains(&var) {
                return Err(Refusal::option(format!(
                    "`{name} {var}=...` replaces the shell, a program the recipes run, or the files {name} loads"
                )));
            }
            if !tool.variables.is_empty() {
                variable_value(name, var, value)?;
            }
        }
        let hit = tool.options.iter().find_map(|(o, v)| {
            // `-p` must not match `--pdbcls`; one-letter options match attached values too.
            option_value(args, i, o).map(|r| (*o, *v, r))
        });
        let Some((o, v, (value, n))) = hit else {
            i += 1;
            continue;
        };
        match v {
            // `pytest -p no:NAME` turns a plugin off.
            Value::Runs(_) if o == "-p" && value.as_ref().is_ok_and(|v| v.starts_with("no:")) => {}
            Value::Runs(why) => {
                return Err(Refusal::option(format!(
                    "`{name} {o}` {why}; allowlist an entry that names it to allow it"
                )))
            }
            Value::RunsWhen(keys, why) => {
                let value = value?;
                let key = value.split_once('=').map_or(value, |(k, _)| k).trim();
                if keys.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                    return Err(Refusal::option(format!(
                        "`{name} {o} {key}=...` {why}; allowlist an entry that names it to allow it"
                    )));
                }
            }
            Value::Reads | Value::Writes => {
                let value = value?;
                // `make -f -`: a makefile (or manifest, or config) fed on stdin or through a
                // descriptor is code toolgate never sees.
                if v == Value::Reads && unseen_input(value) {
                    return Err(Refusal::option(format!(
                        "`{name} {o} {value}` loads what it reads from standard input or a file descriptor, which toolgate cannot see; name a file instead"
                    )));
                }
                // pytest's `-o`-style `key=value` and report specs like `xml:path`.
                let path = value.split_once(':').map_or(value, |(k, p)| {
                    if k.len() > 1 && !k.contains('/') {
                        p
                    } else {
                        value
                    }
                });
                if !path.is_empty() {
                    out.push(if v == Value::Reads {
                        Touch::Read(path.to_string())
                    } else {
                        Touch::Write(path.to_string())
                    });
                }
            }
        }
        i += n;
    }
    Ok(out)
}

/// A command-line variable's value is pasted into recipes: shell syntax in it
/// runs, and compiler flags can load plugins or wrappers (`CFLAGS=-fplugin=x.so`).
fn variable_value(name: &str, var: &str, value: &str) -> Result<(), Refusal> {
    if value.contains(SHELL_SYNTAX) {
        return Err(Refusal::option(format!(
            "`{name} {var}=...` holds shell syntax, which runs wherever a recipe expands it"
        )));
    }
    if MAKE_PROGRAMS.contains(&var) && value.contains(['/', ' ', '\t']) {
        return Err(Refusal::option(format!(
            "`{name} {var}=...` names the program recipes run by a path or with arguments; give a program name from PATH (`{var}=clang`)"
        )));
    }
    if var.ends_with("FLAGS") {
        if let Some(cc) = TOOLS.iter().find(|t| t.programs.contains(&"gcc")) {
            for w in value.split_whitespace() {
                if let Some((o, _)) = cc.options.iter().find(|(o, _)| {
                    w == *o || w.starts_with(&format!("{o}=")) || (o.len() == 2 && w.starts_with(o))
                }) {
                    return Err(Refusal::option(format!(
                        "`{name} {var}=...` passes `{o}` to the compiler, which runs or loads code of the caller's choosing"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// less and more run their `+` option as commands at start: searching and
/// moving are allowed, anything else (`!` shell escapes, `|` pipes, `s`
/// saving, `E` examining another file, `v` the editor) is refused.
fn initial_commands(name: &str, words: &[&str]) -> Result<(), Refusal> {
    for w in words {
        // `+cmd` for the first file, `++cmd` for every file (`-+x` resets an option).
        let Some(cmd) = w.strip_prefix('+') else {
            continue;
        };
        let cmd = cmd.strip_prefix('+').unwrap_or(cmd);
        let moves = cmd.is_empty()
            || cmd.bytes().all(|b| b.is_ascii_digit())
            || matches!(cmd, "G" | "g" | "F")
            || (cmd.starts_with(['/', '?']) && !cmd.contains(['\n', '\r']));
        if !moves {
            return Err(Refusal::option(format!(
                "`{name} +{cmd}` runs {name} commands at start, which can run a shell or open other files; only `+NUM`, `+G`, `+F` and `+/pattern` are allowed"
            )));
        }
    }
    Ok(())
}

/// `python -m zipfile -e ARCHIVE DIR`, `python -m tarfile -e ARCHIVE [DIR]`:
/// the standard library's extractors, judged member by member like unzip and tar.
fn python_extract(module: &str, rest: &[Word]) -> Touches {
    let format = match module {
        "zipfile" => crate::checks::extract::Format::Zip,
        "tarfile" => crate::checks::extract::Format::Tar,
        _ => return Ok(vec![]),
    };
    let Some(at) = rest
        .iter()
        .position(|w| matches!(w.text.as_str(), "-e" | "--extract"))
    else {
        return Ok(vec![]);
    };
    let word = |k: usize| rest.get(at + k).map(lit).transpose();
    let archive = word(1)?.map(str::to_string);
    let into = word(2)?.map(str::to_string);
    Ok(vec![Touch::Extract(Box::new(
        crate::checks::extract::Extract {
            program: format!("python -m {module}"),
            format,
            source: archive.filter(|a| a != "-"),
            into,
            strip: Some(0),
            absolute: false,
            junk: false,
        },
    ))])
}

/// `python script.py` reads the script; `python -m pkg.mod` loads `pkg/mod.py`
/// (or the package) from the working directory first, so both are reads.
fn python(args: &[Word]) -> Touches {
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let t = arg.text.as_str();
        if let Some((m, _)) = option_value(args, i, "-m") {
            let m = m?;
            if m.is_empty() {
                return Ok(vec![]);
            }
            let rel = m.replace('.', "/");
            if m == "pytest" || m == "py.test" {
                let tool = TOOLS.iter().find(|t| t.programs.contains(&"pytest"));
                let rest = args
                    .get(i + if t == "-m" { 2 } else { 1 }..)
                    .unwrap_or_default();
                let mut out = vec![Touch::Read(format!("{rel}.py")), Touch::Read(rel)];
                if let Some(tool) = tool {
                    out.extend(tool_touches("pytest", tool, rest)?);
                }
                return Ok(out);
            }
            let rest = args
                .get(i + if t == "-m" { 2 } else { 1 }..)
                .unwrap_or_default();
            let mut out = vec![Touch::Read(format!("{rel}.py")), Touch::Read(rel)];
            out.extend(python_extract(m, rest)?);
            return Ok(out);
        }
        if t == "--" || !t.starts_with('-') || t == "-" {
            let script = if t == "--" {
                args.get(i + 1)
            } else {
                Some(arg)
            };
            return Ok(match script.map(lit).transpose()? {
                Some(s) if s != "-" => vec![Touch::Read(s.to_string())],
                _ => vec![],
            });
        }
        i += if PYTHON_VALUE_OPTIONS.contains(&t) {
            2
        } else {
            1
        };
    }
    Ok(vec![])
}
