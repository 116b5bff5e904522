//! Transformations: `{s.len}`, `{uri.user}`, `{param.value,name}`, ...
//! parsed once at compile time, applied to a PV's value per message.

use std::borrow::Cow;

use super::ctx::Ctx;
use super::pv::{Names, PvRef, PvRegistry};
use super::value::{str_to_int, trim_ascii, Value};
use crate::sip::{NameAddr, Span, Uri};

/// A transformation parameter: a constant or a PV read per message.
#[derive(Debug)]
pub enum TrParam {
    /// A number.
    Int(i64),
    /// A text.
    Str(Vec<u8>),
    /// A PV.
    Pv(Box<PvRef>),
}

impl TrParam {
    fn parse(s: &str, reg: &PvRegistry, names: &mut Names) -> Result<TrParam, String> {
        if s.starts_with('$') {
            return Ok(TrParam::Pv(Box::new(reg.resolve(s, names)?)));
        }
        Ok(match s.trim().parse::<i64>() {
            Ok(i) => TrParam::Int(i),
            Err(_) => TrParam::Str(unescape_sep(s)),
        })
    }

    fn int(&self, ctx: &Ctx<'_>) -> i64 {
        match self {
            TrParam::Int(i) => *i,
            TrParam::Str(s) => str_to_int(s).unwrap_or(0),
            TrParam::Pv(p) => p.value(ctx).to_int(),
        }
    }

    fn bytes<'c>(&'c self, ctx: &'c Ctx<'_>) -> Cow<'c, [u8]> {
        match self {
            TrParam::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            TrParam::Str(s) => Cow::Borrowed(s),
            TrParam::Pv(p) => Cow::Owned(p.value(ctx).to_bytes().into_owned()),
        }
    }
}

/// `\;` style escapes are not Kamailio's; but `\t`, `\n` are allowed in
/// separators.
fn unescape_sep(s: &str) -> Vec<u8> {
    match s {
        "\\t" => b"\t".to_vec(),
        "\\n" => b"\n".to_vec(),
        _ => s.as_bytes().to_vec(),
    }
}

/// One transformation.
#[derive(Debug)]
pub enum Transform {
    /// `s.len`
    Len,
    /// `s.substr,offset,length` (negative offset from the end; length 0 = to the end)
    Substr(TrParam, TrParam),
    /// `s.select,index,separator`
    Select(TrParam, u8),
    /// `s.tolower`
    ToLower,
    /// `s.toupper`
    ToUpper,
    /// `s.strip,n`: drop the first n bytes
    Strip(TrParam),
    /// `s.striptail,n`: drop the last n bytes
    StripTail(TrParam),
    /// `s.trim`
    Trim,
    /// `s.int`
    Int,
    /// `s.md5`
    Md5,
    /// `s.encode.hexa`
    EncodeHexa,
    /// `s.decode.hexa`
    DecodeHexa,
    /// `uri.user`
    UriUser,
    /// `uri.host` (also `uri.domain`)
    UriHost,
    /// `uri.port`
    UriPort,
    /// `uri.params`
    UriParams,
    /// `uri.param,name`
    UriParam(TrParam),
    /// `uri.transport`
    UriTransport,
    /// `uri.scheme`
    UriScheme,
    /// `param.value,name[,sep]`
    ParamValue(TrParam, u8),
    /// `param.count[,sep]`
    ParamCount(u8),
    /// `param.in,name[,sep]`: 1 or 0
    ParamIn(TrParam, u8),
    /// `param.valueat,index[,sep]`
    ParamValueAt(TrParam, u8),
    /// `param.name,index[,sep]`
    ParamName(TrParam, u8),
    /// A text-to-text function without parameters (`s.sha256`,
    /// `s.escape.user`, `uri.saor`, ...).
    Text(TextFn),
    /// `s.prefixes[,len]` / `s.prefixes.quoted[,len]`
    Prefixes(Option<TrParam>, bool),
    /// `s.replace,match,repl`
    Replace(TrParam, TrParam),
    /// `s.rm,match`
    Remove(TrParam),
    /// `s.count,c`
    Count(u8),
    /// `s.after,c` / `s.rafter,c` / `s.before,c` / `s.rbefore,c`
    Around(u8, Around),
    /// `s.fmtlines,n,m` (spaces) / `s.fmtlinet,n,m` (tabs)
    FmtLines(TrParam, TrParam, u8),
    /// `s.ftime,format`
    Ftime(Vec<u8>),
    /// `line.at,pos`
    LineAt(TrParam),
    /// `line.sw,prefix`
    LineStartsWith(TrParam),
    /// `re.subst,/re/repl/flags`
    ReSubst(Box<super::subst::SubstExpr>),
    /// `nameaddr.uri`
    NameaddrUri,
    /// `nameaddr.name`
    NameaddrName,
    /// `tobody.tag`
    TobodyTag,
    /// `tobody.uri`
    TobodyUri,
    /// `tobody.user`
    TobodyUser,
    /// `tobody.host`
    TobodyHost,
    /// `tobody.display`
    TobodyDisplay,
    /// `line.count`
    LineCount,
}

