//! The cfg preprocessor, with Kamailio's directives and behaviour:
//!
//! * `#!define NAME [value]` (a trailing `\` continues the value on the
//!   next line), `#!trydef` (only if not yet defined), `#!redefine`,
//!   `#!undef`; `-A NAME[=value]` from the command line comes in as
//!   initial [`Defines`];
//! * `#!ifdef`, `#!ifndef`, `#!else`, `#!endif`, nested;
//! * `#!include_file "path"` (error when missing) and `#!import_file`
//!   (silently skipped when missing), also without `#!`; a relative path
//!   is tried against the current directory, then against the including
//!   file's directory; at most 10 levels deep;
//! * `#!subst "/regex/replacement/flags"` and `#!substdef` (which also
//!   defines the regex's text as a name for the replacement);
//! * `#!KAMAILIO`, `#!SER`, `#!MAXCOMPAT`, `#!ALL` markers are ignored;
//!   `!!` is a synonym of `#!`.
//!
//! Defines are expanded as whole identifiers, outside string literals,
//! comments and pseudo-variable names (Kamailio's lexer replaces ID
//! tokens only); substitutions apply everywhere, strings included.
//! Every output line remembers the file and line it came from, so later
//! errors can say `file:line:column`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where something is in the cfg sources (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    /// The file.
    pub file: Arc<str>,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// Why preprocessing failed; every variant says where.
#[derive(Debug)]
pub enum PreprocessError {
    /// A file could not be read.
    Read {
        /// The include directive (or `None` for the main file).
        at: Option<Loc>,
        /// The path tried.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// An unknown `#!` directive.
    UnknownDirective {
        /// Where.
        at: Loc,
        /// Its name.
        name: String,
    },
    /// A directive without its argument (a name, a path, a substitution).
    MissingArgument {
        /// Where.
        at: Loc,
        /// The directive.
        directive: &'static str,
    },
    /// `#!else` or `#!endif` with no open `#!ifdef` / `#!ifndef`.
    Unbalanced {
        /// Where.
        at: Loc,
        /// The directive.
        directive: &'static str,
    },
    /// A second `#!else` for one `#!ifdef`.
    DoubleElse {
        /// Where.
        at: Loc,
    },
    /// End of a file with a conditional still open.
    UnterminatedIf {
        /// The opening directive.
        opened: Loc,
    },
    /// An unterminated `/* */` comment or string at the end of a file.
    Unterminated {
        /// Where it started.
        opened: Loc,
        /// Comment or string.
        what: &'static str,
    },
    /// `#!defenv` / `#!defenvs` naming an environment variable that is not
    /// set (the `#!trydefenv` forms skip it).
    UnsetEnv {
        /// Where.
        at: Loc,
        /// The variable.
        name: String,
    },
    /// Includes nested more than 10 deep (or including themselves).
    IncludeTooDeep {
        /// The include that went too deep.
        at: Loc,
    },
    /// A malformed `#!subst` / `#!substdef` expression or regex.
    BadSubst {
        /// Where.
        at: Loc,
        /// What is wrong.
        why: String,
    },
}

impl fmt::Display for PreprocessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreprocessError::Read { at: Some(at), path, source } => {
                write!(f, "{at}: cannot read included file {}: {source}", path.display())
            }
            PreprocessError::Read { at: None, path, source } => write!(f, "cannot read {}: {source}", path.display()),
            PreprocessError::UnknownDirective { at, name } => {
                write!(f, "{at}: unknown preprocessor directive '#!{name}'")
            }
            PreprocessError::MissingArgument { at, directive } => write!(f, "{at}: #!{directive} needs an argument"),
            PreprocessError::Unbalanced { at, directive } => {
                write!(f, "{at}: #!{directive} without a matching #!ifdef / #!ifndef")
            }
            PreprocessError::DoubleElse { at } => write!(f, "{at}: second #!else in one #!ifdef"),
            PreprocessError::UnterminatedIf { opened } => {
                write!(f, "{opened}: #!ifdef / #!ifndef never closed by #!endif")
            }
            PreprocessError::Unterminated { opened, what } => write!(f, "{opened}: unterminated {what}"),
            PreprocessError::IncludeTooDeep { at } => {
                write!(f, "{at}: includes nested more than {MAX_INCLUDE_DEPTH} deep")
            }
            PreprocessError::BadSubst { at, why } => write!(f, "{at}: bad substitution: {why}"),
            PreprocessError::UnsetEnv { at, name } => write!(f, "{at}: environment variable {name} is not set"),
        }
    }
}

