//! jq (and its ports gojq and jaq): which words are the program, which are
//! files it reads, and which are plain values.
//!
//! jq runs no commands and writes no files, but it reads more than its input
//! files: `--rawfile NAME FILE` and `--slurpfile NAME FILE` read a file into a
//! variable, `-f` reads the program from the first operand, and a program's
//! `import`/`include` (or `modulemeta`) load modules and JSON data from a
//! search path that toolgate cannot resolve, so those are refused. Words after
//! `--args`/`--jsonargs` are values, never files; so are `--arg NAME VALUE`'s.
//! `env` and `$ENV` read the environment, as `$VAR` does in the shell, so
//! they need the same opt-in (`allow_expansion`), also inside a string's
//! interpolation. `input_filename`, `$__loc__` and `@sh` read nothing and are
//! allowed (a shell that runs `@sh` output is its own command, judged as such).
//!
//! yq (both the Go and the Python one) speaks a jq-like language with its own
//! loaders (`load`, `load_str`, `load_xml`, … read any file) and environment
//! readers (`env`, `strenv`, `envsubst`); `-i` rewrites its input files in place
//! and `-s` writes files named by an expression, which is refused.

use super::{lit, Refusal, Touch, Touches};
use crate::checks::shell::Word;

/// The programs this model covers.
pub const PROGRAMS: &[&str] = &["jq", "gojq", "jaq", "yq"];

/// What one program's language and command line add to jq's.
struct Dialect {
    /// Keywords or functions that load a module or read a file named in the program.
    loaders: &'static [&'static str],
    /// Functions that read the environment (`$ENV` is read in every dialect).
    env_words: &'static [&'static str],
    /// Options that make every file operand a write too.
    in_place: &'static [&'static str],
    /// Options whose next word is a value.
    values: &'static [&'static str],
    /// Options refused outright, with why.
    refused: &'static [(&'static str, &'static str)],
}

const JQ: Dialect = Dialect {
    loaders: &["import", "include", "modulemeta"],
    env_words: &["env"],
    in_place: &[],
    values: &[],
    refused: &[],
};

const YQ: Dialect = Dialect {
    loaders: &[
        "import",
        "include",
        "modulemeta",
        "load",
        "load_str",
        "load_xml",
        "load_props",
        "load_base64",
        "load_yaml",
        "load_json",
    ],
    env_words: &["env", "strenv", "envsubst"],
    in_place: &["-i", "--inplace", "--in-place"],
    values: &[
        "-o",
        "--output-format",
        "-p",
        "--input-format",
        "-I",
        "--xml-attribute-prefix",
        "--xml-content-name",
        "--lua-prefix",
        "--csv-separator",
        "--properties-separator",
        "--expression",
    ],
    refused: &[
        ("-s", "writes one file per document, named by an expression"),
        (
            "--split-exp",
            "writes one file per document, named by an expression",
        ),
    ],
};

fn dialect(name: &str) -> &'static Dialect {
    if name == "yq" {
        &YQ
    } else {
        &JQ
    }
}

/// Options followed by one value (attached short forms `-Ldir` too).
const ONE_VALUE: &[&str] = &["--indent", "-L", "--library-path"];
/// Options followed by a name and a value.
const TWO_VALUES: &[&str] = &["--arg", "--argjson"];
/// Options followed by a name and a file that is read.
const NAME_AND_FILE: &[&str] = &["--rawfile", "--slurpfile"];

