//! Languages inside allowed text tools: awk and sed programs are read for
//! the constructs that run commands or touch files; tar's modes and archive
//! names; a few editors' and pagers' command options.
//!
//! The scanners are deliberately small: they look for the constructs that
//! matter (awk `system()`, pipes, `getline <`, `print >`; sed `e`, `w`, `r`,
//! `s///w`, `s///e`) and refuse what they cannot read, rather than parse the
//! whole language.

use super::{lit, option_value, Refusal, Touch, Touches};
use crate::checks::extract::{Extract, Format};
use crate::checks::shell::Word;

/// Programs modelled here.
pub const MODELLED: &[&str] = &[
    "awk",
    "gawk",
    "mawk",
    "nawk",
    "busybox-awk",
    "sed",
    "gsed",
    "tar",
    "gtar",
    "bsdtar",
    "sqlite3",
];

/// awk options that take a value (the program is the first operand after them).
const AWK_VALUE_OPTIONS: &[&str] = &["-F", "-v", "--assign", "--field-separator"];
/// awk options that load a program or a library from a file: refused.
const AWK_CODE_FILE_OPTIONS: &[&str] =
    &["-f", "--file", "-E", "--exec", "-l", "--load", "--include"];

/// sed options that take a value.
const SED_VALUE_OPTIONS: &[&str] = &["-l", "--line-length"];

pub fn touches(name: &str, args: &[Word]) -> Option<Touches> {
    match name {
        "awk" | "gawk" | "mawk" | "nawk" => Some(awk(name, args)),
        "sed" | "gsed" => Some(sed(args)),
        "tar" | "gtar" | "bsdtar" => Some(tar(name, args)),
        "sqlite3" => Some(sqlite(args)),
        _ => None,
    }
}

/// sqlite3 options followed by one value, and by two.
const SQLITE_ONE_VALUE: &[&str] = &[
    "-separator",
    "-newline",
    "-nullvalue",
    "-mmap",
    "-maxsize",
    "-vfs",
    "-escape",
];
const SQLITE_TWO_VALUES: &[&str] = &["-lookaside", "-pagecache"];
/// Dot-commands that only show or format: every other one may run a shell
/// (`.shell`, `.system`), write a file (`.output`, `.once`, `.save`, `.backup`),
/// read one (`.read`, `.import`, `.open`) or load code (`.load`).
const SQLITE_SAFE_DOT: &[&str] = &[
    "tables",
    "schema",
    "indexes",
    "indices",
    "headers",
    "header",
    "mode",
    "databases",
    "fullschema",
    "help",
    "show",
    "width",
    "nullvalue",
    "separator",
    "print",
    "quit",
    "exit",
    "timer",
    "changes",
    "eqp",
    "explain",
    "stats",
    "dump",
    "dbinfo",
    "bail",
    "echo",
];
/// SQL words of the sqlite3 shell that load code or touch files by a name in the SQL.
const SQLITE_FILE_WORDS: &[&str] = &[
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fsdir",
    "zipfile",
    "sqlar_compress",
    "sqlar_uncompress",
    "attach",
];

/// `sqlite3 [OPTIONS] DB [SQL…]`: the database is read (and written unless
/// `-readonly`); each SQL or dot-command operand is scanned.
fn sqlite(args: &[Word]) -> Touches {
    let mut out = vec![];
    let mut readonly = false;
    let mut db_seen = false;
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        i += 1;
        if t.starts_with('-') && !db_seen {
            i += if SQLITE_ONE_VALUE.contains(&t) {
                1
            } else if SQLITE_TWO_VALUES.contains(&t) {
                2
            } else {
                0
            };
            readonly |= t == "-readonly" || t == "--readonly";
            continue;
        }
        let text = lit(w)?;
        if !db_seen {
            db_seen = true;
            if !text.is_empty() && text != ":memory:" {
                out.push(Touch::Read(text.to_string()));
                if !readonly {
                    out.push(Touch::Write(text.to_string()));
                }
            }
            continue;
        }
        sql_refusal(text)?;
    }
    Ok(out)
}

