//! What toolgate knows about common programs, as data: which run other
//! commands, which take code, which options execute or write, which
//! arguments are files read or written, and which flags are spelled two ways.
//!
//! The knowledge only ever adds denies or effects; a program absent from
//! these tables is judged by the allowlist alone.

/// Programs whose arguments are themselves a command line (or shell code):
/// any word beyond an allowlisted entry is refused, because the entry cannot
/// have meant "and whatever command follows".
pub const RUNNERS: &[&str] = &[
    ".",
    "builtin",
    "busybox",
    "chroot",
    "chrt",
    "command",
    "coproc",
    "doas",
    "env",
    "eval",
    "exec",
    "flock",
    "ionice",
    "ltrace",
    "nice",
    "nohup",
    "nsenter",
    "parallel",
    "runuser",
    "script",
    "setsid",
    "source",
    "stdbuf",
    "strace",
    "su",
    "sudo",
    "systemd-run",
    "taskset",
    "time",
    "timeout",
    "trap",
    "unbuffer",
    "unshare",
    "watch",
    "xargs",
    "alias",
    "fc",
    "bind",
    "complete",
];

/// An option that makes a program run code or commands of the caller's choosing.
pub struct ExecOptions {
    pub programs: &'static [&'static str],
    /// Options after which the rest belongs to the script (`python -m module ...`).
    pub ends_options: &'static [&'static str],
    /// Options recognised only before the first operand (interpreter flags, git's global options).
    pub leading: &'static [&'static str],
    /// Options recognised anywhere in the arguments.
    pub anywhere: &'static [&'static str],
}

/// Execution-capable options. `-x` also matches inside a short-flag bundle
/// (`-xc`) and with an attached value (`-cfoo`); `--long` also matches `--long=value`.
pub const EXEC_OPTIONS: &[ExecOptions] = &[
    ExecOptions {
        programs: &[
            "sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "csh", "tcsh", "ash",
        ],
        ends_options: &[],
        leading: &["-c", "-s", "--init-file", "--rcfile"],
        anywhere: &[],
    },
    ExecOptions {
        programs: &["python", "python2", "python3", "pypy", "pypy3"],
        ends_options: &["-m"],
        leading: &["-c", "-"],
        anywhere: &[],
    },
    ExecOptions {
        programs: &["node", "nodejs", "bun"],
        ends_options: &[],
        leading: &[
            "-e",
            "--eval",
            "-p",
            "--print",
            "-r",
            "--require",
            "--import",
            "--loader",
        ],
        anywhere: &[],
    },
    ExecOptions {
        // `compgen -C CMD` runs CMD, `-F FUNC` calls FUNC, to make the completions.
        programs: &["compgen"],
        ends_options: &[],
        leading: &[],
        anywhere: &["-C", "-F"],
    },
    ExecOptions {
        programs: &["deno"],
        ends_options: &[],
        leading: &["eval"],
        anywhere: &[],
    },
    ExecOptions {
        programs: &[
            "ruby",
            "perl",
            "lua",
            "luajit",
            "Rscript",
            "osascript",
            "julia",
        ],
        ends_options: &[],
        leading: &["-e", "-E", "-r", "-M", "-m"],
        anywhere: &[],
    },
    ExecOptions {
        programs: &["php"],
        ends_options: &[],
        leading: &["-r", "-B", "-R", "-E", "-F"],
        anywhere: &[],
    },
    ExecOptions {
        programs: &["pwsh", "powershell"],
        ends_options: &[],
        leading: &["-c", "-Command", "-EncodedCommand", "-e", "-ec"],
        anywhere: &[],
    },
    ExecOptions {
        programs: &["git"],
        ends_options: &[],
        leading: &[
            "-c",
            "-C",
            "--config-env",
            "--exec-path",
            "--git-dir",
            "--work-tree",
            "--namespace",
        ],
        anywhere: &[
            "--upload-pack",
            "--receive-pack",
            "--exec",
            "--extcmd",
            "--open-files-in-pager",
            "--ext-diff",
            "--textconv",
            "--tool",
        ],
    },
    ExecOptions {
        programs: &["find"],
        ends_options: &[],
        leading: &[],
        anywhere: &[
            "-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf",
            "-fls",
        ],
    },
    ExecOptions {
        // `zip -TT CMD` tests the archive by running CMD.
        programs: &["zip"],
        ends_options: &[],
        leading: &[],
        anywhere: &["-TT", "--unzip-command"],
    },
    ExecOptions {
        // gdb runs the commands (a shell, python) of `-ex`, `-x FILE` and their init forms,
        // and `-p` reads another process's memory.
        programs: &["gdb"],
        ends_options: &[],
        leading: &[],
        anywhere: &[
            "-ex",
            "--ex",
            "-eval-command",
            "--eval-command",
            "-x",
            "--x",
            "-command",
            "--command",
            "-iex",
            "--iex",
            "-init-eval-command",
            "--init-eval-command",
            "-ix",
            "--ix",
            "-init-command",
            "--init-command",
            "-p",
            "--pid",
        ],
    },
    ExecOptions {
        // `-cmd` runs a command before the input, `-init FILE` runs a file of them.
        programs: &["sqlite3"],
        ends_options: &[],
        leading: &[],
        anywhere: &["-cmd", "-init"],
    },
    ExecOptions {
        programs: &["rg"],
        ends_options: &[],
        leading: &[],
        anywhere: &["--pre"],
    },
    ExecOptions {
        programs: &["cargo"],
        ends_options: &[],
        leading: &[],
        anywhere: &["--config", "-Z"],
    },
    ExecOptions {
        programs: &["make", "gmake"],
        ends_options: &[],
        leading: &[],
        anywhere: &["--eval", "-E"],
    },
    ExecOptions {
        programs: &["tar"],
        ends_options: &[],
        leading: &[],
        anywhere: &[
            "--to-command",
            "--checkpoint-action",
            "--use-compress-program",
            "-I",
            "--info-script",
            "-F",
            "--new-volume-script",
        ],
    },
    ExecOptions {
        programs: &["rsync"],
        ends_options: &[],
        leading: &[],
        anywhere: &["-e", "--rsh", "--rsync-path"],
    },
    ExecOptions {
        programs: &["ssh", "scp", "sftp"],
        ends_options: &[],
        leading: &[],
        anywhere: &["-o", "-S", "-F"],
    },
    ExecOptions {
        programs: &["less", "more", "man"],
        ends_options: &[],
        leading: &[],
        anywhere: &["-P", "--LESSOPEN"],
    },
    ExecOptions {
        programs: &["npm", "pnpm", "yarn"],
        ends_options: &[],
        leading: &[],
        anywhere: &["--script-shell", "--node-options"],
    },
];

