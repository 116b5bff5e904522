//! The cfg lexer: turns preprocessed text into tokens on demand (the
//! parser sometimes reads raw text instead, e.g. inside `route[...]` or
//! after `listen=`), each with its byte offset for `file:line:column`.

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An identifier: `[A-Za-z_][A-Za-z0-9_]*`.
    Ident(String),
    /// An integer literal (decimal, `0x` hex or `0` octal).
    Int(i64),
    /// A string literal, escapes resolved.
    Str(Vec<u8>),
    /// A dotted IPv4 literal (`10.0.0.1`), kept as text.
    Ipv4(String),
    /// A pseudo-variable, as written (`$ru`, `$var(x)`, `$(avp(a)[1]{s.len})`).
    Pv(String),
    /// Punctuation or an operator.
    Punct(&'static str),
    /// End of input.
    Eof,
}

impl Tok {
    /// A short description for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Int(i) => format!("number {i}"),
            Tok::Str(s) => format!("string \"{}\"", String::from_utf8_lossy(s)),
            Tok::Ipv4(s) => format!("address {s}"),
            Tok::Pv(s) => format!("'{s}'"),
            Tok::Punct(p) => format!("'{p}'"),
            Tok::Eof => "end of file".to_string(),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Byte offset in the text.
    pub off: usize,
}

/// Operators, longest first so that `==` wins over `=`.
const PUNCT: &[&str] = &[
    "<<", ">>", "==", "!=", "<=", ">=", "=~", "!~", "&&", "||", ":=", "+=", "(", ")", "{", "}", "[", "]", ";", ",",
    ":", "=", "<", ">", "!", "+", "-", "*", "/", "%", "|", "&", "^", "~", ".", "@",
];

/// A lexing failure: what and at which byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct LexError {
    /// Byte offset.
    pub off: usize,
    /// What is wrong.
    pub msg: String,
}

/// The lexer over preprocessed text.
pub struct Lexer<'t> {
    text: &'t str,
    pos: usize,
    peeked: Option<Token>,
}

impl<'t> Lexer<'t> {
    /// A lexer at the start of `text`.
    pub fn new(text: &'t str) -> Self {
        Lexer { text, pos: 0, peeked: None }
    }

    /// The next token without consuming it.
    pub fn peek(&mut self) -> Result<&Token, LexError> {
        if self.peeked.is_none() {
            let t = self.lex()?;
            self.peeked = Some(t);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    /// Consumes and returns the next token.
    pub fn next_token(&mut self) -> Result<Token, LexError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex(),
        }
    }

    /// Gives back a token just read (the next read returns it again).
    pub fn unread(&mut self, t: Token) {
        debug_assert!(self.peeked.is_none(), "one token of look-back only");
        self.peeked = Some(t);
    }

    /// Offset where the next token (or raw read) starts, after blanks and
    /// comments.
    pub fn next_offset(&mut self) -> Result<usize, LexError> {
        Ok(self.peek()?.off)
    }

    /// Reads raw text up to (not including) the first byte in `stops`
    /// outside double quotes, starting after blanks and comments; a
    /// peeked token is given back first. Returns the text and its offset.
    pub fn raw_until(&mut self, stops: &[u8]) -> Result<(&'t str, usize), LexError> {
        if let Some(t) = self.peeked.take() {
            self.pos = t.off;
        } else {
            self.skip_blanks()?;
        }
        let start = self.pos;
        let b = self.text.as_bytes();
        let mut in_quote = false;
        while self.pos < b.len() {
            let c = b[self.pos];
            if c == b'"' {
                in_quote = !in_quote;
            } else if !in_quote && stops.contains(&c) {
                break;
            }
            self.pos += 1;
        }
        Ok((&self.text[start..self.pos], start))
    }