/// Which side of a character `s.after` and friends keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Around {
    /// After the first occurrence.
    After,
    /// After the last occurrence.
    RAfter,
    /// Before the first occurrence.
    Before,
    /// Before the last occurrence.
    RBefore,
}

/// The parameterless text transformations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFn {
    /// `s.sha256`
    Sha256,
    /// `s.sha384`
    Sha384,
    /// `s.sha512`
    Sha512,
    /// `s.encode.base58`
    EncodeBase58,
    /// `s.decode.base58`
    DecodeBase58,
    /// `s.encode.base64` and the other base64 flavours
    EncodeBase64(B64),
    /// `s.decode.base64` and the others
    DecodeBase64(B64),
    /// `s.escape.common`
    EscapeCommon,
    /// `s.unescape.common`
    UnescapeCommon,
    /// `s.escape.user`
    EscapeUser,
    /// `s.escape.param`
    EscapeParam,
    /// `s.unescape.user` / `s.unescape.param` / `s.urldecode.param`
    Unescape,
    /// `s.urlencode.param`
    UrlEncode,
    /// `s.escape.csv`
    EscapeCsv,
    /// `s.numeric`
    Numeric,
    /// `s.ltrim`
    LTrim,
    /// `s.rtrim`
    RTrim,
    /// `s.rmws`
    RemoveWs,
    /// `s.unquote`
    Unquote,
    /// `s.unbracket`
    Unbracket,
    /// `uri.passwd`
    UriPasswd,
    /// `uri.headers`
    UriHeaders,
    /// `uri.ttl`, `uri.uparam`, `uri.maddr`, `uri.method`, `uri.lr`,
    /// `uri.r2`: a named parameter
    UriNamedParam(&'static str),
    /// `uri.tosocket`
    UriToSocket,
    /// `uri.duri`
    UriDuri,
    /// `uri.saor`
    UriSaor,
    /// `uri.suri`
    UriSuri,
    /// `nameaddr.len`
    NameaddrLen,
    /// `tobody.params`
    TobodyParams,
    /// `urialias.encode`
    UriAliasEncode,
    /// `urialias.decode`
    UriAliasDecode,
}

/// A base64 flavour: the URL-safe alphabet or not, padded or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct B64 {
    /// `-` and `_` instead of `+` and `/`.
    pub url: bool,
    /// With `=` padding.
    pub pad: bool,
}

/// Splits transformation text at commas (a PV parameter may contain
/// commas inside its brackets).
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn sep_param(p: Option<&str>, default: u8) -> Result<u8, String> {
    match p.map(unescape_sep) {
        None => Ok(default),
        Some(s) if s.len() == 1 => Ok(s[0]),
        Some(s) => Err(format!("separator must be one character, not '{}'", String::from_utf8_lossy(&s))),
    }
}