pub fn touches(name: &str, args: &[Word]) -> Touches {
    let d = dialect(name);
    let mut out = vec![];
    let mut in_place = false;
    let mut program_given = false;
    let mut from_file = false;
    // After `--args`/`--jsonargs`, operands past the program are values.
    let mut values = false;
    let mut operands_done = false;
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        i += 1;
        if !operands_done && t == "--" {
            operands_done = true;
            continue;
        }
        if !operands_done && t.starts_with('-') && t.len() > 1 {
            if let Some((o, why)) = d.refused.iter().find(|(o, _)| option_named(t, o)) {
                return Err(Refusal::option(format!("`{name} {o}` {why}")));
            }
            if d.in_place.iter().any(|o| option_named(t, o)) {
                in_place = true;
            } else if d.values.contains(&t) {
                i += 1;
            } else if t == "--args" || t == "--jsonargs" {
                values = true;
            } else if t == "--from-file" {
                from_file = true;
            } else if NAME_AND_FILE.contains(&t) {
                if let Some(f) = args.get(i + 1) {
                    out.push(Touch::Read(lit(f)?.to_string()));
                }
                i += 2;
            } else if TWO_VALUES.contains(&t) {
                i += 2;
            } else if ONE_VALUE.contains(&t) {
                i += 1;
            } else if let Some(bundle) = t
                .strip_prefix('-')
                .filter(|b| !b.starts_with('-') && d.in_place.is_empty())
            {
                // Short flags bundle (`-nr`); `-L` takes the rest or the next word.
                if let Some(k) = bundle.find('L') {
                    if bundle.len() == k + 1 {
                        i += 1;
                    }
                    from_file |= bundle.get(..k).is_some_and(|b| b.contains('f'));
                } else {
                    from_file |= bundle.contains('f');
                }
            }
            continue;
        }
        if !program_given {
            program_given = true;
            if from_file {
                out.push(Touch::Read(lit(w)?.to_string()));
            } else if let Some(e) = program(name, d, lit(w)?)? {
                out.push(Touch::Environment(format!(
                    "the {name} program reads the environment with `{e}`"
                )));
            }
            continue;
        }
        if !values {
            let f = lit(w)?.to_string();
            if in_place {
                out.push(Touch::Write(f.clone()));
            }
            out.push(Touch::Read(f));
        }
    }
    Ok(out)
}

/// `-i` itself, or `--opt` with an attached `=value`.
fn option_named(t: &str, o: &str) -> bool {
    t == o || (o.starts_with("--") && t.strip_prefix(o).is_some_and(|r| r.starts_with('=')))
}

/// Refuses a program that loads modules or data from the search path; says
/// which construct reads the environment, if one does. String
/// interpolations (`"\\(env.X)"`) are code and are scanned too.
fn program(name: &str, d: &Dialect, p: &str) -> Result<Option<&'static str>, Refusal> {
    let mut env = None;
    // Spans still to scan: the program, then each interpolation found in it.
    let mut pending = vec![p];
    while let Some(p) = pending.pop() {
        let b = p.as_bytes();
        let mut i = 0;
        let mut prev = b' ';
        while let Some(&c) = b.get(i) {
            match c {
                b'"' => {
                    let (end, inner) = skip_string(b, i + 1);
                    pending.extend(inner.into_iter().filter_map(|(s, e)| p.get(s..e)));
                    i = end;
                    prev = b'"';
                    continue;
                }
                b'#' => {
                    while b.get(i).is_some_and(|&c| c != b'\n') {
                        i += 1;
                    }
                    continue;
                }
                _ if c.is_ascii_alphabetic() || c == b'_' => {
                    let start = i;
                    while b
                        .get(i)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    {
                        i += 1;
                    }
                    let word = p.get(start..i).unwrap_or_default();
                    // `.import` is a field and `$import` a variable, not the keyword.
                    if prev != b'.' && prev != b'$' && d.loaders.contains(&word) {
                        return Err(Refusal::option(format!(
                            "the {name} program uses `{word}`, which loads a module or reads a file (from its search path, or named in the program) that toolgate cannot judge"
                        )));
                    }
                    let named = d.env_words.iter().find(|e| **e == word);
                    match (prev, named) {
                        (b'$', _) if word == "ENV" => env = Some("$ENV"),
                        (p, Some(e)) if p != b'.' && p != b'$' => env = env.or(Some(*e)),
                        _ => {}
                    }
                    prev = b'a';
                    continue;
                }
                _ => {}
            }
            if !c.is_ascii_whitespace() {
                prev = c;
            }
            i += 1;
        }
    }
    Ok(env)
}