    fn skip_blanks(&mut self) -> Result<(), LexError> {
        let b = self.text.as_bytes();
        loop {
            while self.pos < b.len() && b[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            if self.pos >= b.len() {
                return Ok(());
            }
            if b[self.pos] == b'#' || b[self.pos..].starts_with(b"//") {
                while self.pos < b.len() && b[self.pos] != b'\n' {
                    self.pos += 1;
                }
            } else if b[self.pos..].starts_with(b"/*") {
                let start = self.pos;
                match self.text[self.pos + 2..].find("*/") {
                    Some(e) => self.pos += 2 + e + 2,
                    None => return Err(LexError { off: start, msg: "unterminated /* comment".into() }),
                }
            } else {
                return Ok(());
            }
        }
    }

    fn lex(&mut self) -> Result<Token, LexError> {
        self.skip_blanks()?;
        let b = self.text.as_bytes();
        let off = self.pos;
        let Some(&c) = b.get(off) else {
            return Ok(Token { tok: Tok::Eof, off });
        };
        let tok = if c.is_ascii_alphabetic() || c == b'_' {
            let end = off + b[off..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
            self.pos = end;
            Tok::Ident(self.text[off..end].to_string())
        } else if c.is_ascii_digit() {
            self.number(off)?
        } else if c == b'"' || c == b'\'' {
            self.string(off, c)?
        } else if c == b'$' {
            self.pv(off)?
        } else if let Some(p) = PUNCT.iter().find(|p| b[off..].starts_with(p.as_bytes())) {
            self.pos += p.len();
            Tok::Punct(p)
        } else {
            let ch = self.text[off..].chars().next().unwrap_or('?');
            return Err(LexError { off, msg: format!("unexpected character '{ch}'") });
        };
        Ok(Token { tok, off })
    }

    fn number(&mut self, off: usize) -> Result<Tok, LexError> {
        let b = self.text.as_bytes();
        if b[off..].starts_with(b"0x") || b[off..].starts_with(b"0X") {
            let end = off + 2 + b[off + 2..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
            self.pos = end;
            return i64::from_str_radix(&self.text[off + 2..end], 16)
                .map(Tok::Int)
                .map_err(|_| LexError { off, msg: "bad hex number".into() });
        }
        let end = off + b[off..].iter().take_while(|c| c.is_ascii_digit() || **c == b'.').count();
        let text = &self.text[off..end];
        self.pos = end;
        if text.contains('.') {
            let parts: Vec<&str> = text.split('.').collect();
            if parts.len() == 4 && parts.iter().all(|p| p.parse::<u8>().is_ok()) {
                return Ok(Tok::Ipv4(text.to_string()));
            }
            // "1.5" and friends: Kamailio has no floats
            return Err(LexError { off, msg: format!("bad number or address '{text}'") });
        }
        // a leading 0 makes an octal number, as in Kamailio's grammar
        // (file modes: 0660)
        if text.len() > 1 && text.starts_with('0') {
            return i64::from_str_radix(&text[1..], 8)
                .map(Tok::Int)
                .map_err(|_| LexError { off, msg: format!("bad octal number '{text}'") });
        }
        text.parse::<i64>().map(Tok::Int).map_err(|_| LexError { off, msg: format!("number out of range '{text}'") })
    }

    fn string(&mut self, off: usize, quote: u8) -> Result<Tok, LexError> {
        let b = self.text.as_bytes();
        let mut out = Vec::new();
        let mut i = off + 1;
        loop {
            let Some(&c) = b.get(i) else {
                return Err(LexError { off, msg: "unterminated string".into() });
            };
            if c == quote {
                self.pos = i + 1;
                return Ok(Tok::Str(out));
            }
            if c == b'\\' {
                let Some(&e) = b.get(i + 1) else {
                    return Err(LexError { off, msg: "unterminated string".into() });
                };
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'\\' => out.push(b'\\'),
                    b'"' => out.push(b'"'),
                    b'\'' => out.push(b'\''),
                    b'\n' => {}
                    // Kamailio keeps unknown escapes as written (regexes
                    // such as "^\+1" depend on it)
                    other => {
                        out.push(b'\\');
                        out.push(other);
                    }
                }
                i += 2;
            } else {
                out.push(c);
                i += 1;
            }
        }
    }

    /// A PV: `$name`, `$name(...)`, `$name[...]`? no — `$(...)` with
    /// balanced brackets, or `$name(...)` with balanced parentheses.
    fn pv(&mut self, off: usize) -> Result<Tok, LexError> {
        let end =
            pv_end(self.text.as_bytes(), off).ok_or(LexError { off, msg: "unterminated pseudo-variable".into() })?;
        if end == off + 1 {
            return Err(LexError { off, msg: "'$' without a pseudo-variable name".into() });
        }
        self.pos = end;
        Ok(Tok::Pv(self.text[off..end].to_string()))
    }
}

/// Where the PV starting at `s[off] == b'$'` ends: `$name`,
/// `$name(inner)` (balanced), `$(...)` (balanced, with `[]` and `{}`
/// inside). `None` when a bracket is never closed.
pub fn pv_end(s: &[u8], off: usize) -> Option<usize> {
    let mut i = off + 1;
    if s.get(i) == Some(&b'(') || s.get(i) == Some(&b'{') {
        return balanced_end(s, i);
    }
    while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
        i += 1;
    }
    if i > off + 1 && s.get(i) == Some(&b'(') {
        return balanced_end(s, i);
    }
    Some(i)
}

/// `s[open]` is an opening bracket; returns the offset after its match.
fn balanced_end(s: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < s.len() {
        match s[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'\n' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        let mut l = Lexer::new(s);
        let mut v = Vec::new();
        loop {
            let t = l.next_token().unwrap().tok;
            if t == Tok::Eof {
                return v;
            }
            v.push(t);
        }
    }

    #[test]
    fn numbers_decimal_hex_octal() {
        assert_eq!(toks("0 7 010 0660 0x1F 0007"), [0, 7, 8, 0o660, 31, 7].map(Tok::Int).to_vec());
        assert!(Lexer::new("09").next_token().unwrap_err().msg.contains("octal"));
    }

    #[test]
    fn tokens() {
        assert_eq!(
            toks("if($rU==$null) { x(\"a\\n\", 0x1f); } # c\n// d\n/* e */ 10.0.0.1 $(avp(a)[1]{s.len}) <<="),
            vec![
                Tok::Ident("if".into()),
                Tok::Punct("("),
                Tok::Pv("$rU".into()),
                Tok::Punct("=="),
                Tok::Pv("$null".into()),
                Tok::Punct(")"),
                Tok::Punct("{"),
                Tok::Ident("x".into()),
                Tok::Punct("("),
                Tok::Str(b"a\n".to_vec()),
                Tok::Punct(","),
                Tok::Int(31),
                Tok::Punct(")"),
                Tok::Punct(";"),
                Tok::Punct("}"),
                Tok::Ipv4("10.0.0.1".into()),
                Tok::Pv("$(avp(a)[1]{s.len})".into()),
                Tok::Punct("<<"),
                Tok::Punct("="),
            ]
        );
    }

    #[test]
    fn positions() {
        let mut l = Lexer::new("a\n  bc");
        l.next_token().unwrap();
        let t = l.next_token().unwrap();
        assert_eq!(t.off, 4);
    }

    #[test]
    fn pv_ends() {
        assert_eq!(pv_end(b"$fu)", 0), Some(3));
        assert_eq!(pv_end(b"$si:$sp", 0), Some(3));
        assert_eq!(pv_end(b"$sht(a=>$si) x", 0), Some(12));
        assert_eq!(pv_end(b"$var(x", 0), None);
    }
}