/// The parameterless text transformations by name.
fn text_fn(name: &str) -> Option<TextFn> {
    use TextFn as F;
    const B: B64 = B64 { url: false, pad: true };
    Some(match name {
        "s.sha256" => F::Sha256,
        "s.sha384" => F::Sha384,
        "s.sha512" => F::Sha512,
        "s.encode.base58" => F::EncodeBase58,
        "s.decode.base58" => F::DecodeBase58,
        "s.encode.base64" => F::EncodeBase64(B),
        "s.decode.base64" => F::DecodeBase64(B),
        "s.encode.base64t" => F::EncodeBase64(B64 { pad: false, ..B }),
        "s.decode.base64t" => F::DecodeBase64(B64 { pad: false, ..B }),
        "s.encode.base64url" => F::EncodeBase64(B64 { url: true, ..B }),
        "s.decode.base64url" => F::DecodeBase64(B64 { url: true, ..B }),
        "s.encode.base64urlt" => F::EncodeBase64(B64 { url: true, pad: false }),
        "s.decode.base64urlt" => F::DecodeBase64(B64 { url: true, pad: false }),
        "s.escape.common" => F::EscapeCommon,
        "s.unescape.common" => F::UnescapeCommon,
        "s.escape.user" => F::EscapeUser,
        "s.escape.param" => F::EscapeParam,
        "s.unescape.user" | "s.unescape.param" | "s.urldecode.param" => F::Unescape,
        "s.urlencode.param" => F::UrlEncode,
        "s.escape.csv" => F::EscapeCsv,
        "s.numeric" => F::Numeric,
        "s.ltrim" => F::LTrim,
        "s.rtrim" => F::RTrim,
        "s.rmws" => F::RemoveWs,
        "s.unquote" => F::Unquote,
        "s.unbracket" => F::Unbracket,
        "uri.passwd" => F::UriPasswd,
        "uri.headers" => F::UriHeaders,
        "uri.ttl" => F::UriNamedParam("ttl"),
        "uri.uparam" => F::UriNamedParam("user"),
        "uri.maddr" => F::UriNamedParam("maddr"),
        "uri.method" => F::UriNamedParam("method"),
        "uri.lr" => F::UriNamedParam("lr"),
        "uri.r2" => F::UriNamedParam("r2"),
        "uri.tosocket" => F::UriToSocket,
        "uri.duri" => F::UriDuri,
        "uri.saor" => F::UriSaor,
        "uri.suri" => F::UriSuri,
        "nameaddr.len" => F::NameaddrLen,
        "tobody.params" => F::TobodyParams,
        "urialias.encode" => F::UriAliasEncode,
        "urialias.decode" => F::UriAliasDecode,
        _ => return None,
    })
}

