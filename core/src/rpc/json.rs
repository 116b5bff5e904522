//! JSON-RPC 2.0 for the RPC commands, as Kamailio's jsonrpcs module speaks
//! it: a request `{"jsonrpc": "2.0", "method": M, "params": [...], "id":
//! I}` gets `{"jsonrpc": "2.0", "result": R, "id": I}` or `{"jsonrpc":
//! "2.0", "error": {"code": C, "message": T}, "id": I}`; bytes that are
//! not a JSON object get no answer (as Kamailio). Over a FIFO, the request
//! names the FIFO to answer on in `reply_name`.

use serde_json::{Map, Value};

use super::{RpcError, RpcValue};

/// A JSON value as an RPC parameter (booleans as 0/1, other numbers as
/// their text when they are not integers).
pub fn to_rpc(v: &Value) -> RpcValue {
    match v {
        Value::Null => RpcValue::Null,
        Value::Bool(b) => RpcValue::Int(*b as i64),
        Value::Number(n) => n.as_i64().map_or_else(|| RpcValue::Str(n.to_string()), RpcValue::Int),
        Value::String(s) => RpcValue::Str(s.clone()),
        Value::Array(a) => RpcValue::Array(a.iter().map(to_rpc).collect()),
        Value::Object(o) => RpcValue::Struct(o.iter().map(|(k, v)| (k.clone(), to_rpc(v))).collect()),
    }
}

/// An RPC result as JSON (struct members in order).
pub fn from_rpc(v: &RpcValue) -> Value {
    match v {
        RpcValue::Null => Value::Null,
        RpcValue::Int(i) => Value::from(*i),
        RpcValue::Str(s) => Value::String(s.clone()),
        RpcValue::Array(a) => Value::Array(a.iter().map(from_rpc).collect()),
        RpcValue::Struct(m) => {
            let mut o = Map::new();
            for (k, v) in m {
                o.insert(k.clone(), from_rpc(v));
            }
            Value::Object(o)
        }
    }
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
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
    match it.next() {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some((v, it.byte_offset()))),
        Some(Err(e)) if e.is_eof() => Ok(None),
        Some(Err(_)) => Err(NotJson),
    }
}

/// The `reply_name` a FIFO request names, if any.
pub fn reply_name(request: &Value) -> Option<&str> {
    request.get("reply_name").and_then(Value::as_str)
}

/// Answers one request with `dispatch` (method name, params); `None` when
/// it is not a request object at all (no answer, as Kamailio).
pub fn answer(
    request: &Value,
    dispatch: impl FnOnce(&str, &[RpcValue]) -> Result<RpcValue, RpcError>,
) -> Option<Value> {
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
    let mut out = Map::new();
    out.insert("jsonrpc".into(), Value::from("2.0"));
    match outcome {
        Ok(r) => {
            out.insert("result".into(), from_rpc(&r));
        }
        Err(e) => {
            let mut err = Map::new();
            err.insert("code".into(), Value::from(e.code));
            err.insert("message".into(), Value::from(e.message));
            out.insert("error".into(), Value::Object(err));
        }
    }
    if let Some(id) = id {
        out.insert("id".into(), id);
    }
    Some(Value::Object(out))
}

/// Answers request bytes with `dispatch`: the reply text (one line), or
/// `None` when the bytes are not a JSON request.
pub fn answer_bytes(
    request: &[u8],
    dispatch: impl FnOnce(&str, &[RpcValue]) -> Result<RpcValue, RpcError>,
) -> Option<Vec<u8>> {
    let v: Value = serde_json::from_slice(request).ok()?;
    let mut out = serde_json::to_vec(&answer(&v, dispatch)?).ok()?;
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
            "{\"jsonrpc\":\"2.0\",\"result\":[\"x\",3,1,\"1.5\"],\"id\":7}\n"
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
}
