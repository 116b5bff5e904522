//! The cfg parser: a hand-written recursive-descent parser over the
//! lexer, so that every error can say exactly where and what was
//! expected. Operator precedence is Kamailio's (cfg.y), lowest first:
//! `||`, `&&`, `|`, `&`, `^`, `<<`, `>>`, `== != =~ !~`, `< > <= >=`,
//! `+ -`, `* / mod`, then the unary `! - ~ defined strlen strempty`.

use super::ast::*;
use super::lex::{LexError, Lexer, Tok, Token};

/// A parse error at a byte offset of the preprocessed text.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Byte offset.
    pub off: usize,
    /// What was wrong / expected.
    pub msg: String,
}

impl From<LexError> for SyntaxError {
    fn from(e: LexError) -> Self {
        SyntaxError { off: e.off, msg: e.msg }
    }
}

type PResult<T> = Result<T, SyntaxError>;

/// Core parameters whose value is socket-like text read up to the end of
/// the line (`listen=udp:1.2.3.4:5060 advertise 5.6.7.8:5060`).
const RAW_PARAMS: &[&str] =
    &["listen", "alias", "advertised_address", "socket", "force_send_socket", "bind", "domain", "tcp_source_ipv4"];

/// Parses preprocessed cfg text.
pub fn parse(text: &str) -> Result<CfgFile, SyntaxError> {
    let mut p = Parser { lx: Lexer::new(text) };
    let mut file = CfgFile::default();
    loop {
        let t = p.lx.peek()?.clone();
        match t.tok {
            Tok::Eof => return Ok(file),
            Tok::Punct(";") => {
                p.lx.next_token()?;
            }
            Tok::Ident(ref id) => {
                let item = p.top_item(id, t.off)?;
                file.items.push(item);
            }
            other => {
                return Err(
                    p.err(t.off, format!("expected a parameter, module or route block, found {}", other.describe()))
                )
            }
        }
    }
}

struct Parser<'t> {
    lx: Lexer<'t>,
}

fn pos(off: usize) -> Pos {
    off as Pos
}

impl<'t> Parser<'t> {
    fn err(&self, off: usize, msg: impl Into<String>) -> SyntaxError {
        SyntaxError { off, msg: msg.into() }
    }

    fn next(&mut self) -> PResult<Token> {
        Ok(self.lx.next_token()?)
    }

    fn peek_tok(&mut self) -> PResult<Tok> {
        Ok(self.lx.peek()?.tok.clone())
    }

    fn is_punct(&mut self, p: &str) -> PResult<bool> {
        Ok(matches!(&self.lx.peek()?.tok, Tok::Punct(x) if *x == p))
    }

