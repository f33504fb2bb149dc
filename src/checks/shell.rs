//! Shell analysis: what a command string will run, read by a real bash grammar
//! (brush-parser). Pure: no passport, no file system.
//!
//! The result is every simple command the string can run, in text order,
//! including those inside substitutions, groups, loops and function bodies,
//! with de-quoted words, redirections, and the structural constructs that a
//! passport must opt in to. Every AST node kind is matched exhaustively; a new
//! kind in the parser is a compile error here, not a silent allow.

use brush_parser::ast;
use brush_parser::word::{self, ParameterExpr, WordPiece, WordPieceWithSource};
use brush_parser::ParserOptions;
use std::collections::BTreeSet;

mod fast;

/// Longest command analysed; anything longer is refused unread.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// How deeply substitutions may nest inside one another.
const MAX_DEPTH: usize = 8;
/// The most structural nesting (brackets and compound keywords, estimated
/// lexically) a command may have: the parser recurses once per level.
pub const MAX_NESTING: usize = 400;
/// The most here-document operators one command may hold (the parser's
/// here-document queue is quadratic in their number).
pub const MAX_HEREDOCS: usize = 32;
/// Up to this estimated nesting the parser runs on the caller's stack; deeper
/// input runs on a thread with [`PARSER_STACK`] bytes of stack.
const INLINE_NESTING: usize = 24;
const PARSER_STACK: usize = 256 * 1024 * 1024;

/// Shell structure beyond a list of pipelines of simple commands. Each needs
/// a passport opt-in (see `docs/checks.md`); the commands inside are still checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Construct {
    /// `cmd &` or `coproc`: keeps running after the gate has answered.
    Background,
    /// `( ... )`.
    Subshell,
    /// `{ ...; }`.
    Group,
    /// `if`, `case`, `[[ ]]`, `(( ))`.
    Conditional,
    /// `for`, `while`, `until`.
    Loop,
    /// `name() { ... }`: a later word may run the body instead of a program.
    Function,
    /// `$( )`, backquotes, `<( )`, `>( )`.
    Substitution,
}

impl Construct {
    /// The passport limit (a boolean under `limits.system.command.execute`) that allows it.
    pub fn opt_in(self) -> &'static str {
        match self {
            Construct::Background => "allow_background",
            Construct::Subshell | Construct::Group | Construct::Conditional | Construct::Loop => {
                "allow_compound"
            }
            Construct::Function => "allow_functions",
            Construct::Substitution => "allow_substitution",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Construct::Background => "a background job (`&` or coproc)",
            Construct::Subshell => "a subshell `( )`",
            Construct::Group => "a command group `{ }`",
            Construct::Conditional => "a conditional (`if`, `case`, `[[ ]]`, `(( ))`)",
            Construct::Loop => "a loop (`for`, `while`, `until`)",
            Construct::Function => "a function definition",
            Construct::Substitution => "a command or process substitution",
        }
    }
}

/// One word after quote removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The de-quoted value when `expands` is false; the source text otherwise.
    pub text: String,
    /// The shell will expand it (parameters, globs, braces, tilde, arithmetic,
    /// ANSI-C or locale quoting), so its value is unknown here.
    pub expands: bool,
    /// It holds a command substitution, so its value is another command's output.
    pub substitutes: bool,
}

impl Word {
    /// A `<(...)` or `>(...)` argument: a pipe, not a file in the project.
    pub fn is_process_substitution(&self) -> bool {
        self.substitutes && !self.expands && (self.text == "<(...)" || self.text == ">(...)")
    }

    /// Whether the value the program receives is known here.
    pub fn is_literal(&self) -> bool {
        !self.expands && !self.substitutes
    }
}

/// Where a redirection points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// `< f`.
    Read(String),
    /// `> f`, `>> f`, `>| f`, `&> f`, `<> f`, `>& f`.
    Write(String),
    /// A target whose name the shell computes (`> $f`, `> *.log`).
    Dynamic(String),
}

/// How a simple command's standard input is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stdin {
    /// From the previous command of a pipeline.
    pub pipe: bool,
    /// From a here-document or here-string.
    pub inline: bool,
    /// From a file (`< f`).
    pub file: bool,
}

/// One simple command the string runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimpleCommand {
    /// Names assigned in front of the command (`FOO=1 cmd`) or alone (`FOO=1`).
    pub assignments: Vec<String>,
    pub argv: Vec<Word>,
    pub redirects: Vec<Redirect>,
    pub stdin: Stdin,
    /// Source text of expansions outside argv (assignment values, here-doc bodies, redirect targets).
    pub other_expansions: Vec<String>,
}

impl SimpleCommand {
    /// The program name when it is a literal word.
    pub fn program(&self) -> Option<&str> {
        self.argv
            .first()
            .filter(|w| w.is_literal())
            .map(|w| w.text.as_str())
    }
}

/// Everything the string runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    pub commands: Vec<SimpleCommand>,
    pub constructs: BTreeSet<Construct>,
    /// Names of functions the string defines (their bodies are in `commands`).
    pub functions: BTreeSet<String>,
}

/// Why a string could not be analysed. Always a deny.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    #[error("the command is longer than {MAX_COMMAND_BYTES} bytes")]
    TooLong,
    #[error("substitutions nest more than {MAX_DEPTH} deep")]
    TooDeep,
    /// Over a bound other than length or substitution depth; refused unparsed.
    #[error("{0}")]
    TooComplex(String),
    #[error("the command does not parse as bash: {0}")]
    Unparsable(String),
    #[error("{0}")]
    Unsupported(String),
}

fn options() -> ParserOptions {
    ParserOptions::default()
}

/// Parses and analyses a command string. Input over a bound is refused by a
/// linear pre-scan before the parser sees it, so no input costs more than
/// milliseconds or a bounded amount of memory.
pub fn analyze(cmd: &str) -> Result<Script, ShellError> {
    if cmd.len() > MAX_COMMAND_BYTES {
        return Err(ShellError::TooLong);
    }
    // Plain words and list operators only: read without the parser, to the same Script.
    // The other bounds guard the parser against what such a command cannot hold (a `<`,
    // `>`, `~`, bracket, quote or NUL), so they are read only when the parser runs.
    if let Some(script) = fast::script(cmd) {
        return script;
    }
    let nesting = screen(cmd)?;
    let run = || {
        let mut a = Analyzer::default();
        a.source(cmd, 0)?;
        Ok(Script {
            commands: a.commands,
            constructs: a.constructs,
            functions: a.functions,
        })
    };
    if nesting <= INLINE_NESTING {
        return run();
    }
    // Deep (but bounded) nesting: give the recursive parser a stack it cannot exhaust.
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("toolgate-shell".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(s, run)
            .map_err(|e| ShellError::TooComplex(format!("the analysis could not start: {e}")))?;
        worker
            .join()
            .unwrap_or_else(|_| Err(ShellError::Unparsable("the analysis failed".into())))
    })
}

/// The bounds, checked in one linear pass before parsing. Returns the
/// estimated nesting depth.
fn screen(cmd: &str) -> Result<usize, ShellError> {
    if cmd.len() > MAX_COMMAND_BYTES {
        return Err(ShellError::TooLong);
    }
    if cmd.contains('\0') {
        return Err(ShellError::Unparsable(
            "the command contains a NUL byte".into(),
        ));
    }
    if tilde_number_out_of_range(cmd) {
        // brush-parser 0.4 unwraps the `~N` directory-stack number (found by fuzzing).
        return Err(ShellError::Unparsable(
            "a `~N` directory-stack reference has a number out of range".into(),
        ));
    }
    if fd_out_of_range(cmd) {
        // brush-parser 0.4 unwraps the fd number (found by fuzzing); bash refuses it too.
        return Err(ShellError::Unparsable(
            "a redirection's file descriptor number is out of range".into(),
        ));
    }
    let (heredocs, trap) = heredoc_operators(cmd);
    if trap {
        // brush-parser 0.4 reads an empty here-document tag out of `<<` and two blanks
        // inside `$( )` and then queues tokens without end (the 26-byte bomb of issue 9).
        return Err(ShellError::TooComplex(
            "a here-document operator followed by more than one blank is refused (the parser cannot bound it); write `<<TAG` or `<< TAG`".into(),
        ));
    }
    if heredocs > MAX_HEREDOCS {
        return Err(ShellError::TooComplex(format!(
            "the command has {heredocs} here-document operators, more than {MAX_HEREDOCS}"
        )));
    }
    let nesting = nesting_estimate(cmd);
    if nesting > MAX_NESTING {
        return Err(ShellError::TooComplex(format!(
            "the command nests about {nesting} levels deep, more than {MAX_NESTING}"
        )));
    }
    Ok(nesting)
}