/// Refuses SQL text that uses a dot-command or a function outside the safe set.
fn sql_refusal(text: &str) -> Result<(), Refusal> {
    for line in text.lines() {
        if let Some(cmd) = line.trim_start().strip_prefix('.') {
            let name = cmd.split_whitespace().next().unwrap_or_default();
            if !SQLITE_SAFE_DOT.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(Refusal::option(format!(
                    "the sqlite3 command `.{name}` may run a shell, load code or read or write a file of the caller's choosing"
                )));
            }
        }
    }
    let lower = text.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let vacuum_into = words.windows(2).any(|p| p == ["vacuum", "into"]);
    match words.iter().find(|w| SQLITE_FILE_WORDS.contains(w)) {
        Some(w) => Err(Refusal::option(format!(
            "the SQL uses `{w}`, which loads code or reads or writes a file the SQL names"
        ))),
        None if vacuum_into => Err(Refusal::option(
            "the SQL uses `VACUUM INTO`, which writes a file the SQL names".to_string(),
        )),
        None => Ok(()),
    }
}

fn awk(name: &str, args: &[Word]) -> Touches {
    let mut out = vec![];
    let mut program: Option<&str> = None;
    let mut files: Vec<&Word> = vec![];
    let mut in_place = false;
    let mut i = 0;
    let mut end = false;
    while let Some(arg) = args.get(i) {
        let t = arg.text.as_str();
        if !end && t == "--" {
            end = true;
            i += 1;
            continue;
        }
        if !end && t.starts_with('-') && t.len() > 1 {
            if let Some(o) = AWK_CODE_FILE_OPTIONS
                .iter()
                .find(|o| option_value(args, i, o).is_some())
            {
                return Err(Refusal::option(format!(
                    "`{name} {o}` loads a program or a library from a file, which toolgate does not read"
                )));
            }
            // gawk `-e PROGRAM` / `--source=PROGRAM`: program text given as an option.
            if let Some((v, n)) =
                option_value(args, i, "-e").or_else(|| option_value(args, i, "--source"))
            {
                out.extend(awk_program(name, v?)?);
                program.get_or_insert("");
                i += n;
                continue;
            }
            if let Some((v, n)) = option_value(args, i, "-i") {
                // gawk -i NAME includes a source file; only `-i inplace` is a known library.
                if v? != "inplace" {
                    return Err(Refusal::option(format!(
                        "`{name} -i` includes awk source from a file, which toolgate does not read"
                    )));
                }
                in_place = true;
                i += n;
                continue;
            }
            if let Some(o) = AWK_VALUE_OPTIONS.iter().find(|o| **o == t) {
                let _ = o;
                i += 2;
                continue;
            }
            i += 1;
            continue;
        }
        if program.is_none() {
            program = Some(lit(arg)?);
        } else if !t.contains('=') || t.starts_with(['.', '/']) {
            files.push(arg);
        }
        i += 1;
    }
    if let Some(p) = program {
        out.extend(awk_program(name, p)?);
    }
    if in_place {
        for w in files {
            out.push(Touch::Write(lit(w)?.to_string()));
        }
    }
    Ok(out)
}

