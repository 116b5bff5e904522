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
    /// `param.exist,name[,sep]`
    ParamExist(TrParam, u8),
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

impl Transform {
    /// Parses the text inside `{...}`.
    pub fn parse(text: &str, reg: &PvRegistry, names: &mut Names) -> Result<Transform, String> {
        let parts = split_params(text.trim());
        let name = parts[0].trim();
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
            "param.exist" => {
                if args.is_empty() || args.len() > 2 {
                    return Err("param.exist takes a name and an optional separator".into());
                }
                T::ParamExist(p(0)?, sep_param(args.get(1).copied(), b';')?)
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
            other => return Err(format!("unknown transformation '{other}'")),
        })
    }

    /// Applies the transformation. A value it cannot work on (a URI
    /// transformation on text that is no URI) gives `$null`.
    pub fn apply<'c>(&'c self, v: Value<'c>, ctx: &'c Ctx<'_>) -> Value<'c> {
        use Transform as T;
        if let T::Len = self {
            return Value::Int(v.to_bytes().len() as i64);
        }
        if v.is_null() {
            return Value::Null;
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
                if o < 0 || o > n {
                    return Value::Null;
                }
                let l = len.int(ctx);
                let end = if l <= 0 { n + l } else { (o + l).min(n) };
                if end < o {
                    return Value::Null;
                }
                sub(s, o as usize, end as usize)
            }
            T::Select(idx, sep) => {
                let fields: Vec<(usize, usize)> = field_ranges(&s, *sep);
                let i = idx.int(ctx);
                let pos = if i < 0 { fields.len() as i64 + i } else { i };
                match usize::try_from(pos).ok().and_then(|p| fields.get(p)) {
                    Some(&(a, b)) => sub(s, a, b),
                    None => Value::Null,
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
                        match Uri::parse(b, Span::new(0, b.len())) {
                            Ok(u) => self.uri_part(&u, b, ctx),
                            Err(_) => Value::Null,
                        }
                    }
                    Cow::Owned(o) => match Uri::parse(&o, Span::new(0, o.len())) {
                        Ok(u) => self.uri_part(&u, &o, ctx).into_owned(),
                        Err(_) => Value::Null,
                    },
                }
            }
            T::ParamValue(name, sep) | T::ParamExist(name, sep) => {
                let name = name.bytes(ctx);
                let exist = matches!(self, T::ParamExist(..));
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
        }
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

/// Lower-case hex.
pub fn hex(b: &[u8]) -> Vec<u8> {
    const D: &[u8; 16] = b"0123456789abcdef";
    b.iter().flat_map(|c| [D[(c >> 4) as usize], D[(c & 15) as usize]]).collect()
}

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
