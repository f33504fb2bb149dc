//! The analysis of a command made only of plain words and list operators, without the
//! parser: `git status -s | head -n 5 && make test; echo done`.
//!
//! Such a command is most of what agents run and, written long (a 60 KB `echo` of
//! words, a generated argument list), most of what the parser costs: brush-parser's
//! grammar spends thousands of instructions per word. Here the command is read in one
//! pass over its bytes. The input qualifies only when nothing in it can mean more than
//! its text: every byte is a [`plain_byte`](super::plain_byte), a blank (space or tab),
//! a newline, or one of `|`, `||`, `&&`, `;`; every simple command's first word is
//! neither a reserved word nor an assignment; each operator sits between two commands
//! (a `;` or a newline may also end the text). Anything else (a quote, `$`, a
//! backquote, a glob, brace or tilde character, a redirection, a parenthesis, a `#`,
//! a `!`, a lone `&`, a CR, `;;`, a leading or doubled operator) returns `None` and
//! the parser reads the command as before. The result is exactly the [`Script`] the
//! parser's path gives (the differential test below holds it to that).

use super::builtin_semantics;
use super::{Script, ShellError, SimpleCommand, Stdin, Word};

/// Words bash reads as grammar where a command starts. `case` is refused anywhere:
/// the parser's backtracking bound counts every `case` word, argument or not.
const RESERVED: &[&str] = &[
    "case", "coproc", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if", "in",
    "select", "then", "time", "until", "while",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Word(&'a str),
    /// `|`: the next command reads this one's output.
    Pipe,
    /// `&&` or `||`: the next command may run.
    AndOr,
    /// `;`.
    Semi,
    Newline,
}

/// [`plain_byte`](super::plain_byte) as one `match`, which compiles to range and bit
/// tests instead of a search of the punctuation list per byte (a unit test holds the
/// two to the same answer for every byte).
fn plain(c: u8) -> bool {
    matches!(c, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'.' | b'_' | b'-' | b'/' | b',' | b':' | b'@' | b'%' | b'+' | b'=')
}

/// The tokens of `cmd`, or `None` when a byte is outside the fast path's alphabet.
fn tokens(cmd: &str) -> Option<Vec<Token<'_>>> {
    let b = cmd.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 4);
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let next = b.get(i + 1).copied();
        let (token, len) = match c {
            b' ' | b'\t' => (None, 1),
            b'\n' => (Some(Token::Newline), 1),
            b';' => (Some(Token::Semi), 1),
            b'|' if next == Some(b'|') => (Some(Token::AndOr), 2),
            b'|' => (Some(Token::Pipe), 1),
            b'&' if next == Some(b'&') => (Some(Token::AndOr), 2),
            _ => {
                let len = b.get(i..)?.iter().take_while(|&&x| plain(x)).count();
                (Some(Token::Word(cmd.get(i..i + len)?)), len)
            }
        };
        if len == 0 {
            return None;
        }
        out.extend(token);
        i += len;
    }
    Some(out)
}

/// The word as the parser's path analyses a plain word: its own text, expanding only
/// when it starts with `=` (zsh's `=cmd`), the one thing
/// [`unquoted_expansion`](super::unquoted_expansion) can find in plain bytes (a unit test
/// holds the two to the same answer).
fn word(raw: &str) -> Word {
    Word {
        text: raw.to_string(),
        expands: raw.starts_with('='),
        substitutes: false,
    }
}

/// Ends the simple command being read, if any, as the parser's path ends one.
fn finish(
    current: &mut Option<SimpleCommand>,
    out: &mut Vec<SimpleCommand>,
) -> Result<(), ShellError> {
    if let Some(mut done) = current.take() {
        builtin_semantics(&mut done)?;
        out.push(done);
    }
    Ok(())
}