/// Weight of one `case` word and of one open `(` in [`backtracking`]. brush-parser
/// 0.4's grammar (a PEG without memo) backtracks in two places: a `(` whose group
/// does not close is tried both as a group and as a plain token inside `(( ))`
/// arithmetic, `[[ =~ ]]` regexes and subshells (~1.6 to 2.5 times the work per
/// such `(`), and a `case` item that does not end is parsed once as a
/// `;;`-terminated item and again as the last one (2 to 3 times per nested
/// `case`). The costs multiply, so the bound is on a weighted sum: at the
/// bound the worst inputs measured took ~30 ms (`case a in a) if a; then`
/// nested 9 deep; 16 open `(`; 4 cases around 9 `(`), one more level 2-3x that.
const CASE_WEIGHT: usize = 5;
const PAREN_WEIGHT: usize = 3;
/// The most weight one parse may carry: 16 open `(` alone, or 9 `case` words alone.
const BACKTRACK_BUDGET: usize = 48;

/// Refuses a token stream the parser would backtrack on exponentially. Read on
/// the parser's own tokens (so quoting, comments, here-document bodies and
/// substitutions are exactly what it sees): every `case` word counts, closed or
/// not (an `esac` may be an argument or a pattern, so none lowers the count),
/// and an operator `)` closes the innermost open `(`, which is how the
/// arithmetic and regex groups the parser backtracks on match them. A `)`
/// with none open (a `case` pattern's) lowers nothing.
fn backtracking(tokens: &[brush_parser::Token]) -> Result<(), ShellError> {
    use brush_parser::Token;
    let (mut cases, mut open, mut max) = (0usize, 0usize, 0usize);
    for t in tokens {
        match t {
            // The parser reads a command's leading words as assignments (`a[i]=v`) with
            // the word parser, before any word is analysed: bounded here too (found by
            // cargo-fuzz, session 21).
            Token::Word(w, _) => {
                unclosed_bound(w, true)?;
                cases += usize::from(w == "case");
            }

            Token::Operator(o, _) if o == "(" => {
                open += 1;
                max = max.max(open);
            }
            Token::Operator(o, _) if o == ")" => open = open.saturating_sub(1),
            _ => {}
        }
    }
    let weight = cases
        .saturating_mul(CASE_WEIGHT)
        .saturating_add(max.saturating_mul(PAREN_WEIGHT));
    if weight > BACKTRACK_BUDGET {
        let parens = match max {
            0 => String::new(),
            n => format!(" and has up to {n} parentheses open at once"),
        };
        return Err(ShellError::TooComplex(format!(
            "the command has {cases} `case` word(s){parens}, more structure than the shell parser can be bounded on (at most {} `case` statements, or {} open parentheses, fewer of each together); split it into several commands",
            BACKTRACK_BUDGET / CASE_WEIGHT,
            BACKTRACK_BUDGET / PAREN_WEIGHT
        )));
    }
    Ok(())
}

/// Weights of the expansions brush-parser 0.4's word parser (another PEG
/// without memo) backtracks on when they do not close, each level multiplying
/// the work: an array subscript inside `${ }` (~20x per level), `$((`
/// (~4x), `$[` and `$(` inside those. Counted, not matched, so a quote or an
/// escape cannot hide one; found by cargo-fuzz (timeouts in `${x[` and `$[`).
const WORD_SUBSCRIPT: usize = 4;
const WORD_ARITHMETIC: usize = 3;
const WORD_LEGACY: usize = 2;
const WORD_SUBSTITUTION: usize = 1;
/// At the bound the worst shapes measured parse in ~3 ms.
const WORD_BUDGET: usize = 12;

/// The most openers of one word that may be left open. brush-parser 0.4's word
/// parser (a PEG without memo) tries each `(`, `name[`, `$[`, `$((`, `${` once
/// as the construct it opens and, when that fails for want of its closer, again
/// as something else (plain text, or by failing the construct around it), and
/// an open construct holds every one opened after it, so the work multiplies per
/// unclosed opener: `(` and `name[` interleaved inside `$[`, `${x[` or `${x:`
/// cost ~1.3x each (17.8 s at 47 in the fuzz find of session 20). A closed
/// construct parses once, so this bounds the class, not shapes: every known
/// word trap is above it, and a word at it parses in milliseconds. An opener
/// that does not close is a syntax error in bash, so no working command is near.
const MAX_UNCLOSED: usize = 6;

/// How many openers of the word parser's constructs `text` leaves open, from its
/// first `$[`, `$(` or `${` on (before that, no construct nests), or from its start
/// when it begins with an assignment's `name[`. Read so that it
/// never counts fewer than the parser leaves open: openers count wherever they
/// stand (quoted or not, and every `name[` as a subscript), and a closer closes
/// the innermost opener only while no quote or escape has been seen, where what
/// is quoted for the parser is certain. Here-document bodies (`quotes` false)
/// have no quotes; a backslash still ends the certain part. Backquoted text is
/// skipped whole: the parser keeps it as text and parses it on its own later.
fn unclosed_openers(text: &str, quotes: bool) -> usize {
    let b = text.as_bytes();
    let starts =
        |i: usize| b.get(i) == Some(&b'$') && matches!(b.get(i + 1), Some(b'[' | b'(' | b'{'));
    let name = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    // A leading `name[` is an assignment's subscript, read by the same parser.
    let lead = b.iter().position(|&c| !name(c));
    let assignment = lead.is_some_and(|n| n > 0 && b.get(n) == Some(&b'['));
    let first = if assignment {
        Some(0)
    } else {
        (0..b.len()).find(|&i| starts(i))
    };
    let Some(mut i) = first else {
        return 0;
    };
    let mut open: Vec<u8> = Vec::new();
    let mut certain = true;
    while let Some(&c) = b.get(i) {
        match c {
            // A backquote that never closes hides nothing: the parser tries it, fails
            // and reads on, so it is an opener left open and the text after it is
            // still read (a session-21 fuzz find hid a 700-byte trap behind one).
            b'`' => match closing_backquote(b, i) {
                Some(j) => i = j,
                None => open.push(b'`'),
            },
            b'\\' => certain = false,
            b'\'' | b'"' if quotes => certain = false,
            b'$' if starts(i) => {
                let closer = match b.get(i + 1) {
                    Some(b'[') => b']',
                    Some(b'{') => b'}',
                    _ => b')',
                };
                open.push(closer);
                i += 1;
            }
            b'(' => open.push(b')'),
            b'[' if before(b, i).is_some_and(name) => open.push(b']'),
            b')' | b']' | b'}' if certain && open.last() == Some(&c) => {
                open.pop();
            }
            _ => {}
        }
        i += 1;
    }
    open.len()
}

/// The index of the backquote that closes the one at `i`: the next one that no
/// backslash escapes.
fn closing_backquote(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'\\' => j += 2,
            b'`' => return Some(j),
            _ => j += 1,
        }
    }
}

/// Refuses a word with more than [`MAX_UNCLOSED`] openers left open.
fn unclosed_bound(text: &str, quotes: bool) -> Result<(), ShellError> {
    let unclosed = unclosed_openers(text, quotes);
    if unclosed > MAX_UNCLOSED {
        return Err(ShellError::TooComplex(format!(
            "a word leaves {unclosed} of its `(`, `[`, `$[`, `$((` and `${{` unclosed (at most {MAX_UNCLOSED}), which the word parser cannot be bounded on; close each one, or split the word"
        )));
    }
    Ok(())
}

/// Refuses a word (or here-document body, `quotes` false) the word parser could
/// backtrack on for longer than milliseconds.
fn word_bound(text: &str, quotes: bool) -> Result<(), ShellError> {
    unclosed_bound(text, quotes)?;
    let count = |p: &str| text.matches(p).count();
    let braces = count("${");
    // A `[` after a `${` may be a subscript; before any, it is a glob.
    let subscripts = text
        .find("${")
        .map_or(0, |i| {
            text.get(i..).unwrap_or_default().matches('[').count()
        })
        .min(braces);
    let arithmetic = count("$((");
    let legacy = count("$[");
    let substitutions = count("$(").saturating_sub(arithmetic);
    // `$( )` alone nests cheaply (the body is parsed on its own, bounded above).
    let nested = match subscripts + arithmetic + legacy {
        0 => 0,
        _ => substitutions,
    };
    let weight = subscripts * WORD_SUBSCRIPT
        + arithmetic * WORD_ARITHMETIC
        + legacy * WORD_LEGACY
        + nested * WORD_SUBSTITUTION;
    if weight > WORD_BUDGET {
        return Err(ShellError::TooComplex(format!(
            "a word holds {subscripts} array subscript(s) in `${{ }}`, {arithmetic} `$(( ))` and {legacy} `$[ ]` together with {substitutions} `$( )`, more than the word parser can be bounded on; split it into several words or assign the parts to variables first"
        )));
    }
    Ok(())
}

/// The byte before index `i`, if there is one.
fn before(b: &[u8], i: usize) -> Option<u8> {
    i.checked_sub(1).and_then(|j| b.get(j)).copied()
}