/// Interpreters: fed code on standard input (a pipe, here-document or here-string),
/// they run it, so that needs `allow_interpreter_stdin`.
pub const INTERPRETERS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "mksh",
    "fish",
    "csh",
    "tcsh",
    "ash",
    "python",
    "python2",
    "python3",
    "pypy",
    "pypy3",
    "node",
    "nodejs",
    "deno",
    "bun",
    "ruby",
    "perl",
    "php",
    "lua",
    "luajit",
    "Rscript",
    "R",
    "osascript",
    "pwsh",
    "powershell",
    "julia",
    "tclsh",
    "irb",
    "ipython",
    "sqlite3",
    "psql",
    "mysql",
    "gdb",
];

/// Programs whose operands are files they read. The first operand of a
/// pattern-taking program (grep, rg, sed, awk, jq) is its pattern unless a
/// pattern option was given.
pub const READERS: &[&str] = &[
    "cat",
    "tac",
    "head",
    "tail",
    "less",
    "more",
    "nl",
    "wc",
    "od",
    "xxd",
    "hexdump",
    "strings",
    "file",
    "cut",
    "sort",
    "uniq",
    "base64",
    "base32",
    "md5sum",
    "sha1sum",
    "sha224sum",
    "sha256sum",
    "sha384sum",
    "sha512sum",
    "b2sum",
    "cksum",
    "sum",
    "diff",
    "cmp",
    "comm",
    "paste",
    "column",
    "fold",
    "fmt",
    "rev",
    "bat",
    "batcat",
    "tr",
    "expand",
    "unexpand",
    "pr",
    "iconv",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "ag",
    "ack",
    "sed",
    "awk",
    "gawk",
    "zcat",
    "zless",
    "bzcat",
    "xzcat",
    "strings",
    "split",
    // A listing reads the names (and, with -l, the metadata) of what it lists: the
    // same read the hosts' own LS and Glob tools are judged by.
    "ls",
    "dir",
    "vdir",
    "stat",
    "vim",
    "vi",
    "nano",
    "view",
    "source",
    ".",
];

/// Readers that list the working directory when no operand names what to list.
pub const LISTERS: &[&str] = &["ls", "dir", "vdir"];