/// The script of `cmd` when it qualifies (see the module doc), else `None`.
pub(super) fn script(cmd: &str) -> Option<Result<Script, ShellError>> {
    let tokens = tokens(cmd)?;
    let mut commands = Vec::new();
    let mut current: Option<SimpleCommand> = None;
    // The next command reads a pipe; a command must come next (after `|`, `&&`, `||`).
    let (mut piped, mut need) = (false, false);
    for t in tokens {
        let ended = match t {
            Token::Word(w) => {
                if w == "case" {
                    return None;
                }
                let cmd = match current.as_mut() {
                    Some(c) => c,
                    None if w.contains('=') || RESERVED.contains(&w) => return None,
                    None => current.insert(SimpleCommand {
                        stdin: Stdin {
                            pipe: piped,
                            ..Stdin::default()
                        },
                        ..SimpleCommand::default()
                    }),
                };
                cmd.argv.push(word(w));
                need = false;
                Ok(())
            }
            // An operator ends a command: none before it (`;;`, `| |`, a leading `;`) is
            // for the parser to judge.
            Token::Pipe | Token::AndOr | Token::Semi => {
                current.as_ref()?;
                piped = t == Token::Pipe;
                need = t != Token::Semi;
                finish(&mut current, &mut commands)
            }
            // A line break after `|`, `&&` or `||` is left to the parser too.
            Token::Newline if need => return None,
            Token::Newline => {
                piped = false;
                finish(&mut current, &mut commands)
            }
        };
        if let Err(e) = ended {
            return Some(Err(e));
        }
    }
    if need {
        return None;
    }
    if let Err(e) = finish(&mut current, &mut commands) {
        return Some(Err(e));
    }
    if commands.is_empty() {
        return None;
    }
    Some(Ok(Script {
        commands,
        ..Script::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{analyze, screen, Analyzer};
    use super::*;
    use proptest::prelude::*;

    /// The parser's path, as `analyze` took it before the fast path.
    fn parsed(cmd: &str) -> Result<Script, ShellError> {
        screen(cmd)?;
        let mut a = Analyzer::default();
        a.source(cmd, 0)?;
        let Analyzer {
            commands,
            constructs,
            functions,
        } = a;
        Ok(Script {
            commands,
            constructs,
            functions,
        })
    }

    /// Pieces of commands: the fast path's alphabet, the words it must leave to the
    /// parser, and near-misses of every rule.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[A-Za-z0-9._/,:@%+=-]{1,6}",
            2 => Just(" ".to_string()),
            1 => prop::sample::select(vec![
                "\t", "\n", "|", "||", "&&", ";", ";;", "&", "|&", ">", "<", "2>&1", "(", ")",
                "{", "}", "#", "#x", "!", "~", "a~", "~/x", "*", "a*b", "?", "[a]", "{a,b}",
                "$x", "${x}", "`id`", "$(id)", "'q'", "\"q\"", "\\", "\\\n", "\r", "if", "then",
                "fi", "for", "in", "do", "done", "while", "until", "case", "esac", "time",
                "function", "select", "coproc", "elif", "else", "a=b", "=a", "x+=1", "a[1]=b",
                "export", "declare", "local", "let", "read", "printf", "-v", "PATH=x",
                "LD_PRELOAD=x", "echo", "git", "=", "@", "%1", "é",
            ])
            .prop_map(str::to_string),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Whatever the fast path answers is what the parser's path answers, and
        /// `analyze` (which tries it first) answers as the parser's path does.
        #[test]
        fn the_fast_path_gives_what_the_parser_gives(
            parts in prop::collection::vec(piece(), 1..14),
            blanks in prop::collection::vec(any::<bool>(), 14),
        ) {
            let mut cmd = String::new();
            for (p, b) in parts.iter().zip(&blanks) {
                cmd.push_str(p);
                if *b {
                    cmd.push(' ');
                }
            }
            let expected = parsed(&cmd);
            if let Some(fast) = script(&cmd) {
                prop_assert_eq!(&fast, &expected, "{:?}", cmd);
            }
            prop_assert_eq!(analyze(&cmd), expected, "{:?}", cmd);
        }

        /// Commands built only of qualifying pieces take the fast path, and agree.
        #[test]
        fn plain_lists_take_the_fast_path(
            commands in prop::collection::vec(
                ("[a-z0-9._/,:@%+-]{1,5}",
                 prop::collection::vec("[a-z0-9._/,:@%+=-]{1,6}", 0..4),
                 prop::sample::select(vec![" | ", " && ", " || ", "; ", "\n", ";\n", "\t|\t", "&&", ";"])),
                1..6),
            end in prop::sample::select(vec!["", ";", "\n", ";\n\n", " "]),
        ) {
            let mut cmd = String::new();
            for (first, args, op) in &commands {
                if !cmd.is_empty() {
                    cmd.push_str(op);
                }
                cmd.push_str(first);
                for a in args {
                    cmd.push(' ');
                    cmd.push_str(a);
                }
            }
            cmd.push_str(end);
            let plain = commands.iter().all(|(f, _, _)| !RESERVED.contains(&f.as_str()))
                && !cmd.split([' ', '\t', '\n', ';', '|', '&']).any(|w| w == "case");
            prop_assume!(plain);
            let fast = script(&cmd);
            prop_assert!(fast.is_some(), "{:?}", cmd);
            prop_assert_eq!(fast.unwrap_or_else(|| parsed(&cmd)), parsed(&cmd), "{:?}", cmd);
        }
    }

    #[test]
    fn the_byte_match_is_plain_byte() {
        for b in 0..=255u8 {
            assert_eq!(plain(b), super::super::plain_byte(b), "{b}");
        }
    }

    proptest! {
        /// In plain bytes the only expansion is a leading `=`.
        #[test]
        fn a_plain_word_expands_only_with_a_leading_equals(w in "[A-Za-z0-9._/,:@%+=-]{1,12}") {
            prop_assert!(super::super::plain_word(&w));
            prop_assert_eq!(word(&w).expands, super::super::unquoted_expansion(&w));
        }
    }

    fn fast(cmd: &str) -> bool {
        let f = script(cmd);
        if let Some(f) = &f {
            assert_eq!(f, &parsed(cmd), "{cmd:?}");
        }
        f.is_some()
    }

    #[test]
    fn plain_words_and_list_operators_are_read_without_the_parser() {
        for cmd in [
            "git status -s",
            "echo\ta\tb",
            "a | b && c || d; e",
            "a;",
            "a;\n\nb\n",
            "\n\na\n",
            "make CC=gcc a=b",
            "export PATH=/x LD_PRELOAD=y",
            "echo if then fi in do",
            "git log --format=%H@%an -- src/a,b:c",
            "echo =x",
        ] {
            assert!(fast(cmd), "{cmd:?}");
        }
    }

    #[test]
    fn anything_more_is_left_to_the_parser() {
        for cmd in [
            "",
            " \t\n",
            "if true; then a; fi",
            "a=b cmd",
            "a=b",
            "time a",
            "a | time b",
            "a && for x in y; do z; done",
            "echo case",
            "echo a #b",
            "echo ~",
            "echo a~",
            "! a",
            "a & b",
            "a &",
            "a |& b",
            "echo a\\",
            "echo a\\\nb",
            "echo a\r",
            "a;;",
            "; a",
            "a ; ; b",
            "a |",
            "a &&",
            "a ||\nb",
            "a |\nb",
            "| a",
            "a\n;b",
            "a > f",
            "(a)",
            "{ a; }",
            "echo 'a'",
            "echo $x",
            "echo *",
            "echo é",
        ] {
            assert!(!fast(cmd), "{cmd:?}");
        }
    }
}