impl Transform {
    /// Parses the text inside `{...}`.
    pub fn parse(text: &str, reg: &PvRegistry, names: &mut Names) -> Result<Transform, String> {
        let mut parts = split_params(text.trim());
        let name = parts[0].trim();
        // a one-character parameter at the end may itself be a comma
        // (`{s.select,1,,}`, `{s.count,,}`): the rest of the text is it
        let tail_char_at = match name {
            "s.select" => Some(2),
            "s.count" | "s.after" | "s.rafter" | "s.before" | "s.rbefore" => Some(1),
            _ => None,
        };
        if let Some(n) = tail_char_at {
            if parts.len() > n + 1 {
                let head: usize = parts[..n].iter().map(|p| p.len() + 1).sum();
                let rest = &text.trim()[head..];
                parts.truncate(n);
                parts.push(rest);
            }
        }
        let args = &parts[1..];
        let want = |n: usize| -> Result<(), String> {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("{name} takes {n} parameter(s), {} given", args.len()))
            }
        };
        let mut p = |i: usize| TrParam::parse(args[i], reg, names);
        use Transform as T;
        Ok(match name {
            "s.len" => (want(0)?, T::Len).1,
            "s.substr" => {
                want(2)?;
                T::Substr(p(0)?, p(1)?)
            }
            "s.select" => {
                want(2)?;
                T::Select(p(0)?, sep_param(Some(args[1]), b',')?)
            }
            "s.tolower" => (want(0)?, T::ToLower).1,
            "s.toupper" => (want(0)?, T::ToUpper).1,
            "s.strip" => {
                want(1)?;
                T::Strip(p(0)?)
            }
            "s.striptail" => {
                want(1)?;
                T::StripTail(p(0)?)
            }
            "s.trim" => (want(0)?, T::Trim).1,
            "s.int" => (want(0)?, T::Int).1,
            "s.md5" => (want(0)?, T::Md5).1,
            "s.encode.hexa" => (want(0)?, T::EncodeHexa).1,
            "s.decode.hexa" => (want(0)?, T::DecodeHexa).1,
            "uri.user" => (want(0)?, T::UriUser).1,
            "uri.host" | "uri.domain" => (want(0)?, T::UriHost).1,
            "uri.port" => (want(0)?, T::UriPort).1,
            "uri.params" => (want(0)?, T::UriParams).1,
            "uri.param" => {
                want(1)?;
                T::UriParam(p(0)?)
            }
            "uri.transport" => (want(0)?, T::UriTransport).1,
            "uri.scheme" => (want(0)?, T::UriScheme).1,
            "param.value" => {
                if args.is_empty() || args.len() > 2 {
                    return Err("param.value takes a name and an optional separator".into());
                }
                T::ParamValue(p(0)?, sep_param(args.get(1).copied(), b';')?)
            }
            "param.in" | "param.valueat" | "param.name" => {
                if args.is_empty() || args.len() > 2 {
                    return Err(format!("{name} takes one parameter and an optional separator"));
                }
                let sep = sep_param(args.get(1).copied(), b';')?;
                match name {
                    "param.in" => T::ParamIn(p(0)?, sep),
                    "param.valueat" => T::ParamValueAt(p(0)?, sep),
                    _ => T::ParamName(p(0)?, sep),
                }
            }
            "s.prefixes" | "s.prefixes.quoted" => {
                if args.len() > 1 {
                    return Err(format!("{name} takes an optional length"));
                }
                T::Prefixes(if args.is_empty() { None } else { Some(p(0)?) }, name.ends_with("quoted"))
            }
            "s.replace" => {
                want(2)?;
                T::Replace(p(0)?, p(1)?)
            }
            "s.rm" => {
                want(1)?;
                T::Remove(p(0)?)
            }
            "s.count" | "s.after" | "s.rafter" | "s.before" | "s.rbefore" => {
                want(1)?;
                let c = match unescape_sep(args[0]).as_slice() {
                    [c] => *c,
                    _ => return Err(format!("{name} takes one character")),
                };
                match name {
                    "s.count" => T::Count(c),
                    "s.after" => T::Around(c, Around::After),
                    "s.rafter" => T::Around(c, Around::RAfter),
                    "s.before" => T::Around(c, Around::Before),
                    _ => T::Around(c, Around::RBefore),
                }
            }
            "s.fmtlines" | "s.fmtlinet" => {
                want(2)?;
                T::FmtLines(p(0)?, p(1)?, if name == "s.fmtlines" { b' ' } else { b'\t' })
            }
            "s.ftime" => {
                // the format is the whole rest: it may hold commas
                let fmt = text.trim().split_once(',').map(|(_, f)| f).ok_or("s.ftime takes a format")?;
                T::Ftime(fmt.as_bytes().to_vec())
            }
            "line.at" => {
                want(1)?;
                T::LineAt(p(0)?)
            }
            "line.sw" => {
                want(1)?;
                T::LineStartsWith(p(0)?)
            }
            "re.subst" => {
                let expr =
                    text.trim().split_once(',').map(|(_, e)| e).ok_or("re.subst takes /regex/replacement/flags")?;
                let mut sx = super::subst::SubstExpr::parse(expr)?;
                sx.resolve_pvs(reg, names)?;
                T::ReSubst(Box::new(sx))
            }
            "param.count" => {
                if args.len() > 1 {
                    return Err("param.count takes an optional separator".into());
                }
                T::ParamCount(sep_param(args.first().copied(), b';')?)
            }
            "nameaddr.uri" => (want(0)?, T::NameaddrUri).1,
            "nameaddr.name" => (want(0)?, T::NameaddrName).1,
            "tobody.tag" => (want(0)?, T::TobodyTag).1,
            "tobody.uri" => (want(0)?, T::TobodyUri).1,
            "tobody.user" => (want(0)?, T::TobodyUser).1,
            "tobody.host" => (want(0)?, T::TobodyHost).1,
            "tobody.display" => (want(0)?, T::TobodyDisplay).1,
            "line.count" => (want(0)?, T::LineCount).1,
            other => match text_fn(other) {
                Some(f) => (want(0)?, T::Text(f)).1,
                None => return Err(format!("unknown transformation '{other}'")),
            },
        })
    }

    /// Applies the transformation. A value it cannot work on (a URI
    /// transformation on text that is no URI) gives `$null`.
    pub fn apply<'c>(&'c self, v: Value<'c>, ctx: &'c Ctx<'_>) -> Value<'c> {
        use Transform as T;
        // Kamailio: a transformation of $null gives the empty string
        if v.is_null() {
            return Value::str(b"");
        }
        if let T::Len = self {
            return Value::Int(v.to_bytes().len() as i64);
        }
        if let T::Int = self {
            // a string that is not wholly a number gives an empty value,
            // as Kamailio's s.int ("12abc" → "")
            return match &v {
                Value::Int(i) => Value::Int(*i),
                Value::Str(s) => str_to_int(s).map_or(Value::str(b""), Value::Int),
                Value::Null => Value::Int(0),
            };
        }
        let s: Cow<'c, [u8]> = match v {
            Value::Str(s) => s,
            Value::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Value::Null => return Value::Null,
        };
        match self {
            T::Len | T::Int => unreachable!("handled above"),
            T::Substr(off, len) => {
                let n = s.len() as i64;
                let mut o = off.int(ctx);
                if o < 0 {
                    o += n;
                }
                // out of range: the empty string, as Kamailio
                if o < 0 || o > n {
                    return Value::str(b"");
                }
                let l = len.int(ctx);
                let end = if l <= 0 { n + l } else { (o + l).min(n) };
                if end < o {
                    return Value::str(b"");
                }
                sub(s, o as usize, end as usize)
            }
            T::Select(idx, sep) => {
                let fields: Vec<(usize, usize)> = field_ranges(&s, *sep);
                let i = idx.int(ctx);
                let pos = if i < 0 { fields.len() as i64 + i } else { i };
                match usize::try_from(pos).ok().and_then(|p| fields.get(p)) {
                    Some(&(a, b)) => sub(s, a, b),
                    None => Value::str(b""),
                }
            }
            T::ToLower => Value::Str(Cow::Owned(s.to_ascii_lowercase())),
            T::ToUpper => Value::Str(Cow::Owned(s.to_ascii_uppercase())),
            T::Strip(n) => {
                let n = n.int(ctx).clamp(0, s.len() as i64) as usize;
                let len = s.len();
                sub(s, n, len)
            }
            T::StripTail(n) => {
                let n = n.int(ctx).clamp(0, s.len() as i64) as usize;
                let len = s.len();
                sub(s, 0, len - n)
            }
            T::Trim => {
                let t = trim_ascii(&s);
                let a = t.as_ptr() as usize - s.as_ptr() as usize;
                let b = a + t.len();
                sub(s, a, b)
            }
            T::Md5 => Value::string(hex(&crate::hash::md5(&s))),
            T::EncodeHexa => Value::string(hex(&s)),
            T::DecodeHexa => match unhex(&s) {
                Some(b) => Value::string(b),
                None => Value::Null,
            },
            T::UriUser | T::UriHost | T::UriPort | T::UriParams | T::UriParam(_) | T::UriTransport | T::UriScheme => {
                match s {
                    Cow::Borrowed(b) => {
                        // `$(ru{uri.x})`: the Request-URI is already parsed
                        if let (Some(cur), Some((u, buf))) = (ctx.ruri(), ctx.ruri_parsed()) {
                            if std::ptr::eq(b.as_ptr(), cur.as_ptr()) && b.len() == cur.len() {
                                return self.uri_part(u, buf, ctx);
                            }
                        }
                        // not a URI: the empty string, as Kamailio
                        match Uri::parse(b, Span::new(0, b.len())) {
                            Ok(u) => self.uri_part(&u, b, ctx),
                            Err(_) => Value::str(b""),
                        }
                    }
                    Cow::Owned(o) => match Uri::parse(&o, Span::new(0, o.len())) {
                        Ok(u) => self.uri_part(&u, &o, ctx).into_owned(),
                        Err(_) => Value::str(b""),
                    },
                }
            }
            T::ParamValue(name, sep) | T::ParamIn(name, sep) => {
                let name = name.bytes(ctx);
                let exist = matches!(self, T::ParamIn(..));
                for (a, b) in field_ranges(&s, *sep) {
                    let field = &s[a..b];
                    let (n, v) = match field.iter().position(|c| *c == b'=') {
                        Some(e) => (&field[..e], Some((a + e + 1, b))),
                        None => (field, None),
                    };
                    if trim_ascii(n).eq_ignore_ascii_case(&name) {
                        if exist {
                            return Value::Int(1);
                        }
                        return match v {
                            Some((va, vb)) => {
                                let t = trim_ascii(&s[va..vb]);
                                let off = t.as_ptr() as usize - s.as_ptr() as usize;
                                let len = t.len();
                                sub(s, off, off + len)
                            }
                            None => Value::str(b""),
                        };
                    }
                }
                if exist {
                    Value::Int(0)
                } else {
                    Value::str(b"")
                }
            }
            T::ParamCount(sep) => Value::Int(
                field_ranges(&s, *sep).iter().filter(|(a, b)| !trim_ascii(&s[*a..*b]).is_empty()).count() as i64,
            ),
            T::NameaddrUri
            | T::NameaddrName
            | T::TobodyTag
            | T::TobodyUri
            | T::TobodyUser
            | T::TobodyHost
            | T::TobodyDisplay => {
                let Ok(na) = NameAddr::parse(&s, Span::new(0, s.len())) else { return Value::Null };
                let pick = |sp: Option<Span>| sp.map(|sp| (sp.off as usize, sp.end()));
                // Kamailio's nameaddr.name keeps the blanks before '<'
                let name_to_bracket = na.display.map(|d| {
                    let end =
                        s[d.off as usize..].iter().position(|c| *c == b'<').map_or(d.end(), |p| d.off as usize + p);
                    Span::new(d.off as usize, end)
                });
                let r = match self {
                    T::NameaddrUri | T::TobodyUri => pick(Some(na.uri_span)),
                    T::NameaddrName => pick(name_to_bracket),
                    T::TobodyDisplay => pick(na.display),
                    T::TobodyTag => na.params.get(&s, "tag").and_then(|p| pick(p.value)),
                    T::TobodyUser => pick(na.uri.user),
                    T::TobodyHost => pick(Some(na.uri.host)),
                    _ => unreachable!("nameaddr group"),
                };
                match r {
                    // a quoted display name is returned with its quotes, as Kamailio
                    Some((a, b)) => sub(s, a, b),
                    None => Value::str(b""),
                }
            }
            T::LineCount => {
                let n = s.iter().filter(|c| **c == b'\n').count() + usize::from(!s.ends_with(b"\n"));
                Value::Int(n as i64)
            }
            T::ParamValueAt(idx, sep) | T::ParamName(idx, sep) => {
                let fields: Vec<(usize, usize)> =
                    field_ranges(&s, *sep).into_iter().filter(|(a, b)| !trim_ascii(&s[*a..*b]).is_empty()).collect();
                let Some(&(a, b)) = usize::try_from(idx.int(ctx)).ok().and_then(|i| fields.get(i)) else {
                    return Value::str(b"");
                };
                let field = &s[a..b];
                let (n, v) = match field.iter().position(|c| *c == b'=') {
                    Some(e) => (&field[..e], &field[e + 1..]),
                    None => (field, &b""[..]),
                };
                let pick = if matches!(self, T::ParamName(..)) { n } else { v };
                Value::string(trim_ascii(pick).to_vec())
            }
            T::Text(f) => match text_apply(*f, &s) {
                Some(v) => Value::string(v),
                None => Value::Null,
            },
            T::Prefixes(max, quoted) => {
                let max = max.as_ref().map(|m| m.int(ctx).max(0) as usize);
                Value::string(super::textfn::prefixes(&s, max, *quoted))
            }
            T::Replace(from, to) => Value::string(super::textfn::replace_all(&s, &from.bytes(ctx), &to.bytes(ctx))),
            T::Remove(what) => Value::string(super::textfn::replace_all(&s, &what.bytes(ctx), b"")),
            T::Count(c) => Value::Int(s.iter().filter(|x| *x == c).count() as i64),
            T::Around(c, side) => {
                let first = s.iter().position(|x| x == c);
                let last = s.iter().rposition(|x| x == c);
                let len = s.len();
                match side {
                    Around::After => first.map_or(Value::str(b""), |i| sub(s, i + 1, len)),
                    Around::RAfter => last.map_or(Value::str(b""), |i| sub(s, i + 1, len)),
                    Around::Before => match first {
                        Some(i) => sub(s, 0, i),
                        None => Value::Str(s),
                    },
                    Around::RBefore => match last {
                        Some(i) => sub(s, 0, i),
                        None => Value::Str(s),
                    },
                }
            }
            T::FmtLines(width, indent, pad) => Value::string(super::textfn::fmtlines(
                &s,
                width.int(ctx).max(0) as usize,
                indent.int(ctx).max(0) as usize,
                *pad,
            )),
            T::Ftime(fmt) => Value::string(super::timefmt::strftime(fmt, str_to_int(&s).unwrap_or(0))),
            T::LineAt(pos) => {
                let lines: Vec<&[u8]> = lines_of(&s);
                let p = pos.int(ctx);
                let i = if p < 0 { lines.len() as i64 + p } else { p };
                match usize::try_from(i).ok().and_then(|i| lines.get(i)) {
                    Some(l) => Value::string(l.to_vec()),
                    None => Value::str(b""),
                }
            }
            T::LineStartsWith(prefix) => {
                let prefix = prefix.bytes(ctx);
                match lines_of(&s).into_iter().find(|l| l.starts_with(&prefix)) {
                    Some(l) => Value::string(l.to_vec()),
                    None => Value::str(b""),
                }
            }
            T::ReSubst(sx) => match sx.apply(&s, Some(ctx)) {
                Some(v) => Value::string(v),
                None => Value::Str(s),
            },
        }
    }
}