impl std::error::Error for PreprocessError {}

/// File-type markers, accepted and otherwise ignored.
const MARKERS: &[&str] = &["KAMAILIO", "SER", "MAXCOMPAT", "ALL", "OPENSER"];

/// Kamailio's limit on nested includes.
const MAX_INCLUDE_DEPTH: usize = 10;
/// Limit on a define expanding to defines (catches `A` → `B` → `A`).
const MAX_EXPANSION_DEPTH: usize = 16;

/// The defines in force: name → value (empty for `#!define NAME`).
#[derive(Debug, Clone, Default)]
pub struct Defines {
    map: HashMap<String, String>,
}

impl Defines {
    /// No defines.
    pub fn new() -> Self {
        Self::default()
    }

    /// From `-A NAME[=value]` arguments.
    pub fn from_args<'s>(args: impl IntoIterator<Item = &'s str>) -> Self {
        let mut d = Self::new();
        for a in args {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            d.define(k, v);
        }
        d
    }

    /// Defines (or redefines) `name`.
    pub fn define(&mut self, name: &str, value: &str) {
        self.map.insert(name.to_owned(), value.to_owned());
    }

    /// Every define and its value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether `name` is defined.
    pub fn is_defined(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }
}

/// The preprocessed text and where each of its lines came from.
#[derive(Debug, Clone)]
pub struct Preprocessed {
    /// The text to parse.
    pub text: String,
    /// `origins[i]` is the source of output line `i + 1`.
    pub origins: Vec<(Arc<str>, u32)>,
    /// The defines at the end (for `$def(NAME)`).
    pub defines: Defines,
}

impl Preprocessed {
    /// Maps a line and column of [`Preprocessed::text`] to the source.
    pub fn loc(&self, line: u32, col: u32) -> Loc {
        match self.origins.get(line.saturating_sub(1) as usize) {
            Some((file, l)) => Loc { file: file.clone(), line: *l, col },
            // past the last line (end of file): just after the last line
            None => match self.origins.last() {
                Some((file, l)) => Loc { file: file.clone(), line: l + line - self.origins.len() as u32, col },
                None => Loc { file: Arc::from("<cfg>"), line, col },
            },
        }
    }
}

/// A `#!subst` rule.
#[derive(Debug, Clone)]
struct Subst {
    re: regex::Regex,
    replacement: String,
    global: bool,
}

/// One open conditional.
#[derive(Debug)]
struct Cond {
    opened: Loc,
    /// Whether the enclosing region is emitted.
    parent_active: bool,
    /// Whether the current branch is taken.
    taken: bool,
    seen_else: bool,
}

struct State {
    /// false for `--cfg-print`: keep define lines and do not expand.
    expand: bool,
    defines: Defines,
    substs: Vec<Subst>,
    out: String,
    origins: Vec<(Arc<str>, u32)>,
}

/// Preprocesses the cfg file at `path`.
pub fn preprocess(path: &Path, defines: Defines) -> Result<Preprocessed, PreprocessError> {
    let text =
        read_cfg_file(path).map_err(|source| PreprocessError::Read { at: None, path: path.to_owned(), source })?;
    run(&text, path, defines)
}

/// Preprocesses cfg text as if read from `path` (includes are resolved
/// against `path`'s directory).
pub fn preprocess_str(text: &str, path: &Path, defines: Defines) -> Result<Preprocessed, PreprocessError> {
    run(text, path, defines)
}

