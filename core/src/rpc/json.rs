//! JSON-RPC 2.0 for the RPC commands, as Kamailio's jsonrpcs module speaks
//! it: a request `{"jsonrpc": "2.0", "method": M, "params": [...], "id":
//! I}` gets `{"jsonrpc": "2.0", "result": R, "id": I}` or `{"jsonrpc":
//! "2.0", "error": {"code": C, "message": T}, "id": I}`; bytes that are
//! not a JSON object get no answer (as Kamailio). Over a FIFO, the request
//! names the FIFO to answer on in `reply_name`.

use serde_json::Value;

use super::{RpcError, RpcValue};

/// A JSON value as an RPC parameter (booleans as 0/1, other numbers as
/// their text when they are not integers).
pub fn to_rpc(v: &Value) -> RpcValue {
    match v {
        Value::Null => RpcValue::Null,
        Value::Bool(b) => RpcValue::Int(*b as i64),
        Value::Number(n) => n.as_i64().map_or_else(|| RpcValue::Double(n.to_string()), RpcValue::Int),
        Value::String(s) => RpcValue::Str(s.clone()),
        Value::Array(a) => RpcValue::Array(a.iter().map(to_rpc).collect()),
        Value::Object(o) => RpcValue::Struct(o.iter().map(|(k, v)| (k.clone(), to_rpc(v))).collect()),
    }
}

/// An RPC value as JSON text, written directly: struct members stay in
/// their order and a repeated name stays repeated (Kamailio's listings
/// repeat one, as pv.shvGet's "shv"), which a JSON map would merge.
pub fn write_rpc(v: &RpcValue, out: &mut String) {
    match v {
        RpcValue::Null => out.push_str("null"),
        RpcValue::Int(i) => out.push_str(&i.to_string()),
        RpcValue::Double(d) if d.parse::<f64>().is_ok_and(f64::is_finite) => out.push_str(d),
        RpcValue::Double(_) => out.push_str("null"),
        RpcValue::Str(s) => write_str(s, out),
        RpcValue::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_rpc(x, out);
            }
            out.push(']');
        }
        RpcValue::Added(a) => match a.last() {
            Some(x) => write_rpc(x, out),
            None => out.push_str("null"),
        },
        RpcValue::Members(m) => {
            out.push('[');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('{');
                write_str(k, out);
                out.push(':');
                write_rpc(x, out);
                out.push('}');
            }
            out.push(']');
        }
        RpcValue::Struct(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write_rpc(x, out);
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    // serde_json's escaping: a string's JSON text cannot fail to print
    out.push_str(&Value::String(s.to_string()).to_string());
}

/// Bytes that can never become a JSON document (the caller drops them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotJson;

impl std::fmt::Display for NotJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not JSON")
    }
}

impl std::error::Error for NotJson {}

/// The first complete JSON document in `buf` and the bytes it took
/// (leading blanks included); `Ok(None)` when more bytes are needed.
pub fn next_document(buf: &[u8]) -> Result<Option<(Value, usize)>, NotJson> {
    let text = escape_raw_controls(buf);
    let mut it = serde_json::Deserializer::from_slice(&text).into_iter::<Value>();
    match it.next() {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some((v, original_offset(buf, it.byte_offset())))),
        Some(Err(e)) if e.is_eof() => Ok(None),
        Some(Err(_)) => Err(NotJson),
    }
}