/// The lines of a text (without their line ends).
fn lines_of(s: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = s.split(|c| *c == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).collect();
    if s.ends_with(b"\n") {
        v.pop();
    }
    v
}

/// The parameterless text transformations; `None` when the value does not
/// fit (not a URI, not base64...).
fn text_apply(f: TextFn, s: &[u8]) -> Option<Vec<u8>> {
    use super::textfn as tf;
    use base64::Engine as _;
    use sha2::Digest as _;
    use TextFn as F;
    let b64 = |b: B64| match (b.url, b.pad) {
        (false, true) => base64::engine::general_purpose::STANDARD,
        (false, false) => base64::engine::general_purpose::STANDARD_NO_PAD,
        (true, true) => base64::engine::general_purpose::URL_SAFE,
        (true, false) => base64::engine::general_purpose::URL_SAFE_NO_PAD,
    };
    Some(match f {
        F::Sha256 => hex(&sha2::Sha256::digest(s)),
        F::Sha384 => hex(&sha2::Sha384::digest(s)),
        F::Sha512 => hex(&sha2::Sha512::digest(s)),
        F::EncodeBase58 => tf::base58_encode(s),
        F::DecodeBase58 => tf::base58_decode(s)?,
        F::EncodeBase64(b) => b64(b).encode(s).into_bytes(),
        F::DecodeBase64(b) => {
            // the unpadded flavours take padded text too
            let t = if b.pad { s } else { s.strip_suffix(b"==").or_else(|| s.strip_suffix(b"=")).unwrap_or(s) };
            b64(b).decode(t).ok()?
        }
        F::EscapeCommon => tf::escape_common(s),
        F::UnescapeCommon => tf::unescape_common(s),
        F::EscapeUser => tf::pct_escape(s, tf::user_char),
        F::EscapeParam => tf::pct_escape(s, tf::param_char),
        F::Unescape => tf::pct_unescape(s),
        F::UrlEncode => tf::pct_escape(s, tf::url_char),
        F::EscapeCsv => tf::escape_csv(s),
        F::Numeric => s.iter().copied().filter(u8::is_ascii_digit).collect(),
        F::LTrim => s[s.iter().position(|c| !tf::is_ws(*c)).unwrap_or(s.len())..].to_vec(),
        F::RTrim => s[..s.iter().rposition(|c| !tf::is_ws(*c)).map_or(0, |i| i + 1)].to_vec(),
        F::RemoveWs => s.iter().copied().filter(|c| !tf::is_ws(*c)).collect(),
        F::Unquote => tf::unquote(s).to_vec(),
        F::Unbracket => tf::unbracket(s).to_vec(),
        F::UriPasswd
        | F::UriHeaders
        | F::UriNamedParam(_)
        | F::UriToSocket
        | F::UriDuri
        | F::UriSaor
        | F::UriSuri
        | F::UriAliasEncode => {
            let Ok(u) = Uri::parse(s, Span::new(0, s.len())) else {
                return Some(Vec::new());
            };
            uri_derived(f, &u, s)
        }
        F::NameaddrLen => {
            let na = NameAddr::parse(s, Span::new(0, s.len())).ok()?;
            // up to the closing '>' when written, else the URI's end
            let end = s[na.uri_span.end()..]
                .iter()
                .position(|c| *c == b'>')
                .map_or(na.uri_span.end(), |p| na.uri_span.end() + p + 1);
            end.to_string().into_bytes()
        }
        F::TobodyParams => {
            let na = NameAddr::parse(s, Span::new(0, s.len())).ok()?;
            let p = na.params.span().get(s);
            p.strip_prefix(b";").unwrap_or(p).to_vec()
        }
        F::UriAliasDecode => {
            let mut it = s.splitn(3, |c| *c == b'~');
            let (addr, port, proto) = (it.next()?, it.next()?, it.next()?);
            let proto = match proto {
                b"1" => None,
                b"2" => Some("tcp"),
                b"3" => Some("tls"),
                b"4" => Some("sctp"),
                b"5" | b"6" => Some("ws"),
                _ => return None,
            };
            let mut out = [b"sip:", addr, b":", port].concat();
            if let Some(p) = proto {
                out.extend_from_slice(b";transport=");
                out.extend_from_slice(p.as_bytes());
            }
            out
        }
    })
}