/// What Kamailio's `--cfg-print` prints: the cfg with includes and
/// `#!ifdef` blocks evaluated, but defines and substitutions neither
/// expanded nor removed (their directive lines are kept).
pub fn cfg_print(path: &Path, defines: Defines) -> Result<String, PreprocessError> {
    let text =
        read_cfg_file(path).map_err(|source| PreprocessError::Read { at: None, path: path.to_owned(), source })?;
    let mut st = State { expand: false, ..State::new(&text, defines) };
    process_file(&mut st, &text, path, 0)?;
    // Kamailio prints only the lines that survive, not blank placeholders
    // for the dropped ones.
    Ok(st.out)
}

fn run(text: &str, path: &Path, defines: Defines) -> Result<Preprocessed, PreprocessError> {
    let mut st = State::new(text, defines);
    process_file(&mut st, text, path, 0)?;
    Ok(Preprocessed { text: st.out, origins: st.origins, defines: st.defines })
}

/// Splits `#!name rest` / `!!name rest` (leading blanks allowed).
fn directive(line: &str) -> Option<(&str, &str, usize)> {
    let t = line.trim_start();
    let indent = line.len() - t.len();
    let body = t.strip_prefix("#!").or_else(|| t.strip_prefix("!!"))?;
    let name_len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
    Some((&body[..name_len], body[name_len..].trim(), indent))
}

/// `include_file "x"` / `import_file "x"` written as a plain statement.
fn plain_include(line: &str) -> Option<(&'static str, &str)> {
    let t = line.trim();
    for kw in ["include_file", "import_file"] {
        if let Some(rest) = t.strip_prefix(kw) {
            let rest = rest.trim().trim_end_matches(';').trim();
            if rest.starts_with('"') {
                return Some((if kw == "include_file" { "include_file" } else { "import_file" }, rest));
            }
        }
    }
    None
}

fn quoted_arg(arg: &str) -> Option<&str> {
    let a = arg.trim();
    a.strip_prefix('"').and_then(|r| r.strip_suffix('"')).or_else(|| (!a.is_empty()).then_some(a))
}