/// `buf` with the control characters written raw inside its strings
/// escaped (`\u000d`). Kamailio's JSON parser takes them raw, and
/// kamctl sends them so (its `=CRLF=` arguments become CR LF bytes, as
/// `kamctl ping` writes its headers); RFC 8259 and serde_json do not.
fn escape_raw_controls(buf: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut state = StringScan::default();
    if !buf.iter().any(|&c| state.raw_control(c)) {
        return std::borrow::Cow::Borrowed(buf);
    }
    let mut state = StringScan::default();
    let mut out = Vec::with_capacity(buf.len() + 16);
    for &c in buf {
        if state.raw_control(c) {
            out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The offset in `buf` of what is offset `escaped` in
/// [`escape_raw_controls`]'s text (a document ends outside a string,
/// where the two texts line up).
fn original_offset(buf: &[u8], escaped: usize) -> usize {
    let mut state = StringScan::default();
    let mut at = 0;
    for (i, &c) in buf.iter().enumerate() {
        if at >= escaped {
            return i;
        }
        at += if state.raw_control(c) { 6 } else { 1 };
    }
    buf.len()
}

/// Where a byte-by-byte walk of JSON text is: inside a string or not,
/// after a backslash or not.
#[derive(Default)]
struct StringScan {
    in_string: bool,
    escaped: bool,
}

impl StringScan {
    /// Takes byte `c`: whether it is a control character raw inside a
    /// string.
    fn raw_control(&mut self, c: u8) -> bool {
        if !self.in_string {
            self.in_string = c == b'"';
            return false;
        }
        if self.escaped {
            self.escaped = false;
            return false;
        }
        match c {
            b'\\' => self.escaped = true,
            b'"' => self.in_string = false,
            0..=0x1f => return true,
            _ => {}
        }
        false
    }
}

/// The `reply_name` a FIFO request names, if any.
pub fn reply_name(request: &Value) -> Option<&str> {
    request.get("reply_name").and_then(Value::as_str)
}

/// Answers one request with `dispatch` (method name, params): the reply
/// document as one line of JSON text; `None` when it is not a request
/// object at all (no answer, as Kamailio).
pub fn answer(
    request: &Value,
    dispatch: impl FnOnce(&str, &[RpcValue]) -> Result<RpcValue, RpcError>,
) -> Option<String> {
    let obj = request.as_object()?;
    let id = obj.get("id").cloned();
    let outcome = match obj.get("method").and_then(Value::as_str) {
        None => Err(RpcError::new(-32600, "Invalid Request")),
        Some(method) => {
            let params: Vec<RpcValue> = match obj.get("params") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a.iter().map(to_rpc).collect(),
                Some(other) => vec![to_rpc(other)],
            };
            dispatch(method, &params)
        }
    };
    let mut out = String::from("{\"jsonrpc\":\"2.0\",");
    match outcome {
        // a command that added nothing: Kamailio's empty object
        Ok(RpcValue::Null) => out.push_str("\"result\":{}"),
        Ok(r) => {
            out.push_str("\"result\":");
            write_rpc(&r, &mut out);
        }
        Err(e) => {
            out.push_str(&format!("\"error\":{{\"code\":{},\"message\":", e.code));
            write_str(&e.message, &mut out);
            out.push('}');
        }
    }
    if let Some(id) = id {
        out.push_str(",\"id\":");
        out.push_str(&id.to_string());
    }
    out.push('}');
    Some(out)
}

/// Answers request bytes with `dispatch`: the reply text (one line), or
/// `None` when the bytes are not a JSON request.
pub fn answer_bytes(
    request: &[u8],
    dispatch: impl FnOnce(&str, &[RpcValue]) -> Result<RpcValue, RpcError>,
) -> Option<Vec<u8>> {
    let v: Value = serde_json::from_slice(&escape_raw_controls(request)).ok()?;
    let mut out = answer(&v, dispatch)?.into_bytes();
    out.push(b'\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(m: &str, p: &[RpcValue]) -> Result<RpcValue, RpcError> {
        match m {
            "t.echo" => Ok(RpcValue::Array(p.to_vec())),
            "t.struct" => Ok(RpcValue::Struct(vec![("b".into(), RpcValue::Int(1)), ("a".into(), RpcValue::Null)])),
            _ => Err(RpcError::new(500, "Method Not Found")),
        }
    }

    fn ask(req: &str) -> Option<String> {
        answer_bytes(req.as_bytes(), echo).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn requests_and_answers() {
        assert_eq!(
            ask(r#"{"jsonrpc":"2.0","method":"t.echo","params":["x",3,true,1.5],"id":7}"#).unwrap(),
            "{\"jsonrpc\":\"2.0\",\"result\":[\"x\",3,1,1.5],\"id\":7}\n"
        );
        assert_eq!(
            ask(r#"{"jsonrpc":"2.0","method":"nope","id":"a"}"#).unwrap(),
            "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":500,\"message\":\"Method Not Found\"},\"id\":\"a\"}\n"
        );
        // no id: answered without one (Kamailio does the same)
        assert_eq!(ask(r#"{"method":"t.struct"}"#).unwrap(), "{\"jsonrpc\":\"2.0\",\"result\":{\"b\":1,\"a\":null}}\n");
        assert!(ask(r#"{"id":1}"#).unwrap().contains("-32600"));
        assert_eq!(ask("{bad json"), None);
        assert_eq!(ask("[1,2]"), None);
    }

    #[test]
    fn documents_in_a_stream() {
        let s = b"  {\"method\":\"a\",\n \"reply_name\":\"r1\"}{\"method\":\"b\"} {\"meth";
        let (v, n) = next_document(s).unwrap().unwrap();
        assert_eq!(reply_name(&v), Some("r1"));
        let (v2, n2) = next_document(&s[n..]).unwrap().unwrap();
        assert_eq!(v2["method"], "b");
        assert_eq!(next_document(&s[n + n2..]), Ok(None), "incomplete: wait for more");
        assert!(next_document(b"}}").is_err());
    }

    #[test]
    fn raw_control_characters_in_strings() {
        // kamctl ping's headers arrive with raw CR LF inside the string
        let s = b"{\"method\":\"t.echo\",\"params\":[\"From: a\r\nTo: b\r\n\", \"q\\\"\tx\"]}\n{\"method\":\"b\"}";
        let (v, n) = next_document(s).unwrap().unwrap();
        assert_eq!(v["params"][0], "From: a\r\nTo: b\r\n");
        assert_eq!(v["params"][1], "q\"\tx");
        assert_eq!(&s[n..], b"\n{\"method\":\"b\"}", "the offset is the raw text's");
        let r = ask("{\"method\":\"t.echo\",\"params\":[\"a\r\nb\"],\"id\":1}").unwrap();
        assert_eq!(r, "{\"jsonrpc\":\"2.0\",\"result\":[\"a\\r\\nb\"],\"id\":1}\n");
        // outside strings a raw newline is white space, as it was
        assert!(ask("{\n\"method\":\"t.struct\"\r\n}").is_some());
    }
}