    fn eat_punct(&mut self, p: &str) -> PResult<bool> {
        if self.is_punct(p)? {
            self.lx.next_token()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn expect_punct(&mut self, p: &str, what: &str) -> PResult<Token> {
        let t = self.next()?;
        match &t.tok {
            Tok::Punct(x) if *x == p => Ok(t),
            other => Err(self.err(t.off, format!("expected '{p}' {what}, found {}", other.describe()))),
        }
    }

    fn is_ident(&mut self, name: &str) -> PResult<bool> {
        Ok(matches!(&self.lx.peek()?.tok, Tok::Ident(x) if x == name))
    }

    /// One or more adjacent string literals, joined.
    fn strings(&mut self, what: &str) -> PResult<(Vec<u8>, usize)> {
        let t = self.next()?;
        let Tok::Str(mut s) = t.tok else {
            return Err(self.err(t.off, format!("expected a string {what}, found {}", t.tok.describe())));
        };
        while let Tok::Str(more) = self.peek_tok()? {
            self.next()?;
            s.extend_from_slice(&more);
        }
        Ok((s, t.off))
    }

    fn string_text(&mut self, what: &str) -> PResult<(String, usize)> {
        let (s, off) = self.strings(what)?;
        String::from_utf8(s).map(|s| (s, off)).map_err(|_| self.err(off, format!("{what} is not UTF-8")))
    }

    // ------------------------------------------------------------------
    // Top level

    fn top_item(&mut self, id: &str, off: usize) -> PResult<Item> {
        match id {
            // the x forms evaluate variables in their strings: sipr takes
            // them when there is none to evaluate
            "loadmodule" | "loadmodulex" => {
                self.next()?;
                let paren = self.eat_punct("(")?;
                let (path, path_off) = self.string_text("(the module path) after loadmodule")?;
                if id == "loadmodulex" && path.contains('$') {
                    return Err(self.err(path_off, "variables in loadmodulex are not supported by sipr yet"));
                }
                if paren {
                    self.expect_punct(")", "after the module path")?;
                }
                self.eat_punct(";")?;
                Ok(Item::LoadModule { path, at: pos(off) })
            }
            "modparam" | "modparamx" => self.modparam(off, id == "modparamx"),
            "flags" | "avpflags" => {
                self.next()?;
                let mut names = Vec::new();
                loop {
                    let t = self.next()?;
                    let Tok::Ident(name) = t.tok else {
                        return Err(self.err(t.off, format!("expected a flag name, found {}", t.tok.describe())));
                    };
                    let bit = if self.eat_punct(":")? {
                        let b = self.next()?;
                        match b.tok {
                            Tok::Int(i) => Some(i),
                            other => {
                                return Err(
                                    self.err(b.off, format!("expected a flag number, found {}", other.describe()))
                                )
                            }
                        }
                    } else {
                        None
                    };
                    names.push((name, bit, pos(t.off)));
                    if !self.eat_punct(",")? {
                        break;
                    }
                }
                self.eat_punct(";")?;
                Ok(Item::Flags { avp: id == "avpflags", names })
            }
            "route" | "request_route" | "reply_route" | "onreply_route" | "failure_route" | "branch_route"
            | "onsend_route" | "event_route" => self.route_block(id, off),
            _ => self.param(off),
        }
    }

    fn modparam(&mut self, off: usize, x: bool) -> PResult<Item> {
        self.next()?;
        self.expect_punct("(", "after modparam")?;
        let (module, _) = self.string_text("(the module name)")?;
        self.expect_punct(",", "after the module name")?;
        let (param, _) = self.string_text("(the parameter name)")?;
        self.expect_punct(",", "after the parameter name")?;
        let t = self.lx.peek()?.clone();
        let value = match t.tok {
            Tok::Str(_) => {
                let (v, v_off) = self.string_text("")?;
                if x && v.contains('$') {
                    return Err(self.err(v_off, "variables in modparamx are not supported by sipr yet"));
                }
                ModValue::Str(v)
            }
            Tok::Int(i) => {
                self.next()?;
                ModValue::Int(i)
            }
            Tok::Punct("-") => {
                self.next()?;
                let n = self.next()?;
                match n.tok {
                    Tok::Int(i) => ModValue::Int(-i),
                    other => return Err(self.err(n.off, format!("expected a number, found {}", other.describe()))),
                }
            }
            Tok::Ident(ref w) => match bool_word(w) {
                Some(b) => {
                    self.next()?;
                    ModValue::Int(b as i64)
                }
                None => {
                    return Err(self.err(
                        t.off,
                        format!("expected a string or a number as modparam value, found '{w}' (an undefined name?)"),
                    ))
                }
            },
            other => {
                return Err(self.err(
                    t.off,
                    format!("expected a string or a number as modparam value, found {}", other.describe()),
                ))
            }
        };
        self.expect_punct(")", "to close modparam")?;
        self.eat_punct(";")?;
        Ok(Item::ModParam { module, param, value, at: pos(off) })
    }

    fn param(&mut self, off: usize) -> PResult<Item> {
        let t = self.next()?;
        let Tok::Ident(mut name) = t.tok else { unreachable!("caller peeked an identifier") };
        let mut custom = false;
        while self.eat_punct(".")? {
            let n = self.next()?;
            let Tok::Ident(part) = n.tok else {
                return Err(self.err(n.off, format!("expected a name after '.', found {}", n.tok.describe())));
            };
            name.push('.');
            name.push_str(&part);
            custom = true;
        }
        // kemi.* are core parameters, not a custom group (Kamailio)
        if name.starts_with("kemi.") {
            custom = false;
        }
        if !self.is_punct("=")? {
            let t = self.lx.peek()?.clone();
            return Err(self.err(
                t.off,
                format!("expected '=' after '{name}' (or is '{name}' a misspelt keyword?), found {}", t.tok.describe()),
            ));
        }
        self.next()?;
        let value_at = self.lx.next_offset()?;
        let value = if RAW_PARAMS.contains(&name.as_str()) && !matches!(self.peek_tok()?, Tok::Str(_)) {
            let (raw, roff) = self.lx.raw_until(b"\n;#")?;
            let raw = raw.trim();
            if raw.is_empty() {
                return Err(self.err(roff, format!("missing value for '{name}'")));
            }
            ParamValue::Raw(raw.to_string())
        } else {
            self.param_value()?
        };
        let desc = if custom && self.is_ident("desc")? {
            self.next()?;
            Some(self.string_text("(the description)")?.0)
        } else {
            None
        };
        self.eat_punct(";")?;
        Ok(if custom {
            Item::CustomParam { name, value, desc, at: pos(off) }
        } else {
            Item::Param { name, value, at: pos(off), value_at: pos(value_at) }
        })
    }

    fn param_value(&mut self) -> PResult<ParamValue> {
        let t = self.lx.peek()?.clone();
        Ok(match t.tok {
            Tok::Str(_) => ParamValue::Str(self.string_text("")?.0),
            Tok::Int(i) => {
                self.next()?;
                ParamValue::Int(i)
            }
            Tok::Punct("-") => {
                self.next()?;
                let n = self.next()?;
                match n.tok {
                    Tok::Int(i) => ParamValue::Int(-i),
                    other => return Err(self.err(n.off, format!("expected a number, found {}", other.describe()))),
                }
            }
            Tok::Ipv4(ip) => {
                self.next()?;
                ParamValue::Raw(ip)
            }
            Tok::Ident(w) => {
                self.next()?;
                match bool_word(&w) {
                    Some(b) => ParamValue::Bool(b),
                    None => ParamValue::Ident(w),
                }
            }
            other => return Err(self.err(t.off, format!("expected a value, found {}", other.describe()))),
        })
    }

    fn route_block(&mut self, kw: &str, off: usize) -> PResult<Item> {
        self.next()?;
        let name = if self.is_punct("[")? {
            self.next()?;
            let (raw, roff) = self.lx.raw_until(b"]\n")?;
            let n = raw.trim().trim_matches('"').to_string();
            if n.is_empty() {
                return Err(self.err(roff, "missing route name in '[]'"));
            }
            self.expect_punct("]", "after the route name")?;
            Some(n)
        } else {
            None
        };
        let kind = match kw {
            "route" | "request_route" => RouteKind::Request,
            "reply_route" => RouteKind::Reply,
            "onreply_route" if name.is_none() => RouteKind::Reply,
            "onreply_route" => RouteKind::OnReply,
            "failure_route" => RouteKind::Failure,
            "branch_route" => RouteKind::Branch,
            "onsend_route" => RouteKind::OnSend,
            _ => RouteKind::Event,
        };
        let needs_name = matches!(kind, RouteKind::Failure | RouteKind::Branch | RouteKind::Event);
        if needs_name && name.is_none() {
            return Err(self.err(off, format!("{kw} needs a name: {kw}[NAME]")));
        }
        if name.is_some() && matches!(kw, "request_route" | "reply_route" | "onsend_route") {
            return Err(self.err(off, format!("{kw} takes no name")));
        }
        // route[0] / route["0"] is the main request route, as in SER
        let name = name.filter(|n| !(kind == RouteKind::Request && (n == "0" || n == "DEFAULT_ROUTE")));
        self.expect_punct("{", &format!("to open the {kw} block"))?;
        let body = self.stmts_until_close()?;
        Ok(Item::Route(RouteBlock { kind, name, body, at: pos(off) }))
    }

    // ------------------------------------------------------------------
    // Statements

    /// Statements up to and including the closing `}`.
    fn stmts_until_close(&mut self) -> PResult<Vec<Stmt>> {
        let mut out = Vec::new();
        loop {
            let t = self.lx.peek()?.clone();
            match t.tok {
                Tok::Punct("}") => {
                    self.next()?;
                    return Ok(out);
                }
                Tok::Eof => return Err(self.err(t.off, "expected '}', found end of file (unclosed block)")),
                _ => {
                    if let Some(s) = self.stmt()? {
                        out.push(s);
                    }
                }
            }
        }
    }

    /// A statement as the body of if/else/while: a block or one statement.
    fn body(&mut self) -> PResult<Vec<Stmt>> {
        if self.eat_punct("{")? {
            let b = self.stmts_until_close()?;
            self.eat_punct(";")?;
            return Ok(b);
        }
        Ok(self.stmt()?.into_iter().collect())
    }

    fn end_stmt(&mut self, what: &str) -> PResult<()> {
        let t = self.lx.peek()?.clone();
        match t.tok {
            Tok::Punct(";") => {
                self.next()?;
                Ok(())
            }
            other => Err(self.err(t.off, format!("expected ';' after {what}, found {}", other.describe()))),
        }
    }

    fn stmt(&mut self) -> PResult<Option<Stmt>> {
        let t = self.next()?;
        let at = pos(t.off);
        let kind = match t.tok {
            Tok::Punct(";") => return Ok(None),
            Tok::Punct("{") => {
                let b = self.stmts_until_close()?;
                StmtKind::Block(b)
            }
            Tok::Pv(pv) => {
                if !(self.eat_punct("=")? || self.eat_punct(":=")?) {
                    let n = self.lx.peek()?.clone();
                    return Err(self.err(n.off, format!("expected '=' after {pv}, found {}", n.tok.describe())));
                }
                let value = self.expr()?;
                self.end_stmt("the assignment")?;
                StmtKind::Assign { pv, value }
            }
            Tok::Ident(id) => match id.as_str() {
                "if" => {
                    self.expect_punct("(", "after if")?;
                    let cond = self.expr()?;
                    self.expect_punct(")", "to close the if condition")?;
                    let then = self.body()?;
                    let els = if self.is_ident("else")? {
                        self.next()?;
                        Some(self.body()?)
                    } else {
                        None
                    };
                    StmtKind::If { cond, then, els }
                }
                "while" => {
                    self.expect_punct("(", "after while")?;
                    let cond = self.expr()?;
                    self.expect_punct(")", "to close the while condition")?;
                    StmtKind::While { cond, body: self.body()? }
                }
                "switch" => self.switch()?,
                "return" => {
                    let v = if self.is_punct(";")? { None } else { Some(self.expr()?) };
                    self.end_stmt("return")?;
                    StmtKind::Return(v)
                }
                "exit" | "drop" | "break" => {
                    // `exit()` / `drop()` are accepted as Kamailio does
                    if self.eat_punct("(")? {
                        self.expect_punct(")", &format!("after {id}("))?;
                    }
                    self.end_stmt(&id)?;
                    match id.as_str() {
                        "exit" => StmtKind::Exit,
                        "drop" => StmtKind::Drop,
                        _ => StmtKind::Break,
                    }
                }
                "route" => {
                    self.expect_punct("(", "after route")?;
                    let n = self.next()?;
                    let name = match n.tok {
                        Tok::Ident(s) => s,
                        Tok::Int(i) => i.to_string(),
                        Tok::Str(s) => String::from_utf8_lossy(&s).into_owned(),
                        other => {
                            return Err(self.err(n.off, format!("expected a route name, found {}", other.describe())))
                        }
                    };
                    self.expect_punct(")", "after the route name")?;
                    self.end_stmt("route(...)")?;
                    StmtKind::Route(name)
                }
                "else" => return Err(self.err(t.off, "'else' without 'if'")),
                "case" | "default" => return Err(self.err(t.off, format!("'{id}' outside a switch"))),
                // Kamailio's grammar takes a socket (or a protocol) unquoted
                // here: force_send_socket(udp:127.0.0.1:5060),
                // udp_mtu_try_proto(TCP)
                "force_send_socket" | "udp_mtu_try_proto" if self.is_punct("(")? => {
                    self.next()?;
                    let (raw, off) = self.lx.raw_until(b")")?;
                    let raw = raw.trim();
                    let text = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
                    if text.is_empty() {
                        return Err(self.err(off, format!("{id} needs a socket or a protocol")));
                    }
                    self.expect_punct(")", &format!("to close {id}("))?;
                    self.end_stmt(&format!("{id}(...)"))?;
                    let at = pos(off);
                    StmtKind::Call { name: id, args: vec![Expr { kind: ExprKind::Str(text.as_bytes().to_vec()), at }] }
                }
                _ => {
                    let args = if self.eat_punct("(")? { self.args()? } else { Vec::new() };
                    self.end_stmt(&format!("{id}(...)"))?;
                    StmtKind::Call { name: id, args }
                }
            },
            other => {
                return Err(self.err(t.off, format!("expected a statement, found {}", other.describe())));
            }
        };
        Ok(Some(Stmt { kind, at }))
    }

    fn switch(&mut self) -> PResult<StmtKind> {
        self.expect_punct("(", "after switch")?;
        let value = self.expr()?;
        self.expect_punct(")", "to close the switch value")?;
        self.expect_punct("{", "to open the switch block")?;
        let mut cases: Vec<(Option<Expr>, Vec<Stmt>)> = Vec::new();
        loop {
            let t = self.next()?;
            match &t.tok {
                Tok::Punct("}") => break,
                Tok::Ident(k) if k == "case" => {
                    let label = self.unary()?;
                    self.expect_punct(":", "after the case label")?;
                    cases.push((Some(label), Vec::new()));
                }
                Tok::Ident(k) if k == "default" => {
                    self.expect_punct(":", "after default")?;
                    if cases.iter().any(|(l, _)| l.is_none()) {
                        return Err(self.err(t.off, "more than one default in a switch"));
                    }
                    cases.push((None, Vec::new()));
                }
                Tok::Eof => return Err(self.err(t.off, "expected '}', found end of file (unclosed switch)")),
                _ => {
                    let Some(last) = cases.last_mut() else {
                        return Err(
                            self.err(t.off, format!("expected 'case' or 'default', found {}", t.tok.describe()))
                        );
                    };
                    self.lx_unread(t);
                    if let Some(s) = self.stmt()? {
                        last.1.push(s);
                    }
                }
            }
        }
        self.eat_punct(";")?;
        Ok(StmtKind::Switch { value, cases })
    }

    /// Puts a token back (only right after reading it).
    fn lx_unread(&mut self, t: Token) {
        self.lx.unread(t);
    }

    fn args(&mut self) -> PResult<Vec<Expr>> {
        let mut args = Vec::new();
        if self.eat_punct(")")? {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat_punct(")")? {
                return Ok(args);
            }
            let t = self.lx.peek()?.clone();
            if !self.eat_punct(",")? {
                return Err(
                    self.err(t.off, format!("expected ',' or ')' in the argument list, found {}", t.tok.describe()))
                );
            }
        }
    }

    // ------------------------------------------------------------------
    // Expressions

    fn expr(&mut self) -> PResult<Expr> {
        self.binary(0)
    }

    fn binary(&mut self, level: usize) -> PResult<Expr> {
        if level >= LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        loop {
            let t = self.lx.peek()?.clone();
            let op = match &t.tok {
                Tok::Punct(p) => LEVELS[level].iter().find(|(s, _)| s == p).map(|(_, o)| *o),
                Tok::Ident(w) => LEVELS[level].iter().find(|(s, _)| s == w).map(|(_, o)| *o),
                _ => None,
            };
            let Some(op) = op else { return Ok(lhs) };
            self.next()?;
            let rhs = self.binary(level + 1)?;
            let at = lhs.at;
            lhs = Expr { kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), at };
        }
    }

    fn unary(&mut self) -> PResult<Expr> {
        let t = self.next()?;
        let at = pos(t.off);
        let un = |op, e| Expr { kind: ExprKind::Unary(op, Box::new(e)), at };
        Ok(match t.tok {
            Tok::Punct("!") => un(UnOp::Not, self.unary()?),
            Tok::Punct("-") => un(UnOp::Neg, self.unary()?),
            Tok::Punct("~") => un(UnOp::BitNot, self.unary()?),
            Tok::Punct("(") => {
                // a cast: (int) / (str)
                if let Tok::Ident(w) = self.peek_tok()? {
                    if w == "int" || w == "str" {
                        self.next()?;
                        self.expect_punct(")", &format!("to close ({w}"))?;
                        return Ok(un(if w == "int" { UnOp::ToInt } else { UnOp::ToStr }, self.unary()?));
                    }
                }
                let e = self.expr()?;
                self.expect_punct(")", "to close '('")?;
                e
            }
            Tok::Int(i) => Expr { kind: ExprKind::Int(i), at },
            Tok::Str(mut s) => {
                while let Tok::Str(more) = self.peek_tok()? {
                    self.next()?;
                    s.extend_from_slice(&more);
                }
                Expr { kind: ExprKind::Str(s), at }
            }
            Tok::Pv(p) => Expr { kind: ExprKind::Pv(p), at },
            Tok::Ipv4(ip) => {
                // a network: 10.0.0.0/8
                let mut text = ip;
                if self.is_punct("/")? {
                    self.next()?;
                    let n = self.next()?;
                    match n.tok {
                        Tok::Int(b) => text = format!("{text}/{b}"),
                        Tok::Ipv4(m) => text = format!("{text}/{m}"),
                        other => {
                            return Err(self.err(n.off, format!("expected a prefix length, found {}", other.describe())))
                        }
                    }
                }
                Expr { kind: ExprKind::Ip(text), at }
            }
            Tok::Ident(w) => match w.as_str() {
                "not" => un(UnOp::Not, self.unary()?),
                "defined" => un(UnOp::Defined, self.unary()?),
                "strlen" | "strempty" => {
                    self.expect_punct("(", &format!("after {w}"))?;
                    let e = self.expr()?;
                    self.expect_punct(")", &format!("to close {w}("))?;
                    un(if w == "strlen" { UnOp::StrLen } else { UnOp::StrEmpty }, e)
                }
                _ => {
                    if self.is_punct("(")? {
                        self.next()?;
                        let args = self.args()?;
                        Expr { kind: ExprKind::Call { name: w, args }, at }
                    } else if w == "msg" && self.is_punct(":")? {
                        // msg:len
                        self.next()?;
                        let n = self.next()?;
                        match n.tok {
                            Tok::Ident(x) => Expr { kind: ExprKind::Ident(format!("msg:{x}")), at },
                            other => {
                                return Err(self.err(n.off, format!("expected msg:len, found {}", other.describe())))
                            }
                        }
                    } else {
                        Expr { kind: ExprKind::Ident(w), at }
                    }
                }
            },
            Tok::Punct("[") => {
                // an IPv6 address: [::1] or [2001:db8::]/32
                let (raw, roff) = self.lx.raw_until(b"]\n")?;
                self.expect_punct("]", "to close the IPv6 address")?;
                let mut text = format!("[{}]", raw.trim());
                if self.is_punct("/")? {
                    self.next()?;
                    let n = self.next()?;
                    let Tok::Int(b) = n.tok else {
                        return Err(self.err(n.off, "expected a prefix length"));
                    };
                    text = format!("{text}/{b}");
                }
                if raw.trim().parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(self.err(roff, format!("bad IPv6 address '{}'", raw.trim())));
                }
                Expr { kind: ExprKind::Ip(text), at }
            }
            other => return Err(self.err(t.off, format!("expected an expression, found {}", other.describe()))),
        })
    }
}