/// Scans an awk program: `system()`, `|` (to or from a command) and `|&` run
/// commands; `getline < "f"` reads, `print > "f"` / `>> "f"` writes; a target
/// that is not a string literal is refused.
pub fn awk_program(name: &str, p: &str) -> Touches {
    let b = p.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    // The last significant byte, to tell a regex `/.../` from division.
    let mut prev: u8 = b'(';
    let mut last_word = String::new();
    // Inside a print/printf statement at this paren depth.
    let mut printing: Option<usize> = None;
    let mut depth = 0usize;
    let refuse = |what: &str| {
        Err(Refusal::option(format!(
            "the {name} program {what}, which runs a command of the caller's choosing"
        )))
    };
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => {
                i = skip_quoted(b, i, b'"');
                prev = b'"';
                continue;
            }
            b'/' if b"(,~!&|{};=<>+-*%^?:\n".contains(&prev)
                || matches!(last_word.as_str(), "print" | "printf" | "return" | "in") =>
            {
                i = skip_quoted(b, i, b'/');
                prev = b'/';
                last_word.clear();
                continue;
            }
            b'#' => {
                while b.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'|' if b.get(i + 1) == Some(&b'|') => {
                i += 2;
                prev = b'|';
                continue;
            }
            b'|' => return refuse("pipes to or from a command (`|`)"),
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b';' | b'}' | b'{' | b'\n' => printing = None,
            b'>' if printing == Some(depth) => {
                let mut j = i + 1;
                if b.get(j) == Some(&b'>') {
                    j += 1;
                }
                out.push(Touch::Write(awk_target(name, b, j, "print >")?));
            }
            b'<' if last_word == "getline" || getline_before(b, i) => {
                out.push(Touch::Read(awk_target(name, b, i + 1, "getline <")?));
            }
            _ => {}
        }
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'@' {
            let start = i;
            while b
                .get(i)
                .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'@')
            {
                i += 1;
            }
            // ASCII bytes on both sides: `start..i` falls on char boundaries.
            let word = p.get(start..i).unwrap_or("");
            match word {
                "system" => return refuse("calls `system()`"),
                "@namespace" => {}
                // `@load`, `@include`, and gawk's indirect call `@f()` (f may hold "system").
                w if w.starts_with('@') => {
                    return Err(Refusal::option(format!(
                        "the {name} program uses `{word}`, which loads code from a file or calls a function by a computed name"
                    )))
                }
                "print" | "printf" => printing = Some(depth),
                _ => {}
            }
            last_word = word.to_string();
            prev = b'a';
            continue;
        }
        if !c.is_ascii_whitespace() || c == b'\n' {
            prev = c;
            if c != b'<' {
                last_word.clear();
            }
        }
        i += 1;
    }
    Ok(out)
}

/// `getline var < file`: a `getline` word shortly before this `<`.
fn getline_before(b: &[u8], at: usize) -> bool {
    let before = String::from_utf8_lossy(b.get(..at).unwrap_or_default());
    let trimmed = before.trim_end();
    let mut words = trimmed.rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    let last = words.next().unwrap_or("");
    last == "getline" || (words.next() == Some("getline"))
}

/// The file an awk redirection names: a string literal, else refused.
fn awk_target(name: &str, b: &[u8], mut j: usize, what: &str) -> Result<String, Refusal> {
    while b.get(j).is_some_and(u8::is_ascii_whitespace) {
        j += 1;
    }
    if b.get(j) == Some(&b'"') {
        let end = skip_quoted(b, j, b'"');
        let inner = b
            .get(j + 1..end.saturating_sub(1).max(j + 1))
            .unwrap_or_default();
        let s = String::from_utf8_lossy(inner).replace("\\\"", "\"");
        let next = b
            .get(end..)
            .unwrap_or_default()
            .iter()
            .find(|c| !c.is_ascii_whitespace())
            .copied();
        // `print > "a" b` concatenates: the name is computed.
        if next.is_none_or(|c| b";}\n)".contains(&c)) && !s.contains('\\') {
            return Ok(s);
        }
    }
    Err(Refusal::option(format!(
        "the {name} program's `{what}` names a file it computes, so the file it touches is unknown"
    )))
}