/// The command a backquoted substitution runs. The word parser hands over the
/// text between the backquotes as written, but the shell first removes one level
/// of backslashes: before `$`, `` ` `` and `\\` (and `"` inside double quotes), and
/// a line continuation whole. Read raw, `` `cat \\$HOME/x` `` looked like a file
/// named `$HOME/x` in the working directory while it reads the home's.
fn backquote_body(body: &str, quoted: bool) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\n') => {}
            Some(n @ ('$' | '`' | '\\')) => out.push(n),
            Some('"') if quoted => out.push('"'),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Whether the byte at `i` follows an odd number of backslashes. Wherever it
/// stands (unquoted, in quotes, in a comment) a `\\<` is not an operator.
fn escaped(b: &[u8], i: usize) -> bool {
    let preceding = b.get(..i).unwrap_or_default();
    preceding.iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1
}

/// Counts `<<` and `<<-` operators (not `<<<`), and whether one is followed by
/// a run of two or more blanks or line continuations.
fn heredoc_operators(cmd: &str) -> (usize, bool) {
    let b = cmd.as_bytes();
    let (mut count, mut trap) = (0, false);
    let mut i = 0;
    while i + 1 < b.len() {
        // An escaped `<` is a word's character, so the operators start after it: read
        // as one run, `\\<<<<<<` looks like two here-strings where the tokenizer sees
        // a here-string and a here-document (found by cargo-fuzz, session 21).
        if b.get(i) != Some(&b'<') || escaped(b, i) {
            i += 1;
            continue;
        }
        // A run of `<` splits as the tokenizer reads it, longest first: `<<<`
        // here-strings, then a `<<` (an operator) or a `<` left over, so the
        // last two of `<<<<<<<<` are a here-document operator.
        let run = b
            .get(i..)
            .map_or(0, |r| r.iter().take_while(|&&c| c == b'<').count());
        if run % 3 != 2 {
            i += run;
            continue;
        }
        let mut j = i + run;
        count += 1;
        if b.get(j) == Some(&b'-') {
            j += 1;
        }
        let mut run = 0;
        loop {
            match (b.get(j), b.get(j + 1)) {
                // A form feed or a carriage return there counts as a blank too (found by
                // cargo-fuzz: `<<\x0c ` hung the tokenizer as `<<` and two blanks do).
                (Some(b' ' | b'\t' | b'\x0c' | b'\r'), _) => j += 1,
                (Some(b'\\'), Some(b'\n')) => j += 2,
                _ => break,
            }
            run += 1;
        }
        // Two blanks, or no tag at all (an operator, a newline or the end next:
        // a syntax error in bash), are where brush-parser reads an empty tag.
        let ends = |c: &u8| b" \t<>()|;&\n\r".contains(c);
        // A tag of quotes alone (`<<""`, `<<''""`) is empty once unquoted.
        let tag = b.get(j..).map_or(&[][..], |r| {
            let n = r.iter().position(ends).unwrap_or(r.len());
            r.get(..n).unwrap_or_default()
        });
        let quotes_only = !tag.is_empty() && tag.iter().all(|c| b"\"'$\\".contains(c));
        let no_tag = b.get(j).is_none_or(|c| b"<>()|;&\n\r".contains(c)) || quotes_only;
        trap |= run >= 2 || no_tag;
        i = j;
    }
    (count, trap)
}

/// An upper estimate of how deeply the parser will recurse: brackets and
/// compound keywords, read without regard to quoting (so it never underestimates).
fn nesting_estimate(cmd: &str) -> usize {
    let b = cmd.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if word(c) && !before(b, i).is_some_and(word) {
            let rest = b.get(i..).unwrap_or_default();
            let len = rest.iter().position(|&x| !word(x)).unwrap_or(rest.len());
            match rest.get(..len).unwrap_or_default() {
                b"if" | b"case" | b"while" | b"until" | b"for" | b"select" | b"function" => {
                    depth += 1
                }
                b"fi" | b"esac" | b"done" => depth = depth.saturating_sub(1),
                _ => {}
            }
            i += len;
        } else {
            match c {
                b'(' | b'{' | b'[' => depth += 1,
                b')' | b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
            i += 1;
        }
        max = max.max(depth);
    }
    max
}

/// Tokenizes, bounds the backtracking on the parser's own tokens, then parses
/// those tokens. Every parse goes through here: the command and each
/// substitution body the analysis reads.
fn parse_program(cmd: &str) -> Result<ast::Program, ShellError> {
    let opts = options();
    // The parser is third-party code: a panic in it is a deny, not a crash.
    let tokens = std::panic::catch_unwind(|| {
        brush_parser::uncached_tokenize_str(cmd, &opts.tokenizer_options())
    });
    let tokens = match tokens {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(ShellError::Unparsable(e.to_string())),
        Err(_) => {
            return Err(ShellError::Unparsable(
                "the parser failed on this input".into(),
            ))
        }
    };
    backtracking(&tokens)?;
    match std::panic::catch_unwind(|| brush_parser::parse_tokens(&tokens, &opts)) {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(ShellError::Unparsable(e.to_string())),
        Err(_) => Err(ShellError::Unparsable(
            "the parser failed on this input".into(),
        )),
    }
}

#[derive(Default)]
struct Analyzer {
    commands: Vec<SimpleCommand>,
    constructs: BTreeSet<Construct>,
    functions: BTreeSet<String>,
}

/// What a word turned into.
struct Analyzed {
    word: Word,
}

impl Analyzer {
    fn source(&mut self, cmd: &str, depth: usize) -> Result<(), ShellError> {
        if depth > MAX_DEPTH {
            return Err(ShellError::TooDeep);
        }
        if depth > 0 {
            // A substitution's body is not always a substring of the command (a
            // backquoted one loses a level of backslashes), so the linear bounds are
            // read again on exactly the text the tokenizer gets.
            screen(cmd)?;
        }
        let program = parse_program(cmd)?;
        for list in &program.complete_commands {
            self.compound_list(list, depth)?;
        }
        Ok(())
    }

    fn compound_list(&mut self, list: &ast::CompoundList, depth: usize) -> Result<(), ShellError> {
        for ast::CompoundListItem(and_or, sep) in &list.0 {
            match sep {
                ast::SeparatorOperator::Async => {
                    self.constructs.insert(Construct::Background);
                }
                ast::SeparatorOperator::Sequence => {}
            }
            self.pipeline(&and_or.first, depth)?;
            for next in &and_or.additional {
                match next {
                    ast::AndOr::And(p) | ast::AndOr::Or(p) => self.pipeline(p, depth)?,
                }
            }
        }
        Ok(())
    }

    fn pipeline(&mut self, p: &ast::Pipeline, depth: usize) -> Result<(), ShellError> {
        // `time` and `!` change neither what runs nor what it touches.
        for (i, cmd) in p.seq.iter().enumerate() {
            self.command(cmd, i > 0, depth)?;
        }
        Ok(())
    }

    fn command(&mut self, cmd: &ast::Command, piped: bool, depth: usize) -> Result<(), ShellError> {
        match cmd {
            ast::Command::Simple(s) => self.simple(s, piped, depth),
            ast::Command::Compound(c, redirects) => {
                let at = self.commands.len();
                self.compound(c, depth)?;
                self.outer_redirects(redirects.as_ref().map(|r| r.0.as_slice()), at, piped, depth)
            }
            ast::Command::Function(f) => {
                self.constructs.insert(Construct::Function);
                let name = self.word(&f.fname.value, depth)?;
                if !name.word.is_literal() {
                    return Err(ShellError::Unsupported(
                        "a function whose name the shell computes is not evaluated".into(),
                    ));
                }
                self.functions.insert(name.word.text);
                let ast::FunctionBody(body, redirects) = &f.body;
                let at = self.commands.len();
                self.compound(body, depth)?;
                self.outer_redirects(redirects.as_ref().map(|r| r.0.as_slice()), at, false, depth)
            }
            ast::Command::ExtendedTest(t, redirects) => {
                self.constructs.insert(Construct::Conditional);
                let at = self.commands.len();
                let mut holder = SimpleCommand::default();
                self.extended_test(&t.expr, &mut holder, depth)?;
                self.commands.push(holder);
                self.outer_redirects(redirects.as_ref().map(|r| r.0.as_slice()), at, piped, depth)
            }
        }
    }

    /// Redirections on a compound command apply to every command inside it.
    fn outer_redirects(
        &mut self,
        redirects: Option<&[ast::IoRedirect]>,
        from: usize,
        piped: bool,
        depth: usize,
    ) -> Result<(), ShellError> {
        let mut holder = SimpleCommand::default();
        for r in redirects.unwrap_or_default() {
            self.redirect(r, &mut holder, depth)?;
        }
        if self.commands.len() == from {
            // Nothing ran inside (e.g. `(( ))`): keep the redirections on an empty command.
            self.commands.push(SimpleCommand::default());
        }
        for c in self.commands.get_mut(from..).unwrap_or_default() {
            c.redirects.extend(holder.redirects.iter().cloned());
            c.other_expansions
                .extend(holder.other_expansions.iter().cloned());
            c.stdin.pipe |= piped;
            c.stdin.inline |= holder.stdin.inline;
            c.stdin.file |= holder.stdin.file;
        }
        Ok(())
    }