fn process_file(st: &mut State, text: &str, path: &Path, depth: usize) -> Result<(), PreprocessError> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let loc = |line: usize, col: usize| Loc { file: file.clone(), line: line as u32, col: col as u32 };
    let mut conds: Vec<Cond> = Vec::new();
    let mut lexer = Lexer::default();
    // A final newline ends the last line; it does not start another.
    let lines: Vec<&str> = text.strip_suffix('\n').unwrap_or(text).split('\n').collect();
    let mut n = 0;
    while n < lines.len() {
        let lineno = n + 1;
        let raw = lines[n].strip_suffix('\r').unwrap_or(lines[n]);
        n += 1;
        let active = conds.last().is_none_or(|c| c.parent_active && c.taken);
        // Directives are only recognised outside block comments.
        let dir = if lexer.in_comment.is_none() { directive(raw) } else { None };
        if let Some((name, arg, indent)) = dir {
            let at = loc(lineno, indent + 1);
            // Definitions and markers are printed as written by --cfg-print.
            let keep = !st.expand
                && active
                && (matches!(
                    name,
                    "define"
                        | "trydef"
                        | "redefine"
                        | "undef"
                        | "subst"
                        | "substdef"
                        | "substdefs"
                        | "defenv"
                        | "defenvs"
                        | "trydefenv"
                        | "trydefenvs"
                ) || MARKERS.contains(&name));
            if keep {
                st.push_line(raw, &file, lineno as u32);
            } else {
                st.push_placeholder(&file, lineno as u32);
            }
            match name {
                "ifdef" | "ifndef" => {
                    let want = name == "ifdef";
                    let ident = arg.split_whitespace().next();
                    let Some(ident) = ident else {
                        return Err(PreprocessError::MissingArgument {
                            at,
                            directive: if want { "ifdef" } else { "ifndef" },
                        });
                    };
                    conds.push(Cond {
                        opened: at,
                        parent_active: active,
                        taken: st.defines.is_defined(ident) == want,
                        seen_else: false,
                    });
                }
                "else" => {
                    let c =
                        conds.last_mut().ok_or(PreprocessError::Unbalanced { at: at.clone(), directive: "else" })?;
                    if c.seen_else {
                        return Err(PreprocessError::DoubleElse { at });
                    }
                    c.seen_else = true;
                    c.taken = !c.taken;
                }
                "endif" => {
                    conds.pop().ok_or(PreprocessError::Unbalanced { at, directive: "endif" })?;
                }
                _ if !active => {}
                "define" | "trydef" | "redefine" => {
                    let mut value = arg.to_owned();
                    // A trailing backslash continues the value on the next line.
                    while value.ends_with('\\') && n < lines.len() {
                        value.pop();
                        let next = lines[n].strip_suffix('\r').unwrap_or(lines[n]);
                        value.push_str(next.trim_end());
                        if keep {
                            st.push_line(next, &file, (n + 1) as u32);
                        } else {
                            st.push_placeholder(&file, (n + 1) as u32);
                        }
                        n += 1;
                    }
                    let (ident, value) = match value.split_once(|c: char| c.is_whitespace()) {
                        Some((i, v)) => (i.to_owned(), v.trim().to_owned()),
                        None => (value.clone(), String::new()),
                    };
                    if ident.is_empty() {
                        return Err(PreprocessError::MissingArgument { at, directive: "define" });
                    }
                    if name != "trydef" || !st.defines.is_defined(&ident) {
                        st.defines.define(&ident, &value);
                    }
                }
                "undef" => {
                    let ident = arg
                        .split_whitespace()
                        .next()
                        .ok_or(PreprocessError::MissingArgument { at, directive: "undef" })?;
                    st.defines.map.remove(ident);
                }
                "include_file" | "import_file" => {
                    let must = name == "include_file";
                    let p = quoted_arg(arg)
                        .ok_or(PreprocessError::MissingArgument { at: at.clone(), directive: "include_file" })?;
                    include(st, p, path, must, at, depth)?;
                }
                "subst" | "substdef" | "substdefs" => {
                    let rule = parse_subst(arg).map_err(|why| PreprocessError::BadSubst { at, why })?;
                    if name == "substdef" {
                        st.defines.define(rule.0.as_str(), &rule.1);
                    } else if name == "substdefs" {
                        // the define's value is a string token
                        st.defines.define(rule.0.as_str(), &format!("\"{}\"", rule.1));
                    }
                    st.substs.push(rule.2);
                }
                // `#!defenv ID=ENVVAR` or `#!defenv ENVVAR`: ID defined to
                // the variable's value (in double quotes for the `s` forms)
                "defenv" | "defenvs" | "trydefenv" | "trydefenvs" => {
                    let spec = arg
                        .split_whitespace()
                        .next()
                        .ok_or(PreprocessError::MissingArgument { at: at.clone(), directive: "defenv" })?;
                    let (ident, var) = spec.split_once('=').unwrap_or((spec, spec));
                    match std::env::var(var) {
                        Ok(v) => {
                            let v = if name.ends_with('s') { format!("\"{v}\"") } else { v };
                            st.defines.define(ident, &v);
                        }
                        Err(_) if name.starts_with("try") => {}
                        Err(_) => return Err(PreprocessError::UnsetEnv { at, name: var.to_string() }),
                    }
                }
                marker if MARKERS.contains(&marker) => {}
                other => return Err(PreprocessError::UnknownDirective { at, name: other.to_owned() }),
            }
            continue;
        }
        if !active {
            st.push_placeholder(&file, lineno as u32);
            continue;
        }
        if lexer.in_comment.is_none() {
            if let Some((kind, arg)) = plain_include(raw) {
                let at = loc(lineno, raw.len() - raw.trim_start().len() + 1);
                st.push_placeholder(&file, lineno as u32);
                let p = quoted_arg(arg)
                    .ok_or(PreprocessError::MissingArgument { at: at.clone(), directive: "include_file" })?;
                include(st, p, path, kind == "include_file", at, depth)?;
                if !st.expand {
                    // Kamailio's lexer replaces the statement, not its line
                    // end: --cfg-print shows an empty line after the content.
                    st.push_line("", &file, lineno as u32);
                }
                continue;
            }
        }
        if !st.expand {
            // Still track /* */ comments so directives inside are ignored.
            lexer.expand_line(raw, &Defines::new(), lineno);
            st.push_line(raw, &file, lineno as u32);
            continue;
        }
        let expanded = lexer.expand_line(raw, &st.defines, lineno);
        let substituted = apply_substs(&st.substs, &expanded);
        st.push_line(&substituted, &file, lineno as u32);
    }
    if let Some(opened) = lexer.in_comment.take() {
        return Err(PreprocessError::Unterminated { opened: loc(opened.0, opened.1), what: "/* comment" });
    }
    if let Some(c) = conds.pop() {
        return Err(PreprocessError::UnterminatedIf { opened: c.opened });
    }
    Ok(())
}