/// The URI transformations that rebuild or pick from a parsed URI.
fn uri_derived(f: TextFn, u: &Uri, s: &[u8]) -> Vec<u8> {
    use TextFn as F;
    let scheme = {
        let w = u.whole.get(s);
        &w[..w.iter().position(|c| *c == b':').map_or(0, |p| p + 1)]
    };
    let host = u.host.get(s);
    let port = u.port.map(|p| p.to_string());
    let transport = u.transport(s);
    let with_user = |out: &mut Vec<u8>| {
        if let Some(user) = u.user {
            out.extend_from_slice(user.get(s));
            out.push(b'@');
        }
    };
    let host_port_transport = |out: &mut Vec<u8>| {
        out.extend_from_slice(host);
        if let Some(p) = &port {
            out.push(b':');
            out.extend_from_slice(p.as_bytes());
        }
        if let Some(t) = transport {
            out.extend_from_slice(b";transport=");
            out.extend_from_slice(t);
        }
    };
    match f {
        F::UriPasswd => u.password.map_or(Vec::new(), |p| p.get(s).to_vec()),
        F::UriHeaders => u.headers.map_or(Vec::new(), |h| h.get(s).to_vec()),
        F::UriNamedParam(n) => {
            u.params.iter(s).find(|p| p.is(s, n)).and_then(|p| p.value).map_or(Vec::new(), |v| v.get(s).to_vec())
        }
        F::UriToSocket => match &port {
            // Kamailio gives a socket only for a URI that names its port
            Some(p) => {
                let proto = transport.map_or_else(|| b"udp".to_vec(), <[u8]>::to_ascii_lowercase);
                [&proto[..], b":", host, b":", p.as_bytes()].concat()
            }
            None => Vec::new(),
        },
        F::UriDuri => {
            let mut out = scheme.to_vec();
            host_port_transport(&mut out);
            out
        }
        F::UriSaor => {
            let mut out = scheme.to_vec();
            with_user(&mut out);
            out.extend_from_slice(host);
            out
        }
        F::UriSuri => {
            let mut out = scheme.to_vec();
            with_user(&mut out);
            host_port_transport(&mut out);
            out
        }
        F::UriAliasEncode => {
            let proto = match transport.map(<[u8]>::to_ascii_lowercase).as_deref() {
                None | Some(b"udp") => 1,
                Some(b"tcp") => 2,
                Some(b"tls") => 3,
                Some(b"sctp") => 4,
                Some(b"ws") => 5,
                Some(b"wss") => 6,
                Some(_) => 1,
            };
            format!("{}~{}~{proto}", String::from_utf8_lossy(host), u.port.unwrap_or(5060)).into_bytes()
        }
        _ => Vec::new(),
    }
}