/// Pattern-taking readers and the options that supply the pattern instead.
pub const PATTERN_FIRST: &[(&str, &[&str])] = &[
    ("grep", &["-e", "-f", "--regexp", "--file"]),
    ("egrep", &["-e", "-f", "--regexp", "--file"]),
    ("fgrep", &["-e", "-f", "--regexp", "--file"]),
    ("rg", &["-e", "-f", "--regexp", "--file"]),
    ("ag", &[]),
    ("ack", &[]),
    ("sed", &["-e", "-f", "--expression", "--file"]),
    ("awk", &["-f", "--file"]),
    ("gawk", &["-f", "--file"]),
];

/// Options with which sed writes its file operands in place.
pub const IN_PLACE: &[(&str, &[&str])] = &[("sed", &["-i", "--in-place"]), ("perl", &["-i"])];

/// Programs whose operands are all files they write (or remove).
pub const WRITERS: &[&str] = &[
    "rm", "rmdir", "touch", "mkdir", "chmod", "chown", "chgrp", "truncate", "unlink", "shred",
    "tee", "mv", "setfacl", "chattr", "rename", "mkfifo", "mknod", "link", "dos2unix", "unix2dos",
    "gzip", "gunzip", "bzip2", "bunzip2", "xz", "unxz", "zstd", "unzstd", "mktemp", "ed",
];

/// Options with which a copier writes (creates or removes) every operand,
/// sources included: `install -d A B` creates both, `rsync --remove-source-files` deletes its sources.
pub const ALL_OPERANDS_WRITTEN: &[(&str, &[&str])] = &[
    ("install", &["-d", "--directory"]),
    ("rsync", &["--remove-source-files", "--delete-before"]),
    ("cp", &["--remove-destination", "-l", "--link"]),
];

/// Programs that make hard links unless given one of these options: a hard
/// link is another name for its source, so every operand counts as written
/// (`ln ~/.claude/settings.json x`, then a write to `x`, would change the protected file).
pub const HARD_LINKERS: &[(&str, &[&str])] = &[("ln", &["-s", "--symbolic"])];

/// Programs that read every operand but the last and write the last.
pub const COPIERS: &[&str] = &["cp", "install", "ln", "rsync", "scp"];

/// Options whose value (next word, or after `=`) is a file written, per program (`*` = any program).
pub const OUTPUT_OPTIONS: &[(&str, &[&str])] = &[
    (
        "*",
        &["--output", "--output-file", "--log-file", "--outfile"],
    ),
    ("sort", &["-o"]),
    (
        "curl",
        &[
            "-o",
            "-c",
            "--cookie-jar",
            "-D",
            "--dump-header",
            "--trace",
            "--trace-ascii",
        ],
    ),
    (
        "wget",
        &["-O", "-o", "-a", "--output-document", "--append-output"],
    ),
    ("gcc", &["-o"]),
    ("g++", &["-o"]),
    ("cc", &["-o"]),
    ("clang", &["-o"]),
    ("rustc", &["-o"]),
    ("go", &["-o"]),
];

/// Variables that change what the shell or the programs it starts do (where
/// they find programs, what they load at start, how they split words). A
/// builtin that assigns one (`for PATH in`, `read HOME`, `printf -v IFS`,
/// `declare LD_PRELOAD=`) needs the name in `allowed_env_assignments`, like
/// `NAME=value`. An entry ending in `*` is a prefix.
pub const SENSITIVE_VARIABLES: &[&str] = &[
    "PATH",
    "HOME",
    "ENV",
    "BASH_ENV",
    "IFS",
    "CDPATH",
    "PS1",
    "PS2",
    "PS4",
    "PROMPT_COMMAND",
    "SHELLOPTS",
    "BASHOPTS",
    "GLOBIGNORE",
    "BASH_*",
    "LD_*",
    "DYLD_*",
    "GIT_*",
    "PYTHON*",
    "NODE_*",
    "NPM_*",
    "npm_config_*",
    "PERL*",
    "RUBY*",
    "GEM_*",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "MANPAGER",
    "LESS*",
    "SSH_*",
    "HISTFILE",
    "TMPDIR",
    "XDG_*",
    "CARGO*",
    "RUSTC*",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "MAKEFLAGS",
    "MAKEFILES",
    "SHELL",
    "ZDOTDIR",
    "INPUTRC",
    "BROWSER",
    "GOFLAGS",
    "GOPATH",
    "CC",
    "CXX",
    "LDFLAGS",
    "CFLAGS",
    "PKG_CONFIG*",
    "OPENSSL_*",
    "SSL_*",
    "CURL_*",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "TOOLGATE_*",
    "CLAUDE_*",
    "CODEX_HOME",
    "COPILOT_HOME",
    "GEMINI_*",
    "CURSOR_*",
    "TERMINFO",
    "LOCPATH",
    "NLSPATH",
    "GCONV_PATH",
    "MALLOC_*",
    "GLIBC_TUNABLES",
];

