//! Kamailio's substitution expressions, `/regex/replacement/flags` with
//! any separator: `#!subst` in the preprocessor and the `subst*`
//! functions of textops share this one parser.

use regex::bytes::{Regex, RegexBuilder};

/// Splits `SEPregexSEPreplacementSEPflags` (the separator is the first
/// character; a backslash before it keeps it literal).
pub fn split_subst(expr: &str) -> Result<(String, String, String), String> {
    let mut chars = expr.chars();
    let sep = chars.next().ok_or("empty substitution expression")?;
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in chars {
        if escaped {
            if c != sep {
                parts.last_mut().expect("one part").push('\\');
            }
            parts.last_mut().expect("one part").push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep && parts.len() < 3 {
            parts.push(String::new());
        } else {
            parts.last_mut().expect("one part").push(c);
        }
    }
    if escaped {
        parts.last_mut().expect("one part").push('\\');
    }
    match <[String; 3]>::try_from(parts) {
        Ok([re, repl, flags]) => Ok((re, repl, flags)),
        Err(_) => Err(format!("expected {sep}regex{sep}replacement{sep}flags")),
    }
}

/// One piece of a replacement.
#[derive(Debug)]
enum Piece {
    Lit(Vec<u8>),
    /// `\N`: capture group N (`\0` the whole match).
    Group(usize),
    /// Literal text with PVs in it, read per call (the script's `subst*`
    /// functions: `subst_body('/^o=([a-z]+) /o=$fU /')`).
    Fmt(Box<super::pv::Format>),
}

/// A compiled `/regex/replacement/flags`.
#[derive(Debug)]
pub struct SubstExpr {
    /// The regex (flag `i`: ignore case).
    pub re: Regex,
    replacement: Vec<Piece>,
    /// Flag `g`: every match, not only the first.
    pub global: bool,
}

impl SubstExpr {
    /// Parses and compiles an expression.
    pub fn parse(expr: &str) -> Result<SubstExpr, String> {
        let (re, repl, flags) = split_subst(expr)?;
        if let Some(f) = flags.chars().find(|f| !matches!(f, 'g' | 'i' | 's')) {
            return Err(format!("unknown substitution flag '{f}'"));
        }
        // as POSIX regcomp with REG_NEWLINE unless `s`: `^`/`$` at line
        // ends and `.` not crossing them; with `s` the text is one line
        let one_line = flags.contains('s');
        let re = RegexBuilder::new(&re)
            .case_insensitive(flags.contains('i'))
            .multi_line(!one_line)
            .dot_matches_new_line(one_line)
            .unicode(false)
            .build()
            .map_err(|e| format!("bad regular expression: {e}"))?;
        let mut replacement = Vec::new();
        let mut lit = Vec::new();
        let b = repl.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' && i + 1 < b.len() {
                let n = b[i + 1];
                if n.is_ascii_digit() {
                    let g = (n - b'0') as usize;
                    if g >= re.captures_len() {
                        return Err(format!("\\{g} refers to a group the regex does not have"));
                    }
                    if !lit.is_empty() {
                        replacement.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    replacement.push(Piece::Group(g));
                } else {
                    lit.push(match n {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        other => other,
                    });
                }
                i += 2;
            } else {
                lit.push(b[i]);
                i += 1;
            }
        }
        if !lit.is_empty() {
            replacement.push(Piece::Lit(lit));
        }
        Ok(SubstExpr { re, replacement, global: flags.contains('g') })
    }

    /// Lets the replacement's literal parts hold PVs (`$fU`), resolved
    /// here and read by [`matches`](Self::matches) for the message at hand
    /// (the cfg's functions; the preprocessor's `#!subst` has none).
    pub fn resolve_pvs(&mut self, reg: &super::pv::PvRegistry, names: &mut super::pv::Names) -> Result<(), String> {
        for p in &mut self.replacement {
            if let Piece::Lit(l) = p {
                if l.contains(&b'$') {
                    let f = super::pv::Format::parse(l, reg, names)?;
                    if f.as_literal().is_none() {
                        *p = Piece::Fmt(Box::new(f));
                    }
                }
            }
        }
        Ok(())
    }

    /// The matches in `hay` (the first, or all with `g`) as (start, end,
    /// replacement text); PVs in the replacement are read from `ctx`.
    pub fn matches(&self, hay: &[u8], ctx: Option<&super::ctx::Ctx<'_>>) -> Vec<(usize, usize, Vec<u8>)> {
        let mut out = Vec::new();
        for caps in self.re.captures_iter(hay) {
            let whole = caps.get(0).expect("group 0 always matches");
            let mut text = Vec::new();
            for p in &self.replacement {
                match p {
                    Piece::Lit(l) => text.extend_from_slice(l),
                    Piece::Group(g) => text.extend_from_slice(caps.get(*g).map_or(&b""[..], |m| m.as_bytes())),
                    Piece::Fmt(f) => {
                        if let Some(ctx) = ctx {
                            f.eval_into(ctx, &mut text);
                        }
                    }
                }
            }
            out.push((whole.start(), whole.end(), text));
            if !self.global {
                break;
            }
        }
        out
    }

    /// `hay` with the substitutions made, or `None` when nothing matched.
    pub fn apply(&self, hay: &[u8], ctx: Option<&super::ctx::Ctx<'_>>) -> Option<Vec<u8>> {
        let m = self.matches(hay, ctx);
        if m.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(hay.len());
        let mut at = 0;
        for (s, e, text) in m {
            out.extend_from_slice(&hay[at..s]);
            out.extend_from_slice(&text);
            at = e;
        }
        out.extend_from_slice(&hay[at..]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutions() {
        let s = SubstExpr::parse("/^sip:([0-9]+)@(.*)$/sip:00\\1@\\2/").unwrap();
        assert_eq!(s.apply(b"sip:123@h.example", None).unwrap(), b"sip:00123@h.example");
        let s = SubstExpr::parse("#a#b#gi").unwrap();
        assert_eq!(s.apply(b"AaA", None).unwrap(), b"bbb");
        assert!(SubstExpr::parse("/a/b/").unwrap().apply(b"xyz", None).is_none());
        assert_eq!(split_subst("/a\\/b/c/g").unwrap(), ("a/b".into(), "c".into(), "g".into()));
        assert!(SubstExpr::parse("/a/\\3/").is_err());
        assert!(SubstExpr::parse("/a/b").is_err());
    }
}