/// Binary operators by precedence level, lowest first.
const LEVELS: &[&[(&str, BinOp)]] = &[
    &[("||", BinOp::Or), ("or", BinOp::Or)],
    &[("&&", BinOp::And), ("and", BinOp::And)],
    &[("|", BinOp::BitOr)],
    &[("&", BinOp::BitAnd)],
    &[("^", BinOp::BitXor)],
    &[("<<", BinOp::Shl), (">>", BinOp::Shr)],
    &[
        ("==", BinOp::Eq),
        ("!=", BinOp::Ne),
        ("=~", BinOp::Match),
        ("!~", BinOp::NoMatch),
        ("eq", BinOp::StrEq),
        ("ne", BinOp::StrNe),
        ("ieq", BinOp::IntEq),
        ("ine", BinOp::IntNe),
    ],
    &[("<", BinOp::Lt), (">", BinOp::Gt), ("<=", BinOp::Le), (">=", BinOp::Ge)],
    &[("+", BinOp::Add), ("-", BinOp::Sub)],
    &[("*", BinOp::Mul), ("/", BinOp::Div), ("mod", BinOp::Mod), ("%", BinOp::Mod)],
];

/// `yes`/`no` and friends as Kamailio's lexer reads them.
pub fn bool_word(w: &str) -> Option<bool> {
    match w.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "enable" => Some(true),
        "no" | "false" | "off" | "disable" => Some(false),
        _ => None,
    }
}