/// Whether a variable is in [`SENSITIVE_VARIABLES`].
pub fn is_sensitive_variable(name: &str) -> bool {
    SENSITIVE_VARIABLES
        .iter()
        .any(|v| match v.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *v,
        })
}

/// Builtins that assign the variables their operands name, and the options
/// whose next word is a name (`printf -v NAME`, `read -a NAME`) or a value.
pub const ASSIGNING_BUILTINS: &[(&str, &[&str], &[&str])] = &[
    // (builtin, options naming a variable, options taking another value)
    ("read", &["-a"], &["-d", "-i", "-n", "-N", "-p", "-t", "-u"]),
    ("printf", &["-v"], &[]),
    ("mapfile", &[], &["-d", "-n", "-O", "-s", "-u", "-C", "-c"]),
    (
        "readarray",
        &[],
        &["-d", "-n", "-O", "-s", "-u", "-C", "-c"],
    ),
    ("declare", &[], &[]),
    ("typeset", &[], &[]),
    ("local", &[], &[]),
    ("export", &[], &[]),
    ("readonly", &[], &[]),
    ("getopts", &[], &[]),
];

/// Builtins that evaluate their operands as arithmetic or as variable names
/// with subscripts (`a[$(cmd)]` runs cmd there).
pub const ARITHMETIC_BUILTINS: &[&str] = &[
    "let",
    "declare",
    "typeset",
    "local",
    "export",
    "readonly",
    "unset",
    "printf",
    "read",
    "mapfile",
    "readarray",
    "getopts",
    "test",
    "[",
    "wait",
    "shift",
    "return",
    "exit",
    "kill",
    "ulimit",
    "umask",
    "source",
    ".",
    "eval",
    "exec",
];

/// Programs that change the working directory of the commands after them.
pub const DIRECTORY_CHANGERS: &[&str] = &["cd", "pushd", "popd"];

/// Flags spelled two ways, normalised to the short form before blocked
/// patterns are matched: (program, long, short). `*` = any program.
pub const FLAG_ALIASES: &[(&str, &str, &str)] = &[
    ("rm", "--recursive", "-r"),
    ("rm", "-R", "-r"),
    ("rm", "--force", "-f"),
    ("rm", "--dir", "-d"),
    ("chmod", "--recursive", "-R"),
    ("chown", "--recursive", "-R"),
    ("cp", "--recursive", "-r"),
    ("cp", "-R", "-r"),
    ("cp", "--force", "-f"),
    ("git", "--force", "-f"),
    ("git", "--force-with-lease", "-f"),
    ("git", "--force-if-includes", "-f"),
    ("git", "--delete", "-d"),
    ("git", "--hard", "--hard"),
    ("git", "--mirror", "--mirror"),
    ("mv", "--force", "-f"),
    ("ln", "--force", "-f"),
    ("ln", "--symbolic", "-s"),
    ("kill", "-KILL", "-9"),
    ("kill", "-SIGKILL", "-9"),
    ("kill", "--signal=KILL", "-9"),
];

/// Whether `token` is `option` as a program would read it: exactly, as
/// `--long=value`, or for a one-letter `-x` inside a bundle or with an attached value.
pub fn option_matches(token: &str, option: &str) -> bool {
    if token == option {
        return true;
    }
    if option.starts_with("--") || (option.starts_with('-') && option.len() > 2) {
        return token
            .strip_prefix(option)
            .is_some_and(|rest| rest.starts_with('='));
    }
    match (option.strip_prefix('-'), token.strip_prefix('-')) {
        (Some(letter), Some(bundle)) if letter.len() == 1 && !bundle.starts_with('-') => {
            bundle.contains(letter)
        }
        _ => false,
    }
}

/// The program's name as patterns and tables see it: the last path component.
pub fn base_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_match_bundles_and_values() {
        assert!(option_matches("-c", "-c"));
        assert!(option_matches("-xc", "-c"));
        assert!(option_matches("-cecho", "-c"));
        assert!(!option_matches("--cached", "-c"));
        assert!(option_matches("--output=f", "--output"));
        assert!(!option_matches("--outputs", "--output"));
        assert!(option_matches("-exec", "-exec"));
        assert!(!option_matches("-executable", "-exec"));
        assert!(!option_matches("c", "-c"));
        assert_eq!(base_name("/usr/bin/rm"), "rm");
    }
}