impl State {
    fn new(text: &str, defines: Defines) -> State {
        State { expand: true, defines, substs: Vec::new(), out: String::with_capacity(text.len()), origins: Vec::new() }
    }

    /// A line that only keeps the numbering (dropped for `--cfg-print`).
    fn push_placeholder(&mut self, file: &Arc<str>, line: u32) {
        if self.expand {
            self.push_line("", file, line);
        }
    }

    fn push_line(&mut self, text: &str, file: &Arc<str>, line: u32) {
        self.out.push_str(text);
        self.out.push('\n');
        self.origins.push((file.clone(), line));
    }
}

fn include(st: &mut State, p: &str, from: &Path, must: bool, at: Loc, depth: usize) -> Result<(), PreprocessError> {
    if depth + 1 > MAX_INCLUDE_DEPTH {
        return Err(PreprocessError::IncludeTooDeep { at });
    }
    let direct = PathBuf::from(p);
    let candidates = if direct.is_absolute() {
        vec![direct]
    } else {
        let beside = from.parent().map(|d| d.join(p)).unwrap_or_else(|| direct.clone());
        vec![direct, beside]
    };
    let mut last_err = None;
    for c in &candidates {
        match read_cfg_file(c) {
            Ok(text) => return process_file(st, &text, c, depth + 1),
            Err(e) => last_err = Some((c.clone(), e)),
        }
    }
    match (must, last_err) {
        (false, _) => Ok(()),
        (true, Some((path, source))) => Err(PreprocessError::Read { at: Some(at), path, source }),
        (true, None) => Ok(()),
    }
}

/// Largest cfg file read (a cfg is kilobytes; this stops `/dev/zero`).
const MAX_CFG_FILE: u64 = 16 << 20;

/// Reads a cfg file: a regular file of at most [`MAX_CFG_FILE`] bytes
/// (a device or a FIFO named by mistake would never end).
fn read_cfg_file(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > MAX_CFG_FILE {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "larger than 16 MiB"));
    }
    std::fs::read_to_string(path)
}

/// Parses `"/re/replacement/flags"` (any separator): (the regex text, the
/// replacement, the rule).
fn parse_subst(arg: &str) -> Result<(String, String, Subst), String> {
    let a = quoted_arg(arg).ok_or("missing expression")?;
    let (re, repl, flags) = super::subst::split_subst(a)?;
    let mut b = regex::RegexBuilder::new(&re);
    b.case_insensitive(flags.contains('i'));
    let compiled = b.build().map_err(|e| e.to_string())?;
    Ok((re, repl.clone(), Subst { re: compiled, replacement: repl, global: flags.contains('g') }))
}

fn apply_substs(rules: &[Subst], line: &str) -> String {
    let mut s = line.to_owned();
    for r in rules {
        let rep = regex::NoExpand(&r.replacement);
        s = if r.global { r.re.replace_all(&s, rep).into_owned() } else { r.re.replace(&s, rep).into_owned() };
    }
    s
}