impl Transform {
    /// A part of a parsed URI whose spans index `buf`.
    fn uri_part<'b>(&self, u: &Uri, buf: &'b [u8], ctx: &Ctx<'_>) -> Value<'b> {
        use Transform as T;
        match self {
            // a part that is absent reads as "" (Kamailio's transformations)
            T::UriUser => Value::str(u.user.map_or(&b""[..], |x| x.get(buf))),
            T::UriHost => Value::str(u.host.get(buf)),
            T::UriPort => u.port.map_or(Value::str(b""), |p| Value::Int(p as i64)),
            // without the leading ';', as Kamailio
            T::UriParams => match u.params.span().get(buf) {
                p if p.len() > 1 => Value::str(&p[1..]),
                _ => Value::str(b""),
            },
            T::UriParam(name) => {
                let name = name.bytes(ctx);
                match u.params.iter(buf).find(|p| p.name.get(buf).eq_ignore_ascii_case(&name)) {
                    Some(p) => Value::str(p.value.map_or(&b""[..], |v| v.get(buf))),
                    None => Value::str(b""),
                }
            }
            T::UriTransport => Value::str(u.transport(buf).unwrap_or(b"")),
            T::UriScheme => {
                let w = u.whole.get(buf);
                Value::str(&w[..w.iter().position(|c| *c == b':').unwrap_or(0)])
            }
            _ => Value::Null,
        }
    }
}

/// A sub-range of a string value, still borrowed when the input was.
fn sub(s: Cow<'_, [u8]>, a: usize, b: usize) -> Value<'_> {
    match s {
        Cow::Borrowed(x) => Value::str(&x[a..b]),
        Cow::Owned(x) => Value::string(x[a..b].to_vec()),
    }
}

/// Ranges of the fields of `s` split at `sep`.
fn field_ranges(s: &[u8], sep: u8) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in s.iter().enumerate() {
        if *c == sep {
            out.push((start, i));
            start = i + 1;
        }
    }
    out.push((start, s.len()));
    out
}

use crate::hash::hex;

fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks(2)
        .map(|p| {
            let h = (p[0] as char).to_digit(16)?;
            let l = (p[1] as char).to_digit(16)?;
            Some((h * 16 + l) as u8)
        })
        .collect()
}