    fn compound(&mut self, c: &ast::CompoundCommand, depth: usize) -> Result<(), ShellError> {
        match c {
            ast::CompoundCommand::Arithmetic(a) => {
                self.constructs.insert(Construct::Conditional);
                self.arithmetic(&a.expr.value)?;
                self.arithmetic_names(&a.expr.value);
                Ok(())
            }
            ast::CompoundCommand::ArithmeticForClause(f) => {
                self.constructs.insert(Construct::Loop);
                for e in [&f.initializer, &f.condition, &f.updater]
                    .into_iter()
                    .flatten()
                {
                    self.arithmetic(&e.value)?;
                    self.arithmetic_names(&e.value);
                }
                self.compound_list(&f.body.list, depth)
            }
            ast::CompoundCommand::BraceGroup(g) => {
                self.constructs.insert(Construct::Group);
                self.compound_list(&g.list, depth)
            }
            ast::CompoundCommand::Subshell(s) => {
                self.constructs.insert(Construct::Subshell);
                self.compound_list(&s.list, depth)
            }
            ast::CompoundCommand::ForClause(f) => {
                self.constructs.insert(Construct::Loop);
                let mut holder = SimpleCommand::default();
                if crate::checks::programs::is_sensitive_variable(&f.variable_name) {
                    // `for PATH in /tmp/x; do ls; done` assigns PATH for the body.
                    holder.assignments.push(f.variable_name.clone());
                }
                for w in f.values.iter().flatten() {
                    self.other_word(&w.value, &mut holder, depth)?;
                }
                self.commands.push(holder);
                self.compound_list(&f.body.list, depth)
            }
            ast::CompoundCommand::CaseClause(c) => {
                self.constructs.insert(Construct::Conditional);
                let mut holder = SimpleCommand::default();
                for w in std::iter::once(&c.value).chain(c.cases.iter().flat_map(|i| &i.patterns)) {
                    self.other_word(&w.value, &mut holder, depth)?;
                }
                self.commands.push(holder);
                for item in &c.cases {
                    match item.post_action {
                        ast::CaseItemPostAction::ExitCase
                        | ast::CaseItemPostAction::UnconditionallyExecuteNextCaseItem
                        | ast::CaseItemPostAction::ContinueEvaluatingCases => {}
                    }
                    if let Some(body) = &item.cmd {
                        self.compound_list(body, depth)?;
                    }
                }
                Ok(())
            }
            ast::CompoundCommand::IfClause(i) => {
                self.constructs.insert(Construct::Conditional);
                self.compound_list(&i.condition, depth)?;
                self.compound_list(&i.then, depth)?;
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.compound_list(c, depth)?;
                    }
                    self.compound_list(&e.body, depth)?;
                }
                Ok(())
            }
            ast::CompoundCommand::WhileClause(w) | ast::CompoundCommand::UntilClause(w) => {
                self.constructs.insert(Construct::Loop);
                let ast::WhileOrUntilClauseCommand(cond, body, _) = w;
                self.compound_list(cond, depth)?;
                self.compound_list(&body.list, depth)
            }
            ast::CompoundCommand::Coprocess(c) => {
                self.constructs.insert(Construct::Background);
                self.command(&c.body, false, depth)
            }
        }
    }

    /// Arithmetic runs no program unless it hides a substitution, which we refuse outright.
    fn arithmetic(&mut self, text: &str) -> Result<(), ShellError> {
        if hides_substitution(text) {
            return Err(ShellError::Unsupported(
                "a substitution inside an arithmetic expression is not evaluated".into(),
            ));
        }
        Ok(())
    }

    /// A name in arithmetic is evaluated recursively: a variable holding
    /// `a[$(cmd)]` runs cmd. So a reference is an expansion (needs `allow_expansion`).
    fn arithmetic_names(&mut self, text: &str) {
        if names_variable(text) {
            let mut holder = SimpleCommand::default();
            holder.other_expansions.push(format!(
                "(( {} )) (arithmetic evaluates the variables it names)",
                text.trim()
            ));
            self.commands.push(holder);
        }
    }

    fn extended_test(
        &mut self,
        e: &ast::ExtendedTestExpr,
        holder: &mut SimpleCommand,
        depth: usize,
    ) -> Result<(), ShellError> {
        match e {
            ast::ExtendedTestExpr::And(a, b) | ast::ExtendedTestExpr::Or(a, b) => {
                self.extended_test(a, holder, depth)?;
                self.extended_test(b, holder, depth)
            }
            ast::ExtendedTestExpr::Not(a) | ast::ExtendedTestExpr::Parenthesized(a) => {
                self.extended_test(a, holder, depth)
            }
            ast::ExtendedTestExpr::UnaryTest(op, w) => {
                if matches!(
                    op,
                    ast::UnaryPredicate::ShellVariableIsSetAndAssigned
                        | ast::UnaryPredicate::ShellVariableIsSetAndNameRef
                ) {
                    self.arithmetic_operand(&w.value, holder, depth)?;
                }
                self.other_word(&w.value, holder, depth)
            }
            ast::ExtendedTestExpr::BinaryTest(op, a, b) => {
                if matches!(
                    op,
                    ast::BinaryPredicate::ArithmeticEqualTo
                        | ast::BinaryPredicate::ArithmeticNotEqualTo
                        | ast::BinaryPredicate::ArithmeticLessThan
                        | ast::BinaryPredicate::ArithmeticLessThanOrEqualTo
                        | ast::BinaryPredicate::ArithmeticGreaterThan
                        | ast::BinaryPredicate::ArithmeticGreaterThanOrEqualTo
                ) {
                    self.arithmetic_operand(&a.value, holder, depth)?;
                    self.arithmetic_operand(&b.value, holder, depth)?;
                }
                self.other_word(&a.value, holder, depth)?;
                self.other_word(&b.value, holder, depth)
            }
        }
    }

    /// A word outside argv: only its expansions and substitutions matter.
    fn other_word(
        &mut self,
        raw: &str,
        holder: &mut SimpleCommand,
        depth: usize,
    ) -> Result<(), ShellError> {
        let a = self.word(raw, depth)?;
        subscript_code(&a.word.text)?;
        if a.word.expands {
            holder.other_expansions.push(a.word.text);
        }
        Ok(())
    }

    /// An operand `[[ ]]` evaluates as arithmetic (`-eq`, `-v`): a name in it is
    /// an expansion, and a subscript holding a substitution is refused.
    fn arithmetic_operand(
        &mut self,
        raw: &str,
        holder: &mut SimpleCommand,
        depth: usize,
    ) -> Result<(), ShellError> {
        let a = self.word(raw, depth)?;
        subscript_code(&a.word.text)?;
        if a.word.is_literal() && names_variable(&a.word.text) {
            holder.other_expansions.push(format!(
                "`{}` (evaluated as arithmetic, so the variables it names are expanded)",
                a.word.text
            ));
        }
        Ok(())
    }

    fn simple(
        &mut self,
        s: &ast::SimpleCommand,
        piped: bool,
        depth: usize,
    ) -> Result<(), ShellError> {
        let mut cmd = SimpleCommand {
            stdin: Stdin {
                pipe: piped,
                ..Stdin::default()
            },
            ..SimpleCommand::default()
        };
        let items = s
            .prefix
            .iter()
            .flat_map(|p| &p.0)
            .map(|i| Item::Part(i, true))
            .chain(s.word_or_name.iter().map(Item::Name))
            .chain(
                s.suffix
                    .iter()
                    .flat_map(|x| &x.0)
                    .map(|i| Item::Part(i, false)),
            );
        for item in items {
            match item {
                Item::Name(w) => self.argv_word(&w.value, &mut cmd, depth)?,
                Item::Part(ast::CommandPrefixOrSuffixItem::Word(w), _) => {
                    self.argv_word(&w.value, &mut cmd, depth)?
                }
                Item::Part(ast::CommandPrefixOrSuffixItem::IoRedirect(r), _) => {
                    self.redirect(r, &mut cmd, depth)?
                }
                Item::Part(ast::CommandPrefixOrSuffixItem::AssignmentWord(a, raw), true) => {
                    self.assignment(a, &raw.value, &mut cmd, depth)?
                }
                // After the command name, `a=b` is an argument (`make CC=gcc`).
                Item::Part(ast::CommandPrefixOrSuffixItem::AssignmentWord(_, raw), false) => {
                    self.argv_word(&raw.value, &mut cmd, depth)?
                }
                Item::Part(ast::CommandPrefixOrSuffixItem::ProcessSubstitution(kind, sub), _) => {
                    self.constructs.insert(Construct::Substitution);
                    cmd.argv.push(Word {
                        text: match kind {
                            ast::ProcessSubstitutionKind::Read => "<(...)",
                            ast::ProcessSubstitutionKind::Write => ">(...)",
                        }
                        .into(),
                        expands: false,
                        substitutes: true,
                    });
                    self.compound_list(&sub.list, depth)?;
                }
            }
        }
        builtin_semantics(&mut cmd)?;
        self.commands.push(cmd);
        Ok(())
    }

    fn argv_word(
        &mut self,
        raw: &str,
        cmd: &mut SimpleCommand,
        depth: usize,
    ) -> Result<(), ShellError> {
        let a = self.word(raw, depth)?;
        cmd.argv.push(a.word);
        Ok(())
    }

    fn assignment(
        &mut self,
        a: &ast::Assignment,
        raw: &str,
        cmd: &mut SimpleCommand,
        depth: usize,
    ) -> Result<(), ShellError> {
        let name = match &a.name {
            ast::AssignmentName::VariableName(n) => n.clone(),
            ast::AssignmentName::ArrayElementName(n, idx) => {
                if hides_substitution(idx) {
                    return Err(ShellError::Unsupported(
                        "a substitution inside an array index is not evaluated".into(),
                    ));
                }
                n.clone()
            }
        };
        cmd.assignments.push(name);
        let values: Vec<&ast::Word> = match &a.value {
            ast::AssignmentValue::Scalar(w) => vec![w],
            ast::AssignmentValue::Array(items) => items
                .iter()
                .flat_map(|(k, v)| k.iter().chain(std::iter::once(v)))
                .collect(),
        };
        for v in values {
            let w = self.word(&v.value, depth)?;
            subscript_code(&w.word.text)?;
            if w.word.expands {
                cmd.other_expansions.push(raw.to_string());
            }
        }
        Ok(())
    }

    fn redirect(
        &mut self,
        r: &ast::IoRedirect,
        cmd: &mut SimpleCommand,
        depth: usize,
    ) -> Result<(), ShellError> {
        match r {
            ast::IoRedirect::File(_, kind, target) => {
                let dir = match kind {
                    ast::IoFileRedirectKind::Read | ast::IoFileRedirectKind::DuplicateInput => {
                        Dir::Read
                    }
                    ast::IoFileRedirectKind::Write
                    | ast::IoFileRedirectKind::Append
                    | ast::IoFileRedirectKind::ReadAndWrite
                    | ast::IoFileRedirectKind::Clobber
                    | ast::IoFileRedirectKind::DuplicateOutput => Dir::Write,
                };
                let dup = matches!(
                    kind,
                    ast::IoFileRedirectKind::DuplicateInput
                        | ast::IoFileRedirectKind::DuplicateOutput
                );
                match target {
                    ast::IoFileRedirectTarget::Fd(_) => Ok(()),
                    ast::IoFileRedirectTarget::Filename(w) => {
                        self.file_target(&w.value, dir, cmd, depth)
                    }
                    ast::IoFileRedirectTarget::Duplicate(w) => {
                        let a = self.word(&w.value, depth)?;
                        if a.word.is_literal() && dup && is_fd(&a.word.text) {
                            return Ok(());
                        }
                        self.file_target(&w.value, dir, cmd, depth)
                    }
                    ast::IoFileRedirectTarget::ProcessSubstitution(kind, sub) => {
                        match kind {
                            ast::ProcessSubstitutionKind::Read
                            | ast::ProcessSubstitutionKind::Write => {}
                        }
                        self.constructs.insert(Construct::Substitution);
                        self.compound_list(&sub.list, depth)
                    }
                }
            }
            ast::IoRedirect::HereDocument(_, doc) => {
                cmd.stdin.inline = true;
                if doc.requires_expansion {
                    self.heredoc_body(&doc.doc.value, cmd, depth)?;
                }
                Ok(())
            }
            ast::IoRedirect::HereString(_, w) => {
                cmd.stdin.inline = true;
                self.other_word(&w.value, cmd, depth)
            }
            ast::IoRedirect::OutputAndError(w, _append) => {
                self.file_target(&w.value, Dir::Write, cmd, depth)
            }
        }
    }

    fn file_target(
        &mut self,
        raw: &str,
        dir: Dir,
        cmd: &mut SimpleCommand,
        depth: usize,
    ) -> Result<(), ShellError> {
        let a = self.word(raw, depth)?;
        let r = if !a.word.is_literal() {
            Redirect::Dynamic(a.word.text)
        } else {
            match dir {
                Dir::Read => {
                    cmd.stdin.file = true;
                    Redirect::Read(a.word.text)
                }
                Dir::Write => Redirect::Write(a.word.text),
            }
        };
        cmd.redirects.push(r);
        Ok(())
    }

    fn heredoc_body(
        &mut self,
        body: &str,
        cmd: &mut SimpleCommand,
        depth: usize,
    ) -> Result<(), ShellError> {
        word_bound(body, false)?;
        let pieces = word::parse_heredoc(body, &options())
            .map_err(|e| ShellError::Unparsable(e.to_string()))?;
        let mut subs = Vec::new();
        let mut expands = false;
        self.pieces(
            body,
            &pieces,
            true,
            &mut expands,
            &mut String::new(),
            &mut String::new(),
            &mut subs,
        )?;
        if expands {
            cmd.other_expansions
                .push("here-document with expansions".into());
        }
        self.substitutions(subs, depth)
    }

    fn substitutions(&mut self, subs: Vec<String>, depth: usize) -> Result<(), ShellError> {
        for s in subs {
            self.constructs.insert(Construct::Substitution);
            self.source(&s, depth + 1)?;
        }
        Ok(())
    }

    /// De-quotes a word, notes whether it expands, and analyses the commands it substitutes.
    fn word(&mut self, raw: &str, depth: usize) -> Result<Analyzed, ShellError> {
        if plain_word(raw) {
            // What the word parser gives such a word: one text piece, the word itself.
            return Ok(Analyzed {
                word: Word {
                    text: raw.to_string(),
                    expands: unquoted_expansion(raw),
                    substitutes: false,
                },
            });
        }
        self.parsed_word(raw, depth)
    }

    /// A word through brush's word parser: quoting, expansions, substitutions.
    fn parsed_word(&mut self, raw: &str, depth: usize) -> Result<Analyzed, ShellError> {
        word_bound(raw, true)?;
        let pieces =
            word::parse(raw, &options()).map_err(|e| ShellError::Unparsable(e.to_string()))?;
        let mut text = String::new();
        // Unquoted characters as written, quoted ones as `x`: the text globs and braces see.
        let mut shape = String::new();
        let mut expands = false;
        let mut subs = Vec::new();
        self.pieces(
            raw,
            &pieces,
            false,
            &mut expands,
            &mut text,
            &mut shape,
            &mut subs,
        )?;
        if unquoted_expansion(&shape) {
            expands = true;
        }
        let substitutes = !subs.is_empty();
        self.substitutions(subs, depth)?;
        let literal = !expands && !substitutes;
        Ok(Analyzed {
            word: Word {
                text: if literal { text } else { raw.to_string() },
                expands,
                substitutes,
            },
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn pieces(
        &mut self,
        raw: &str,
        pieces: &[WordPieceWithSource],
        quoted: bool,
        expands: &mut bool,
        text: &mut String,
        shape: &mut String,
        subs: &mut Vec<String>,
    ) -> Result<(), ShellError> {
        for p in pieces {
            let src = raw.get(p.start_index..p.end_index).unwrap_or(raw);
            match &p.piece {
                WordPiece::Text(t) => {
                    text.push_str(t);
                    if quoted {
                        shape.extend(t.chars().map(|_| 'x'));
                    } else {
                        shape.push_str(t);
                    }
                }
                WordPiece::SingleQuotedText(t) => {
                    text.push_str(t);
                    shape.extend(t.chars().map(|_| 'x'));
                    if t.is_empty() {
                        shape.push('x');
                    }
                }
                WordPiece::EscapeSequence(e) => {
                    // `\x` is `x`; a line continuation is nothing; in double quotes
                    // only `\$ \` \" \\` lose their backslash.
                    let unescaped = match e.strip_prefix('\\') {
                        Some("\n") => "",
                        Some(rest) if !quoted || matches!(rest, "$" | "`" | "\"" | "\\") => rest,
                        _ => e.as_str(),
                    };
                    text.push_str(unescaped);
                    shape.extend(unescaped.chars().map(|_| 'x'));
                }
                WordPiece::DoubleQuotedSequence(inner)
                | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    if matches!(p.piece, WordPiece::GettextDoubleQuotedSequence(_)) {
                        *expands = true;
                    }
                    shape.push('x');
                    self.pieces(raw, inner, true, expands, text, shape, subs)?;
                }
                WordPiece::AnsiCQuotedText(_) => *expands = true,
                WordPiece::TildeExpansion(_) => {
                    if !quoted {
                        *expands = true;
                    }
                    text.push_str(src);
                }
                WordPiece::ParameterExpansion(pe) => {
                    *expands = true;
                    if src.contains("@P") {
                        return Err(ShellError::Unsupported(
                            "prompt expansion `${x@P}` runs the command substitutions in the variable's value, which is not evaluated".into(),
                        ));
                    }
                    let simple = matches!(
                        pe,
                        ParameterExpr::Parameter {
                            indirect: false,
                            ..
                        }
                    );
                    if !simple && hides_substitution(src) {
                        return Err(ShellError::Unsupported(
                            "a substitution inside a parameter expansion is not evaluated".into(),
                        ));
                    }
                }
                WordPiece::CommandSubstitution(c) => subs.push(c.clone()),
                WordPiece::BackquotedCommandSubstitution(c) => subs.push(backquote_body(c, quoted)),
                WordPiece::ArithmeticExpression(e) => {
                    *expands = true;
                    self.arithmetic(&e.value)?;
                }
            }
        }
        Ok(())
    }
}

enum Item<'a> {
    Name(&'a ast::Word),
    /// A prefix (`true`) or suffix item.
    Part(&'a ast::CommandPrefixOrSuffixItem, bool),
}

#[derive(Clone, Copy)]
enum Dir {
    Read,
    Write,
}

/// Builtins that assign variables or evaluate arithmetic: a sensitive name
/// they assign is recorded as an assignment (the passport must allow it), a
/// name `let` evaluates is an expansion, and a subscript that holds a
/// substitution (`'a[$(id)]'`, run when the builtin evaluates it) is refused.
fn builtin_semantics(cmd: &mut SimpleCommand) -> Result<(), ShellError> {
    use crate::checks::programs::{is_sensitive_variable, ARITHMETIC_BUILTINS, ASSIGNING_BUILTINS};
    let Some(name) = cmd.program().map(str::to_string) else {
        return Ok(());
    };
    if ARITHMETIC_BUILTINS.contains(&name.as_str()) {
        for w in cmd.argv.iter().skip(1) {
            subscript_code(&w.text)?;
        }
    }
    if name == "let" {
        for w in cmd.argv.iter().skip(1) {
            if w.is_literal() && names_variable(&w.text) {
                cmd.other_expansions.push(format!(
                    "let {} (arithmetic evaluates the variables it names)",
                    w.text
                ));
            }
        }
    }
    let Some((_, name_opts, value_opts)) = ASSIGNING_BUILTINS.iter().find(|(b, _, _)| *b == name)
    else {
        return Ok(());
    };
    let mut names = vec![];
    let args = cmd.argv.get(1..).unwrap_or_default();
    let mut i = 0;
    let mut operands = vec![];
    while let Some(arg) = args.get(i) {
        let t = arg.text.as_str();
        if name_opts.contains(&t) {
            if let Some(n) = args.get(i + 1) {
                names.push(n.text.clone());
            }
            i += 2;
            continue;
        }
        if value_opts.contains(&t) {
            i += 2;
            continue;
        }
        if !(t.starts_with('-') || t.starts_with('+')) || t.contains('=') {
            operands.push(t.to_string());
        }
        i += 1;
    }
    match name.as_str() {
        // printf's operands are its format and arguments; only -v names a variable.
        "printf" => {}
        // getopts OPTSTRING NAME [ARGS]
        "getopts" => names.extend(operands.get(1).cloned()),
        "mapfile" | "readarray" => names.extend(operands.last().cloned()),
        _ => names.extend(operands),
    }
    // `declare -n ref=PATH` makes every later assignment to ref one to PATH.
    let nameref = matches!(name.as_str(), "declare" | "typeset" | "local")
        && args
            .iter()
            .any(|w| w.text.starts_with('-') && w.text.contains('n'));
    if nameref {
        let targets: Vec<String> = names
            .iter()
            .filter_map(|n| n.split_once('=').map(|(_, v)| v.to_string()))
            .collect();
        names.extend(targets);
    }
    for n in names {
        let var = n
            .split(['=', '['])
            .next()
            .unwrap_or_default()
            .trim_end_matches('+')
            .to_string();
        if is_sensitive_variable(&var) {
            cmd.assignments.push(var);
        }
    }
    Ok(())
}

/// A subscript holding a command substitution: `a[$(id)]`, `a[`id`]`.
fn subscript_code(text: &str) -> Result<(), ShellError> {
    if let Some(open) = text.find('[') {
        if hides_substitution(&text[open..]) {
            return Err(ShellError::Unsupported(format!(
                "`{text}` holds a command substitution in an array subscript, which bash runs when it evaluates the subscript; not evaluated"
            )));
        }
    }
    Ok(())
}

/// Whether arithmetic text names a variable (a letter or `_` starting a word,
/// not inside a number such as `0x1f` or `16#ff`).
fn names_variable(text: &str) -> bool {
    let b = text.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        (c.is_ascii_alphabetic() || c == b'_')
            && !before(b, i).is_some_and(|p| p.is_ascii_alphanumeric() || p == b'_' || p == b'#')
    })
}