/// Tracks strings and comments across lines while expanding defines.
#[derive(Debug, Default)]
struct Lexer {
    /// Open `/* */` comment: (line, column) where it began.
    in_comment: Option<(usize, usize)>,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl Lexer {
    /// Expands defines in one line outside strings, comments and PV names.
    fn expand_line(&mut self, line: &str, defs: &Defines, lineno: usize) -> String {
        let mut active = Vec::new();
        let mut budget = MAX_EXPANSION_BYTES;
        self.expand(line, defs, lineno, &mut Expansion { active: &mut active, budget: &mut budget })
    }

    /// `ex` tracks the defines being expanded and the bytes left.
    fn expand(&mut self, line: &str, defs: &Defines, lineno: usize, ex: &mut Expansion<'_>) -> String {
        let b = line.as_bytes();
        let mut out = String::with_capacity(line.len());
        let mut i = 0;
        while i < b.len() {
            if self.in_comment.is_some() {
                match line[i..].find("*/") {
                    Some(p) => {
                        out.push_str(&line[i..i + p + 2]);
                        i += p + 2;
                        self.in_comment = None;
                    }
                    None => {
                        out.push_str(&line[i..]);
                        break;
                    }
                }
                continue;
            }
            let c = b[i];
            match c {
                b'#' => {
                    out.push_str(&line[i..]);
                    break;
                }
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    out.push_str(&line[i..]);
                    break;
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    self.in_comment = Some((lineno, i + 1));
                    out.push_str("/*");
                    i += 2;
                }
                b'"' | b'\'' => {
                    // Copy the string literal through, escapes included.
                    let mut j = i + 1;
                    while j < b.len() && b[j] != c {
                        j += if b[j] == b'\\' { 2 } else { 1 };
                    }
                    let end = (j + 1).min(b.len());
                    out.push_str(&line[i..end]);
                    i = end;
                }
                b'$' => {
                    // A pseudo-variable: $name, $name(...), $(...) — copied as is.
                    let mut j = i + 1;
                    while j < b.len() && (is_ident(b[j]) || b[j] == b'.') {
                        j += 1;
                    }
                    if j < b.len() && b[j] == b'(' {
                        let mut level = 0;
                        while j < b.len() {
                            match b[j] {
                                b'(' => level += 1,
                                b')' => {
                                    level -= 1;
                                    if level == 0 {
                                        j += 1;
                                        break;
                                    }
                                }
                                _ => {}
                            }
                            j += 1;
                        }
                    }
                    out.push_str(&line[i..j]);
                    i = j;
                }
                c if is_ident_start(c) => {
                    let mut j = i + 1;
                    while j < b.len() && is_ident(b[j]) {
                        j += 1;
                    }
                    out.push_str(&expand_ident(&line[i..j], defs, ex));
                    i = j;
                }
                _ => {
                    let ch = line[i..].chars().next().unwrap_or(' ');
                    out.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        out
    }
}

/// The state of one line's expansion.
struct Expansion<'a> {
    /// Defines being expanded (a define is not expanded inside itself, as
    /// in C: `#!define N N+1` gives `N+1`).
    active: &'a mut Vec<String>,
    /// Bytes the expansion may still produce (defines fanning out into
    /// defines grow exponentially).
    budget: &'a mut usize,
}

/// Most bytes one line may expand to.
const MAX_EXPANSION_BYTES: usize = 1 << 20;

/// The text an identifier stands for: its define's value, itself expanded
/// as cfg text (a define may use other defines), or the identifier
/// unchanged (not defined, being expanded already, too deep, or the
/// line's expansion budget spent — the parser then reports the name).
fn expand_ident(ident: &str, defs: &Defines, ex: &mut Expansion<'_>) -> String {
    match defs.get(ident) {
        Some(v)
            if ex.active.len() < MAX_EXPANSION_DEPTH
                && !ex.active.iter().any(|a| a == ident)
                && v.len() <= *ex.budget =>
        {
            *ex.budget -= v.len();
            ex.active.push(ident.to_owned());
            let out = Lexer::default().expand(v, defs, 0, ex);
            ex.active.pop();
            out
        }
        _ => ident.to_owned(),
    }
}