/// Index just past a quoted run starting at `start` (backslash escapes honoured).
fn skip_quoted(b: &[u8], start: usize, q: u8) -> usize {
    let mut i = start + 1;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            c if c == q => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

fn sed(args: &[Word]) -> Touches {
    let mut out = vec![];
    let mut scripts = vec![];
    let mut first_operand_is_script = true;
    let mut i = 0;
    let mut end = false;
    while let Some(arg) = args.get(i) {
        let t = arg.text.as_str();
        if !end && t == "--" {
            end = true;
            i += 1;
            continue;
        }
        if !end && t.starts_with('-') && t.len() > 1 {
            if option_value(args, i, "-f").is_some() || option_value(args, i, "--file").is_some() {
                return Err(Refusal::option(
                    "`sed -f` runs a script from a file, which toolgate does not read (its `e` and `w` commands are unknown)",
                ));
            }
            if let Some((v, n)) =
                option_value(args, i, "-e").or_else(|| option_value(args, i, "--expression"))
            {
                scripts.push(v?.to_string());
                first_operand_is_script = false;
                i += n;
                continue;
            }
            if SED_VALUE_OPTIONS.contains(&t) {
                i += 1;
            } else if let Some(bundle) = t.strip_prefix('-').filter(|b| !b.starts_with('-')) {
                // A short-option bundle (`-ne SCRIPT`, `-nf FILE`, `-i.bak`).
                for (k, c) in bundle.char_indices() {
                    match c {
                        'f' => {
                            return Err(Refusal::option(
                                "`sed -f` runs a script from a file, which toolgate does not read",
                            ))
                        }
                        'e' => {
                            let rest = &bundle[k + 1..];
                            if rest.is_empty() {
                                scripts.push(
                                    args.get(i + 1)
                                        .map(lit)
                                        .transpose()?
                                        .unwrap_or("")
                                        .to_string(),
                                );
                                i += 1;
                            } else {
                                scripts.push(rest.to_string());
                            }
                            first_operand_is_script = false;
                            break;
                        }
                        // `-i` and `-l` take the rest of the bundle as their value.
                        'i' | 'l' => break,
                        _ => {}
                    }
                }
            }
            i += 1;
            continue;
        }
        if first_operand_is_script {
            scripts.push(lit(arg)?.to_string());
            first_operand_is_script = false;
        }
        i += 1;
    }
    for s in &scripts {
        out.extend(sed_script(s)?);
    }
    Ok(out)
}

/// Scans a sed script command by command: `e` and `s///e` run commands;
/// `w`/`W` and `s///w` write the rest of the line's file, `r`/`R` read it.
/// A command letter it does not know is refused.
pub fn sed_script(s: &str) -> Touches {
    let b = s.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    let file_arg = |i: &mut usize| -> String {
        while b.get(*i).is_some_and(|&c| c == b' ' || c == b'\t') {
            *i += 1;
        }
        let start = *i;
        while b.get(*i).is_some_and(|&c| c != b'\n') {
            *i += 1;
        }
        // Both ends sit next to ASCII bytes (or the end): char boundaries.
        s.get(start..*i).unwrap_or("").to_string()
    };
    let runs = || {
        Err(Refusal::option(
            "the sed script uses `e`, which runs a command of the caller's choosing",
        ))
    };
    while i < b.len() {
        // Addresses: numbers, `$`, `/re/`, `\cREc`, ranges, steps, `!`, flags.
        loop {
            while b
                .get(i)
                .is_some_and(|c| matches!(c, b' ' | b'\t' | b';' | b'\n'))
            {
                i += 1;
            }
            match b.get(i) {
                Some(c) if c.is_ascii_digit() || matches!(c, b'$' | b',' | b'~' | b'+' | b'!') => {
                    i += 1
                }
                Some(b'/') => i = skip_quoted(b, i, b'/'),
                Some(b'\\') => {
                    let Some(&d) = b.get(i + 1) else { break };
                    i = skip_quoted(b, i + 1, d);
                }
                Some(b'I' | b'M') if i.checked_sub(1).and_then(|j| b.get(j)) == Some(&b'/') => {
                    i += 1
                }
                _ => break,
            }
        }
        let Some(&cmd) = b.get(i) else { break };
        i += 1;
        match cmd {
            b'e' => return runs(),
            b'w' | b'W' => out.push(Touch::Write(file_arg(&mut i))),
            b'r' | b'R' => out.push(Touch::Read(file_arg(&mut i))),
            b's' | b'y' => {
                let Some(&d) = b.get(i) else {
                    return Err(Refusal::option("the sed script ends inside `s`"));
                };
                i = skip_quoted(b, i, d);
                i = skip_quoted(b, i.saturating_sub(1), d);
                if cmd == b's' {
                    while let Some(&c) = b.get(i).filter(|c| !matches!(c, b';' | b'\n' | b'}')) {
                        match c {
                            b'e' => return runs(),
                            b'w' => {
                                i += 1;
                                out.push(Touch::Write(file_arg(&mut i)));
                                break;
                            }
                            c if c.is_ascii_digit() || b"gpiImM ".contains(&c) => i += 1,
                            c => {
                                return Err(Refusal::option(format!(
                                    "the sed `s` flag `{}` is not modelled",
                                    c as char
                                )))
                            }
                        }
                    }
                }
            }
            b'a' | b'i' | b'c' => {
                // Text to the end of the line (`a\` continues onto the next).
                while let Some(&c) = b.get(i).filter(|&&c| c != b'\n') {
                    if c == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b':' | b'b' | b't' | b'T' | b'l' | b'q' | b'Q' | b'L' | b'v' => {
                while b.get(i).is_some_and(|c| !matches!(c, b';' | b'\n' | b'}')) {
                    i += 1;
                }
            }
            b'#' => {
                while b.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
            }
            b'{' | b'}' | b'=' | b'd' | b'D' | b'g' | b'G' | b'h' | b'H' | b'n' | b'N' | b'p'
            | b'P' | b'x' | b'z' | b'F' => {}
            c => {
                return Err(Refusal::option(format!(
                    "the sed command `{}` is not modelled, so what it does is unknown",
                    c as char
                )))
            }
        }
    }
    Ok(out)
}

/// tar: `f host:path` runs a remote shell; create reads its operands and
/// writes the archive; extract writes the members the archive holds, listed
/// at the edge ([`Touch::Extract`]), below the `-C` directory.
fn tar(name: &str, args: &[Word]) -> Touches {
    let mut out = vec![];
    let mut mode = None;
    let mut archive: Option<String> = None;
    let mut dir: Option<String> = None;
    let mut dirs = 0;
    let mut strip = 0usize;
    let mut absolute = false;
    let mut to_stdout = false;
    let mut force_local = false;
    let mut operands = vec![];
    let mut i = 0;
    let mut pending_f = false;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        i += 1;
        if pending_f {
            archive = Some(lit(w)?.to_string());
            pending_f = false;
            continue;
        }
        let bundle = if let Some(b) = t.strip_prefix('-').filter(|b| !b.starts_with('-')) {
            Some(b)
        } else if i == 1 && !t.starts_with('-') {
            // Old style: `tar czf out.tgz dir`.
            Some(t)
        } else {
            None
        };
        if let Some(b) = bundle {
            for (k, c) in b.char_indices() {
                match c {
                    'c' | 'x' | 't' | 'r' | 'u' | 'A' => mode = Some(c),
                    'f' => {
                        let rest = &b[k + 1..];
                        if rest.is_empty() {
                            pending_f = true;
                        } else {
                            archive = Some(rest.to_string());
                        }
                        break;
                    }
                    'P' => absolute = true,
                    'O' => to_stdout = true,
                    's' if name == "bsdtar" => {
                        return Err(Refusal::option(
                            "`bsdtar -s` rewrites member names by a pattern, so the files it creates are not the names the archive lists",
                        ))
                    }
                    'C' => {
                        dirs += 1;
                        let rest = &b[k + 1..];
                        if rest.is_empty() {
                            dir = args.get(i).map(lit).transpose()?.map(str::to_string);
                            i += 1;
                        } else {
                            dir = Some(rest.to_string());
                        }
                        break;
                    }
                    'T' => {
                        return Err(Refusal::option(
                            "`tar -T` reads the names of the files to archive from a file, so the files it reads are unknown",
                        ))
                    }
                    _ => {}
                }
            }
            continue;
        }
        match t.split_once('=').map_or((t, None), |(k, v)| (k, Some(v))) {
            ("--create", _) => mode = Some('c'),
            ("--extract" | "--get", _) => mode = Some('x'),
            ("--list", _) => mode = Some('t'),
            ("--append" | "--update" | "--concatenate" | "--delete", _) => mode = Some('r'),
            ("--force-local", _) => force_local = true,
            ("--file", v) => {
                archive = Some(match v {
                    Some(v) => v.to_string(),
                    None => {
                        i += 1;
                        args.get(i - 1).map(lit).transpose()?.unwrap_or("").to_string()
                    }
                })
            }
            ("--absolute-names", _) => absolute = true,
            ("--to-stdout", _) => to_stdout = true,
            ("--strip-components" | "--strip", v) => {
                let v = match v {
                    Some(v) => v.to_string(),
                    None => {
                        i += 1;
                        args.get(i - 1).map(lit).transpose()?.unwrap_or("").to_string()
                    }
                };
                strip = v.parse().map_err(|_| {
                    Refusal::option(format!("`--strip-components {v}` is not a number"))
                })?;
            }
            ("--transform" | "--xform" | "--one-top-level", _) => {
                return Err(Refusal::option(format!(
                    "`{name} {t}` changes where members land beyond their names, which toolgate does not follow; extract without it (`-C DIR`, `--strip-components N`)"
                )))
            }
            ("--directory", v) => {
                dirs += 1;
                dir = Some(match v {
                    Some(v) => v.to_string(),
                    None => {
                        i += 1;
                        args.get(i - 1).map(lit).transpose()?.unwrap_or("").to_string()
                    }
                })
            }
            ("--files-from", _) => {
                return Err(Refusal::option(
                    "`tar --files-from` reads the names of the files to archive from a file, so the files it reads are unknown",
                ))
            }
            _ if t.starts_with('-') => {}
            _ => operands.push(lit(w)?.to_string()),
        }
    }
    if let Some(a) = &archive {
        let colon = a.find(':');
        let slash = a.find('/');
        if !force_local && colon.is_some_and(|c| slash.is_none_or(|s| c < s)) {
            return Err(Refusal::option(format!(
                "the tar archive `{a}` names a remote host, so tar would start a remote shell (rsh/ssh); use --force-local for a local file"
            )));
        }
    }
    let at = |p: &str| match &dir {
        Some(d) if !p.starts_with('/') => format!("{d}/{p}"),
        _ => p.to_string(),
    };
    let archive = archive.filter(|a| a != "-");
    match mode {
        Some('c') | Some('r') | Some('u') | Some('A') => {
            if let Some(a) = archive {
                out.push(Touch::Write(a));
            }
            for p in &operands {
                out.push(Touch::Read(at(p)));
            }
        }
        Some('x') if to_stdout => out.extend(archive.map(Touch::Read)),
        Some('x') => {
            if dirs > 1 {
                return Err(Refusal::option(format!(
                    "`{name}` with more than one `-C` changes directory between members; extract with one `-C DIR`"
                )));
            }
            if let Some(a) = &archive {
                out.push(Touch::Read(a.clone()));
            }
            out.push(Touch::Extract(Box::new(Extract {
                program: name.to_string(),
                format: Format::Tar,
                source: archive,
                into: dir,
                strip: Some(strip),
                absolute,
                junk: false,
            })));
        }
        _ => {
            if let Some(a) = archive {
                out.push(Touch::Read(a));
            }
        }
    }
    Ok(out)
}