/// A run of digits right before `<` or `>` that does not fit an fd (i32).
fn fd_out_of_range(cmd: &str) -> bool {
    let b = cmd.as_bytes();
    let mut start = None;
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_digit() {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            if (c == b'<' || c == b'>') && cmd[s..i].parse::<i32>().is_err() {
                return true;
            }
        }
    }
    false
}

/// Whether a `~`, `~+` or `~-` is followed by ten or more digits: a
/// directory-stack index no shell has, and one the parser cannot hold.
fn tilde_number_out_of_range(cmd: &str) -> bool {
    cmd.match_indices('~').any(|(i, _)| {
        let rest = cmd.get(i + 1..).unwrap_or_default();
        let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
        rest.bytes().take_while(u8::is_ascii_digit).count() >= 10
    })
}

/// `1`, `2`, `-` (close), `1-` (move): fd duplication, not a file.
fn is_fd(t: &str) -> bool {
    let digits = t.strip_suffix('-').unwrap_or(t);
    t == "-" || (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether text the parser left unparsed (arithmetic, parameter operands) could run a command.
fn hides_substitution(text: &str) -> bool {
    text.contains('`') || text.contains("$(") || text.contains("<(") || text.contains(">(")
}

/// Globs, extended globs, brace expansion, tilde after `=`/`:`, and zsh's `=cmd`,
/// judged on the unquoted characters only.
/// Bytes that mean nothing but themselves inside a shell word: no quoting, escaping,
/// expansion, substitution, globbing, brace, tilde or extended-glob character.
fn plain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._-/,:@%+=".contains(&b)
}

/// A word made only of [`plain_byte`]s is its own text: parsing it (most of the cost
/// of a long command of ordinary words) would find one literal piece.
fn plain_word(raw: &str) -> bool {
    !raw.is_empty() && raw.bytes().all(plain_byte)
}

fn unquoted_expansion(shape: &str) -> bool {
    let bracket = shape
        .find('[')
        .is_some_and(|i| shape[i + 1..].contains(']'));
    if bracket || shape.contains(['*', '?']) || shape.starts_with('=') {
        return true;
    }
    if shape.contains(['(', ')']) {
        return true;
    }
    let b = shape.as_bytes();
    if b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'~' && before(b, i).is_none_or(|p| p == b'=' || p == b':'))
    {
        return true;
    }
    // `{a,b}` and `{1..3}`: an opening brace with a comma or `..` before a closing one.
    let mut rest = shape;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find('}') {
            let body = &after[..close];
            if body.contains(',') || body.contains("..") {
                return true;
            }
        }
        rest = after;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The plain-word shortcut gives what the word parser gives, `=`, `:` and `@`
        /// included (assignments, tilde after `:` or `=`, `@` before a parenthesis).
        #[test]
        fn a_plain_word_is_analysed_as_the_parser_would(w in "[A-Za-z0-9._/,:@%+=-]{1,12}") {
            let fast = Analyzer::default().word(&w, 0).unwrap().word;
            let parsed = Analyzer::default().parsed_word(&w, 0).unwrap().word;
            proptest::prop_assert_eq!(fast, parsed);
        }
    }

    #[test]
    fn a_word_with_any_other_byte_is_parsed() {
        for w in [
            "~", "a~", "$x", "a*", "{a,b}", "'a'", "a\\b", "@(a)", "!x", "a#", "[a]",
        ] {
            assert!(!plain_word(w), "{w}");
        }
        assert!(plain_word("src/main.rs:12,foo@bar+%=1"));
    }

    fn argv(cmd: &str) -> Vec<Vec<String>> {
        analyze(cmd)
            .unwrap()
            .commands
            .iter()
            .map(|c| c.argv.iter().map(|w| w.text.clone()).collect())
            .collect()
    }

    #[test]
    fn dequotes_words() {
        assert_eq!(argv("'r'm -rf \"x y\""), vec![vec!["rm", "-rf", "x y"]]);
        assert_eq!(argv("\\rm a\\ b"), vec![vec!["rm", "a b"]]);
        assert_eq!(argv("\"r\"m"), vec![vec!["rm"]]);
        assert_eq!(argv("echo \"a\\$b\\q\""), vec![vec!["echo", "a$b\\q"]]);
    }

    #[test]
    fn finds_every_simple_command() {
        assert_eq!(
            argv("ls; rm -rf / && x || y | z\nw"),
            vec![
                vec!["ls"],
                vec!["rm", "-rf", "/"],
                vec!["x"],
                vec!["y"],
                vec!["z"],
                vec!["w"]
            ]
        );
        let s = analyze("echo $(rm -rf /) `id` <(cat /etc/passwd)").unwrap();
        let progs: Vec<_> = s.commands.iter().filter_map(|c| c.program()).collect();
        assert!(progs.contains(&"rm") && progs.contains(&"id") && progs.contains(&"cat"));
        assert!(s.constructs.contains(&Construct::Substitution));
    }

    #[test]
    fn marks_expansions() {
        for w in [
            "$HOME",
            "\"$HOME\"",
            "*.rs",
            "{a,b}",
            "~/x",
            "$'\\x72m'",
            "$((1+2))",
            "a=~/x",
            "${x:-y}",
        ] {
            let s = analyze(&format!("echo {w}")).unwrap();
            assert!(s.commands[0].argv[1].expands, "{w}");
        }
        for w in ["'*'", "\"{a,b}\"", "HEAD~1", "stash@{0}", "a.b", "--x=y"] {
            let s = analyze(&format!("echo {w}")).unwrap();
            assert!(!s.commands[0].argv[1].expands, "{w}");
        }
    }

    #[test]
    fn redirects_and_constructs() {
        let s = analyze("echo x > out 2>&1 >/dev/null < in").unwrap();
        assert_eq!(
            s.commands[0].redirects,
            vec![
                Redirect::Write("out".into()),
                Redirect::Write("/dev/null".into()),
                Redirect::Read("in".into())
            ]
        );
        for (cmd, c) in [
            ("ls &", Construct::Background),
            ("(ls)", Construct::Subshell),
            ("{ ls; }", Construct::Group),
            ("if true; then ls; fi", Construct::Conditional),
            ("for i in a; do ls; done", Construct::Loop),
            ("f() { ls; }", Construct::Function),
        ] {
            assert!(analyze(cmd).unwrap().constructs.contains(&c), "{cmd}");
        }
        assert!(analyze("ls 'unterminated").is_err());
        assert_eq!(analyze(&"a ".repeat(40_000)), Err(ShellError::TooLong));
        // Found by cargo-fuzz: brush-parser panicked on an fd number over i32.
        assert!(matches!(
            analyze("echo 44444444444444444444<x"),
            Err(ShellError::Unparsable(_))
        ));
        assert!(analyze("echo 2147483647>/dev/null").is_ok());
        assert!(analyze(&format!("echo {}x{}", "$(echo ".repeat(12), ")".repeat(12))).is_err());
        assert!(analyze(&format!("echo {}x{}", "$(echo ".repeat(3), ")".repeat(3))).is_ok());
        assert!(analyze("echo ${x:-$(id)}").is_err());
    }

    fn too_complex(cmd: &str) -> bool {
        matches!(analyze(cmd), Err(ShellError::TooComplex(_)))
    }

    #[test]
    fn pathological_input_is_refused_before_parsing() {
        // Issue 9: 26 bytes that made brush-parser 0.4 queue tokens until memory ran out.
        assert!(too_complex("2>&1forA=1>><($(<<  {|${"));
        for bomb in [
            "$(<<  ${",
            "$(<<-  ${",
            "$(<<\t ${",
            "$(<< \\\n ${",
            "$(<<\\\n  ${",
            "a=$(cat <<  x ${",
            // Found by cargo-fuzz (timeout): a here-document operator with no tag.
            "2<<<<<<<<\r\r<<(<< <<f|${",
            // Found by cargo-fuzz (timeout, the s19 run): the operator is the end of a `<` run.
            "2<<<<<<<<\r\r<#${",
            "x<<<<<\n${",
            // Found by cargo-fuzz (timeout, this session): a form feed or CR as a blank.
            "[20<<\x0c<<2      2<[[           ",
            "<<\x0c ",
            "<< \x0c ",
            "<<\r  ",
            "<<-\x0c  ",
            "<<\t\x0c ",
            // Found by cargo-fuzz (timeout): a tag of quotes alone is empty.
            "<<\"\"\"\"<#($<<<(F(~FF",
            "cat <<'' x ${",
            "$(<< <<f|${",
            // Found by cargo-fuzz (timeout, the lead's re-run): unclosed `(` backtrack.
            "((((((((((((((((((((((((((((>?m",
            "( ( ( ( ( ( ( ( ( ( ( ( ( ( ( ( ( x",
            // Closers the parser never sees (quoted, escaped, in a comment) close nothing.
            "(((((((((((((((((x ')))))))))))))))))'",
            "(((((((((((((((((x \\)\\)\\)\\)\\)\\)\\)\\)\\)",
            "(((((((((((((((((x # )))))))))))))))))",
            "(((((((((((((((((x $'\\' ))))))))))))))))))'",
            "(((((((((((((((((#)))))))))))))))))\nx",
        ] {
            assert!(too_complex(bomb), "{bomb:?}");
        }
        // Issue 9: a `)` that closes no `(` (a `case` pattern's) lowered the lexical
        // count, and unclosed `case` items backtrack on their own (2-3x per level):
        // both are read on the parser's tokens now, inside substitutions too.
        let nest = |unit: &str, n: usize| format!("{}x", unit.repeat(n));
        for bomb in [
            nest("case a in a) ", 24),
            nest("case a in a) if a; then ", 12),
            nest("( case a in a) ", 20),
            nest("((case a in a) ", 20),
            nest("case a in a) echo esac; ", 12),
            nest("case a in a) \"esac\"; ", 12),
            nest("case a in a) b;; a) ", 12),
            nest("case a in (a) ", 12),
            format!("{}{}x", "case a in a) ".repeat(4), "(".repeat(10)),
            format!("echo $({})", nest("case a in a) ", 12)),
            format!("echo \"$({})\"", nest("( case a in a) ", 12)),
            nest("[[ x =~ ( ", 17),
            nest("((a+ ", 9),
        ] {
            assert!(too_complex(&bomb), "{bomb:?}");
        }
        // Closed `case` statements, and here-document or quoted parentheses, stay allowed.
        assert!(analyze(&"case $x in a) ls;; *) pwd;; esac; ".repeat(9)).is_ok());
        assert!(analyze("case $1 in (a|b) (cd x && ls) ;; esac").is_ok());
        assert!(analyze(&format!("cat <<E\n{}\nE", "(".repeat(40))).is_ok());
        assert!(analyze(&format!("echo '{}'", "(".repeat(40))).is_ok());
        assert!(too_complex(&"case $x in a) ls;; esac; ".repeat(10)));
        // Found by cargo-fuzz (timeouts, this session): brush's word parser backtracks on
        // unclosed `${x[`, `$((` and `$[`, in a word or a here-document body.
        let fuzz_word = String::from_utf8_lossy(include_bytes!(
            "../../fuzz/seeds/shell_analyze/regression_word_legacy_arithmetic"
        ))
        .into_owned();
        let fuzz_heredoc: serde_json::Value = serde_json::from_slice(include_bytes!(
            "../../fuzz/seeds/stdin_entry/regression_word_subscript_heredoc.json"
        ))
        .unwrap();
        for bomb in [
            format!("echo {}", "${x[".repeat(4)),
            format!("echo {}", "$((".repeat(5)),
            format!("echo {}", "${x[$((".repeat(2)),
            format!("echo {}", "$[$(".repeat(7)),
        ] {
            assert!(analyze(&bomb).is_err(), "{bomb:?}");
        }
        for bomb in [
            format!("cat <<EOF\n{}\nEOF", "${C[".repeat(6)),
            format!("cat <<EOF\n{}\nEOF", "$[$((".repeat(4)),
            fuzz_word,
            fuzz_heredoc["tool_input"]["command"]
                .as_str()
                .unwrap()
                .to_string(),
        ] {
            assert!(too_complex(&bomb), "{bomb:?}");
        }
        // Found by cargo-fuzz (timeout, session 20: 17.8 s): `(` and `name[` nested
        // without closing inside `$[`. The class: openers left open, of any kind.
        let unclosed = String::from_utf8_lossy(include_bytes!(
            "../../fuzz/seeds/shell_analyze/regression_word_unclosed_openers"
        ))
        .into_owned();
        // Found by cargo-fuzz (timeout, session 21): the same as a command's first word,
        // which the parser reads as an assignment before any word is analysed.
        let leading = String::from_utf8_lossy(include_bytes!(
            "../../fuzz/seeds/shell_analyze/regression_word_unclosed_assignment"
        ))
        .into_owned();
        for bomb in [
            unclosed,
            leading,
            format!("echo $[{}]", "f[T(".repeat(4)),
            format!("echo ${{x[{}]}}", "f[(".repeat(3)),
            format!("echo ${{x:{}}}", "f[(".repeat(4)),
            format!("echo \"$[{}]\"", "f[(".repeat(4)),
            format!("cat <<E\n$[{}]\nE", "f[(".repeat(4)),
            // Closers the parser reads as quoted or escaped close nothing here either.
            format!("echo $[{}'{}']", "f[(".repeat(4), ")]".repeat(4)),
            format!("echo $[{}{}]", "f[(".repeat(4), "\\)]".repeat(4)),
            format!("echo $[{}`{}`]", "f[(".repeat(4), ")]".repeat(4)),
        ] {
            assert!(too_complex(&bomb), "{bomb:?}");
        }
        assert_eq!(unclosed_openers("$[f[(f[(f[(]", true), 7);
        assert_eq!(unclosed_openers("-a[(b[( ] )", true), 0);
        assert_eq!(unclosed_openers("a[f[(f[(]=1", true), 5);
        assert!(analyze("a[i+1]=x b[0]=y; echo ${a[@]}").is_ok());
        // Found by cargo-fuzz (a panic inside brush's tokenizer, session 21): caught and
        // denied, never a crash.
        assert!(analyze("cd /tmp &&cak t x <<EOF<0\x0cik$k(($((((((((((((((((((((((((((((((((((((((((((((((k(kkkk44444444444444;444444444(id)\nEOF").is_err());
        assert_eq!(unclosed_openers("$(( (a+b) * c[d[1]] ))", true), 0);
        assert_eq!(unclosed_openers("\"$(dirname \"$0\")\"", true), 1);
        assert_eq!(unclosed_openers("$(a)'$(b)'", true), 1);
        assert_eq!(unclosed_openers("it's $(( 1 + (2) ))", false), 0);
        // Closed constructs, however deep or many, stay parseable.
        for closed in [
            format!("echo $(( {}1{} ))", "f[(".repeat(12), ")]".repeat(12)),
            format!("echo \"${{x[{}1{}]}}\"", "f[(".repeat(12), ")]".repeat(12)),
            format!("echo \"$[{}1{}]\"", "f[(".repeat(12), ")]".repeat(12)),
        ] {
            assert!(analyze(&closed).is_ok(), "{closed}");
        }
        assert!(analyze("echo \"$(( a + (b) )) and $(( ${c[0]} * (2) )) $(date)\"").is_ok());
        assert!(analyze("x=\"$(dirname \"$0\")\"; echo \"${x%/*}\" ${y:-(none)}").is_ok());
        assert!(analyze("cat <<E\nit's $(( (1 + 2) * (3 + 4) )) and ${a[0]}\nE").is_ok());
        assert!(analyze("echo \"${a[0]} ${a[1]} ${a[2]}\" $((1 + (2 * 3)))").is_ok());
        assert!(analyze("echo \"$(date) $(id -u) $(pwd) $(ls)\"").is_ok());
        // Ordinary subshells, arithmetic and substitutions stay parseable.
        assert!(analyze("(cd src && ls)").is_ok());
        assert!(analyze("echo $(( (1 + 2) * (3 + 4) ))").is_ok());
        assert!(analyze(&format!("echo {}x{}", "$(echo ".repeat(3), ")".repeat(3))).is_ok());
        assert!(!too_complex(&format!(
            "{}ls{}",
            "(".repeat(16),
            ")".repeat(16)
        )));
        assert!(analyze("cat <<EOF\nx\nEOF").is_ok());
        assert!(analyze("cat << 'EOF'\nx\nEOF").is_ok());
        assert!(analyze("cat <<< 'x'").is_ok());
        assert!(analyze("cat <<\"EOF\"\nx\nEOF").is_ok());
        assert!(analyze("cat <<EOF\r\nx\r\nEOF\r\n").is_ok());
        // Found by cargo-fuzz (a panic): `~N` with a number the parser unwraps.
        for bomb in [
            "x<~444444444444444444444444",
            "ls ~+99999999999",
            "cd ~-12345678901",
        ] {
            assert!(
                matches!(analyze(bomb), Err(ShellError::Unparsable(_))),
                "{bomb}"
            );
        }
        assert!(analyze("ls ~/src ~+ ~- ~+1 ~2").is_ok());
        // Read without regard to quoting, so it never misses one: quoted text is refused too.
        assert!(too_complex("echo '<<  x'"));
        assert!(too_complex(&"cat <<a\n".repeat(MAX_HEREDOCS + 1)));
        // Nesting the parser would recurse on until the stack overflows.
        assert!(too_complex(&format!(
            "{}ls{}",
            "{ ".repeat(3000),
            "; }".repeat(3000)
        )));
        assert!(too_complex(&"if true; then ".repeat(2000)));
        assert!(too_complex(&format!("echo {}", "$(".repeat(2000))));
        // Deep but bounded nesting runs on the analysis thread and parses.
        let deep = format!("{}ls{}", "( ".repeat(16), " )".repeat(16));
        assert!(analyze(&deep).is_ok());
        let braces = format!("{}ls;{}", "{ ".repeat(300), " }".repeat(300));
        assert!(analyze(&braces).is_ok());
    }

    #[test]
    fn the_session_21_fuzz_finds_are_refused() {
        // 32 bytes, 18 s and over 2 GB: an escaped `<` moved the operator alignment of
        // the `<` run after it, so a here-document with two blanks read as here-strings.
        let escaped_lt = String::from_utf8_lossy(include_bytes!(
            "../../fuzz/seeds/shell_analyze/regression_heredoc_after_escaped_lt"
        ))
        .into_owned();
        // A lone backquote hid a 700-byte word trap in a here-document body.
        let backquote: serde_json::Value = serde_json::from_slice(include_bytes!(
            "../../fuzz/seeds/stdin_entry/regression_unclosed_backquote_heredoc.json"
        ))
        .unwrap();
        let backquote = backquote["tool_input"]["command"]
            .as_str()
            .unwrap()
            .to_string();
        for bomb in [
            escaped_lt,
            backquote,
            // The finds minimised by libFuzzer, and the class around them.
            "\\<<<\r\t".to_string(),
            "a \\<<<<<<\r\rx".to_string(),
            "a \\\\\\<<<  x".to_string(),
            "echo `cat \\\\<<<\r\t`".to_string(),
            format!("cat <<E\n`{}\nE", "$[f[(".repeat(3)),
        ] {
            assert!(too_complex(&bomb), "{bomb:?}");
        }
        assert!(analyze(&format!("echo \"`$[{}\"", "f[(".repeat(3))).is_err());
    }

    #[test]
    fn the_plain_word_path_keeps_the_length_bound_and_skips_only_the_parser_s() {
        let long = format!("echo {}", "w ".repeat(MAX_COMMAND_BYTES / 2));
        assert!(matches!(analyze(&long), Err(ShellError::TooLong)));
        // Keywords as arguments nest nothing; the parser's estimate, read without
        // grammar, would have counted them.
        let words = format!("echo {}", "if ".repeat(MAX_NESTING + 1));
        assert!(nesting_estimate(&words) > MAX_NESTING);
        assert_eq!(analyze(&words).unwrap().commands.len(), 1);
        assert!(too_complex(&"if true; then ".repeat(2000)));
    }

    #[test]
    fn an_escaped_lt_starts_the_operator_run_after_it() {
        assert!(escaped(b"a\\<", 2));
        assert!(!escaped(b"a\\\\<", 3));
        assert_eq!(heredoc_operators("a \\<<<x"), (1, false));
        assert_eq!(heredoc_operators("a \\\\<<<x"), (0, false));
        // Here-strings, escaped brackets, closed backquotes and an escaped backslash
        // before a here-document stay what they were.
        for ok in [
            "jq . <<< \"$(cat package.json)\"",
            "grep -c x <<<\"$v\"",
            "echo \\<b\\> \\<\\<",
            "cat \\\\<<EOF\nx\nEOF",
            "cat <<E\nran `date` at $(( 1 + 2 ))\nE",
            "echo `echo a` `echo b`",
        ] {
            assert!(analyze(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn nesting_estimate_counts_brackets_and_keywords() {
        assert_eq!(nesting_estimate("ls"), 0);
        assert_eq!(nesting_estimate("(a) (b)"), 1);
        assert_eq!(nesting_estimate("if a; then for x in y; do z; done; fi"), 2);
        assert_eq!(nesting_estimate("echo fifo done_x"), 0);
        assert_eq!(heredoc_operators("a <<x <<-y <<<z"), (2, false));
    }
}