/// The index after a string literal starting at `i` (just past the quote),
/// and the spans of its interpolations `\\(...)` (strings inside them nest).
fn skip_string(b: &[u8], mut i: usize) -> (usize, Vec<(usize, usize)>) {
    let mut spans = vec![];
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' if b.get(i + 1) == Some(&b'(') => {
                let mut depth = 1usize;
                i += 2;
                let start = i;
                while depth > 0 {
                    match b.get(i) {
                        None => {
                            spans.push((start, i));
                            return (i, spans);
                        }
                        Some(b'(') => depth += 1,
                        Some(b')') => depth -= 1,
                        Some(b'"') => {
                            i = skip_string(b, i + 1).0;
                            continue;
                        }
                        _ => {}
                    }
                    i += 1;
                }
                spans.push((start, i - 1));
                continue;
            }
            b'\\' => i += 2,
            b'"' => return (i + 1, spans),
            _ => i += 1,
        }
    }
    (i, spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<Word> {
        s.iter()
            .map(|t| Word {
                text: t.to_string(),
                expands: false,
                substitutes: false,
            })
            .collect()
    }

    fn reads(s: &[&str]) -> Vec<String> {
        touches("jq", &words(s))
            .unwrap()
            .into_iter()
            .map(|t| match t {
                Touch::Read(p) => p,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn files_values_and_programs_are_told_apart() {
        assert_eq!(reads(&[".name", "package.json"]), ["package.json"]);
        assert_eq!(reads(&["-r", ".x"]), Vec::<String>::new());
        assert_eq!(
            reads(&["--arg", "k", "v", "-n", "$k"]),
            Vec::<String>::new()
        );
        assert_eq!(
            reads(&["-n", "--rawfile", "s", ".env", "$s"]),
            [".env".to_string()]
        );
        assert_eq!(
            reads(&["--slurpfile", "a", "x.json", ".", "y.json"]),
            ["x.json", "y.json"]
        );
        assert_eq!(reads(&["-f", "prog.jq", "in.json"]), ["prog.jq", "in.json"]);
        assert_eq!(reads(&["-nf", "prog.jq"]), ["prog.jq"]);
        assert_eq!(
            reads(&["-n", "$ARGS", "--args", "a", ".env"]),
            Vec::<String>::new()
        );
        assert_eq!(reads(&["-L", "lib", ".", "f.json"]), ["f.json"]);
        assert_eq!(reads(&["--indent", "2", ".", "f.json"]), ["f.json"]);
    }

    #[test]
    fn module_loading_is_refused_where_it_is_the_keyword() {
        for p in [
            "import \"x\" as x; x::f",
            "include \"secrets\"; .",
            "import \"id_rsa\" as $k; $k",
            "\"x\" | modulemeta",
            "# c\ninclude \"m\"; .",
        ] {
            assert!(touches("jq", &words(&["-n", p])).is_err(), "{p}");
        }
        for p in [
            ".import",
            "$import",
            "\"import \\(.a) include\"",
            "input_filename, $__loc__, @sh \"echo \\(.x)\", .env, $env",
            "# import \"x\"\n.",
        ] {
            let r = touches("jq", &words(&["-n", p]));
            assert_eq!(r, Ok(vec![]), "{p}");
        }
    }

    #[test]
    fn environment_reads_are_found_in_code_and_interpolations() {
        for p in [
            "env.HOME",
            "$ENV.PATH",
            "$ENV[\"AWS_SECRET_ACCESS_KEY\"]",
            "env | keys",
            "\"\\(env.TOKEN)\"",
            "\"a \\(\"b \\($ENV.X)\")\"",
            ".a as $x | [env][0]",
        ] {
            let r = touches("jq", &words(&["-n", p])).unwrap();
            assert!(
                matches!(r.as_slice(), [Touch::Environment(_)]),
                "{p}: {r:?}"
            );
        }
    }
}
