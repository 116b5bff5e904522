//! jsonrpcs: the server's RPC commands as JSON-RPC 2.0, as Kamailio's
//! jsonrpcs module serves them — over a FIFO (`fifo_name`, default
//! `sipr_rpc.fifo` in `run_dir`; a request names the FIFO to answer on in
//! `reply_name`, relative to `fifo_reply_dir`) and over a unix datagram
//! socket (`dgram_socket`, default `sipr_rpc.sock` in `run_dir`; answers go
//! to the sender's socket). `transport` selects them as Kamailio's bits:
//! 2 FIFO, 4 datagram, 6 both (the default), 0 all. Each transport has its
//! own process ("JSONRPCS FIFO", "JSONRPCS DATAGRAM"), as in Kamailio; the
//! FIFO and socket are created in `mod_init`, so a bad path is a start-up
//! error, and removed at shutdown. `fifo_user` / `fifo_group` /
//! `dgram_user` / `dgram_group` (names or numbers) own them;
//! `pretty_format` (default 1) lays replies out on indented lines;
//! `dgram_timeout` (ms, default 2000) bounds sending a reply on the socket;
//! `dgram_workers` (default 1) processes serve the socket.
//! Over HTTP (bit 1), `jsonrpc_dispatch()` in `event_route[xhttp:request]`
//! answers the request's body (xhttp serves the connection). The TCP (8)
//! transport bit is refused at start-up: it is not served yet, and a cfg
//! must never believe it is.

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sipr_sdk::control::{in_run_dir, mode, owner, prepare_path, set_access, text};
use sipr_sdk::prelude::*;
use sipr_sdk::{Names, PvArg, PvRef, PvRegistry};

const FIFO: i64 = 2;
/// "No such device or address": a FIFO opened for writing with no reader.
const ENXIO: i32 = 6;
const DATAGRAM: i64 = 4;

struct Settings {
    transport: i64,
    fifo_name: String,
    fifo_mode: u32,
    fifo_reply_dir: String,
    dgram_socket: String,
    dgram_mode: u32,
    /// Owners given to the FIFO and the socket (`fifo_user`, ...).
    fifo_user: Option<String>,
    fifo_group: Option<String>,
    dgram_user: Option<String>,
    dgram_group: Option<String>,
    /// `pretty_format`.
    pretty: bool,
    /// `dgram_timeout`: how long sending a reply on the socket may take.
    dgram_timeout_ms: u64,
    /// `dgram_workers`: the processes serving the socket.
    dgram_workers: u32,
}

static SETTINGS: Mutex<Settings> = Mutex::new(Settings {
    transport: FIFO | DATAGRAM,
    fifo_name: String::new(),
    fifo_mode: 0o660,
    fifo_reply_dir: String::new(),
    dgram_socket: String::new(),
    dgram_mode: 0o660,
    fifo_user: None,
    fifo_group: None,
    dgram_user: None,
    dgram_group: None,
    pretty: true,
    dgram_timeout_ms: 2000,
    dgram_workers: 1,
});

/// What mod_init opened for the processes.
struct Opened {
    fifo: Option<PathBuf>,
    fifo_reply_dir: PathBuf,
    dgram: Option<(PathBuf, UnixDatagram)>,
}

static OPENED: OnceLock<Opened> = OnceLock::new();

fn with_settings(f: impl FnOnce(&mut Settings)) -> Result<(), String> {
    let mut s = SETTINGS.lock().map_err(|_| "jsonrpcs settings poisoned")?;
    f(&mut s);
    Ok(())
}

fn set_transport(v: &ModValue) -> Result<(), String> {
    let ModValue::Int(t) = v else { return Err("transport takes a number".into()) };
    if !(0..=15).contains(t) {
        return Err(format!("transport {t}: bits 1 (HTTP), 2 (FIFO), 4 (datagram), 8 (TCP) only"));
    }
    // never believed served when it is not
    if t & 8 != 0 {
        return Err(format!("transport {t}: the TCP (8) transport is not supported by sipr yet"));
    }
    with_settings(|s| s.transport = *t)
}

fn set_fifo_name(v: &ModValue) -> Result<(), String> {
    let n = text(v, "fifo_name")?;
    with_settings(|s| s.fifo_name = n)
}

fn set_fifo_mode(v: &ModValue) -> Result<(), String> {
    let m = mode(v)?;
    with_settings(|s| s.fifo_mode = m)
}

fn set_fifo_reply_dir(v: &ModValue) -> Result<(), String> {
    let d = text(v, "fifo_reply_dir")?;
    with_settings(|s| s.fifo_reply_dir = d)
}

fn set_dgram_socket(v: &ModValue) -> Result<(), String> {
    let n = text(v, "dgram_socket")?;
    with_settings(|s| s.dgram_socket = n)
}

fn set_dgram_mode(v: &ModValue) -> Result<(), String> {
    let m = mode(v)?;
    with_settings(|s| s.dgram_mode = m)
}

fn set_fifo_user(v: &ModValue) -> Result<(), String> {
    let u = owner(v, "fifo_user")?;
    with_settings(|s| s.fifo_user = Some(u))
}

fn set_fifo_group(v: &ModValue) -> Result<(), String> {
    let g = owner(v, "fifo_group")?;
    with_settings(|s| s.fifo_group = Some(g))
}

fn set_dgram_user(v: &ModValue) -> Result<(), String> {
    let u = owner(v, "dgram_user")?;
    with_settings(|s| s.dgram_user = Some(u))
}

fn set_dgram_group(v: &ModValue) -> Result<(), String> {
    let g = owner(v, "dgram_group")?;
    with_settings(|s| s.dgram_group = Some(g))
}

fn set_pretty_format(v: &ModValue) -> Result<(), String> {
    let ModValue::Int(p) = v else { return Err("pretty_format takes 0 or 1".into()) };
    with_settings(|s| s.pretty = *p != 0)
}

/// `dgram_workers`: a number (Kamailio documents it as a string: "4"
/// is taken too), at least 1.
fn set_dgram_workers(v: &ModValue) -> Result<(), String> {
    let n = match v {
        ModValue::Int(n) => *n,
        ModValue::Str(s) => s.trim().parse().map_err(|_| format!("dgram_workers {s}: a number of processes"))?,
    };
    let n = u32::try_from(n).ok().filter(|n| (1..=64).contains(n)).ok_or(format!("dgram_workers {n}: 1 to 64"))?;
    with_settings(|s| s.dgram_workers = n)
}

fn set_dgram_timeout(v: &ModValue) -> Result<(), String> {
    match v {
        ModValue::Int(ms) if *ms > 0 => with_settings(|s| s.dgram_timeout_ms = *ms as u64),
        _ => Err("dgram_timeout takes a number of milliseconds above 0".into()),
    }
}

/// The reply as the client gets it: Kamailio's `pretty_format` (on by
/// default) lays the document out on lines indented by tabs. The compact
/// text is re-laid token by token, not parsed into a map: a listing may
/// repeat a member name (pv.shvGet's "shv") and keeps its order.
fn formatted(reply: Vec<u8>) -> Vec<u8> {
    let pretty = SETTINGS.lock().map(|s| s.pretty).unwrap_or(true);
    if !pretty {
        return reply;
    }
    pretty_json(&reply)
}

/// Kamailio's pretty layout (its JSON library's): an object's members on
/// lines of their own, indented by tabs, `"name":\t` before each value; a
/// list on one line, its items apart by ", " (an object in it still lays
/// its members out on lines, one tab deeper); an empty object as `{`, a
/// line, `}`; no newline at the end. The compact text is re-laid token by
/// token, not parsed into a map: a listing may repeat a member name
/// (pv.shvGet's "shv") and keeps its order.
fn pretty_json(compact: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(compact.len() * 2);
    // the open containers: true for an object
    let mut open: Vec<bool> = Vec::new();
    let mut in_str = false;
    let mut escaped = false;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b'\t', depth));
    };
    let mut i = 0;
    while i < compact.len() {
        let c = compact[i];
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        let next = compact[i + 1..].iter().copied().find(|b| !b.is_ascii_whitespace());
        match c {
            b'"' => {
                in_str = true;
                out.push(c);
            }
            b'{' if next == Some(b'}') => {
                out.push(b'{');
                newline(&mut out, open.len());
                out.push(b'}');
                i = i + 1 + compact[i + 1..].iter().position(|b| *b == b'}').unwrap_or(0);
            }
            b'[' if next == Some(b']') => {
                out.extend(b"[]");
                i = i + 1 + compact[i + 1..].iter().position(|b| *b == b']').unwrap_or(0);
            }
            b'{' => {
                out.push(c);
                open.push(true);
                newline(&mut out, open.len());
            }
            b'[' => {
                out.push(c);
                open.push(false);
            }
            b'}' => {
                open.pop();
                newline(&mut out, open.len());
                out.push(c);
            }
            b']' => {
                open.pop();
                out.push(c);
            }
            b',' if open.last() == Some(&true) => {
                out.push(c);
                newline(&mut out, open.len());
            }
            b',' => out.extend(b", "),
            b':' => out.extend(b":\t"),
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

fn mod_init() -> Result<(), String> {
    let s = SETTINGS.lock().map_err(|_| "jsonrpcs settings poisoned")?;
    let all = s.transport == 0;
    let fifo = if all || s.transport & FIFO != 0 {
        let path = in_run_dir(if s.fifo_name.is_empty() { "sipr_rpc.fifo" } else { &s.fifo_name });
        prepare_path("jsonrpcs", &path)?;
        sipr_sdk::make_fifo(&path, s.fifo_mode)
            .map_err(|e| format!("jsonrpcs: cannot create {}: {e}", path.display()))?;
        set_access("jsonrpcs", &path, s.fifo_mode, s.fifo_user.as_deref(), s.fifo_group.as_deref())?;
        Some(path)
    } else {
        None
    };
    let dgram = if all || s.transport & DATAGRAM != 0 {
        let path = in_run_dir(if s.dgram_socket.is_empty() { "sipr_rpc.sock" } else { &s.dgram_socket });
        prepare_path("jsonrpcs", &path)?;
        let sock = UnixDatagram::bind(&path).map_err(|e| format!("jsonrpcs: cannot bind {}: {e}", path.display()))?;
        set_access("jsonrpcs", &path, s.dgram_mode, s.dgram_user.as_deref(), s.dgram_group.as_deref())?;
        sock.set_write_timeout(Some(std::time::Duration::from_millis(s.dgram_timeout_ms)))
            .map_err(|e| format!("jsonrpcs: {}: {e}", path.display()))?;
        Some((path, sock))
    } else {
        None
    };
    let reply_dir = if s.fifo_reply_dir.is_empty() { "/tmp/" } else { &s.fifo_reply_dir };
    let _ = OPENED.set(Opened { fifo, fifo_reply_dir: PathBuf::from(reply_dir), dgram });
    Ok(())
}

fn destroy() {
    if let Some(o) = OPENED.get() {
        if let Some(p) = &o.fifo {
            let _ = std::fs::remove_file(p);
        }
        if let Some((p, _)) = &o.dgram {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The FIFO process: reads JSON documents from the FIFO and answers each
/// on the FIFO its `reply_name` names (requests without one are run and
/// not answered, as Kamailio).
fn fifo_process(_: u32) {
    let Some(Opened { fifo: Some(path), fifo_reply_dir, .. }) = OPENED.get() else { return };
    // opened for writing too, so that the FIFO never reports end of file
    // between clients
    let mut fifo = match std::fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) => {
            log::error!("jsonrpcs: cannot open {}: {e}", path.display());
            return;
        }
    };
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match fifo.read(&mut chunk) {
            Ok(0) => continue,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::error!("jsonrpcs: reading {}: {e}", path.display());
                return;
            }
        };
        pending.extend_from_slice(&chunk[..n]);
        loop {
            match sipr_sdk::jsonrpc::next_document(&pending) {
                Ok(Some((doc, used))) => {
                    let request = pending[..used].to_vec();
                    pending.drain(..used);
                    let reply = sipr_sdk::rpc_exec(&request).map(formatted);
                    match (sipr_sdk::jsonrpc::reply_name(&doc), reply) {
                        (Some(name), Some(reply)) => answer_fifo(fifo_reply_dir, name, &reply),
                        (None, _) => log::debug!("jsonrpcs: a FIFO request without reply_name was run"),
                        (Some(_), None) => {}
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    log::warn!("jsonrpcs: {} bytes on the FIFO are not JSON: dropped", pending.len());
                    pending.clear();
                    break;
                }
            }
        }
        if pending.len() > 1 << 20 {
            log::warn!("jsonrpcs: a FIFO request over 1 MB: dropped");
            pending.clear();
        }
    }
}

/// Writes `reply` to the reply FIFO `name` (a bare file name inside the
/// reply directory: a name with a path or a dot in it is refused, as
/// Kamailio refuses it).
fn answer_fifo(dir: &Path, name: &str, reply: &[u8]) {
    if name.is_empty() || name.contains('/') || name.contains('.') {
        log::warn!("jsonrpcs: reply_name '{name}' refused (a file name in fifo_reply_dir only)");
        return;
    }
    let path = dir.join(name);
    // non-blocking open: a client that went away must not block the
    // process; one that has not opened its end yet gets a few chances
    // (4 × 80 ms, as Kamailio's FIFO server)
    let mut opened = sipr_sdk::open_write_nonblocking(&path);
    for _ in 0..4 {
        match &opened {
            Err(e) if e.raw_os_error() == Some(ENXIO) => {
                std::thread::sleep(std::time::Duration::from_millis(80));
                opened = sipr_sdk::open_write_nonblocking(&path);
            }
            _ => break,
        }
    }
    match opened {
        Ok(mut f) => {
            if let Err(e) = f.write_all(reply) {
                log::warn!("jsonrpcs: writing the reply to {}: {e}", path.display());
            }
        }
        Err(e) => log::warn!("jsonrpcs: cannot open the reply FIFO {}: {e}", path.display()),
    }
}

/// The datagram process: one request per datagram, the answer to the
/// sender's socket.
/// How many processes serve the datagram socket: `dgram_workers` when it
/// is open, each receiving its own requests from it.
fn dgram_processes() -> u32 {
    if OPENED.get().is_some_and(|o| o.dgram.is_some()) {
        SETTINGS.lock().map_or(1, |s| s.dgram_workers)
    } else {
        0
    }
}

fn dgram_process(_: u32) {
    let Some(Opened { dgram: Some((path, sock)), .. }) = OPENED.get() else { return };
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::error!("jsonrpcs: receiving on {}: {e}", path.display());
                continue;
            }
        };
        let Some(reply) = sipr_sdk::rpc_exec(&buf[..n]).map(formatted) else { continue };
        let sent = match from.as_pathname() {
            Some(p) => sock.send_to(&reply, p).map(|_| ()),
            None => Err(std::io::Error::other("the client's socket has no name to answer to")),
        };
        if let Err(e) = sent {
            log::warn!("jsonrpcs: cannot answer on the datagram socket: {e}");
        }
    }
}

/// The HTTP status of an error reply: its code (when one HTTP has) and
/// message.
fn error_status(reply: &[u8]) -> Option<(u16, String)> {
    let v: serde_json::Value = serde_json::from_slice(reply).ok()?;
    let e = v.get("error")?;
    let code =
        e.get("code")?.as_i64().and_then(|c| u16::try_from(c).ok()).filter(|c| (100..700).contains(c)).unwrap_or(500);
    Some((code, e.get("message").and_then(|m| m.as_str()).unwrap_or("Internal Server Error").to_string()))
}

/// `jsonrpc_dispatch()`: the JSON-RPC request in the body of the HTTP
/// request in hand, answered over HTTP (200, application/json); a body
/// that is no JSON-RPC request gets no answer, as in Kamailio.
fn jsonrpc_dispatch(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    if sipr_sdk::xhttp::url(ctx).is_none() {
        log::error!("jsonrpc_dispatch: not an HTTP request (use it in event_route[xhttp:request])");
        return Ok(-1);
    }
    let Some(reply) = sipr_sdk::rpc_exec(ctx.msg.body()).map(formatted) else {
        log::info!("jsonrpc_dispatch: the body is not a JSON-RPC request: not answered");
        return Ok(-1);
    };
    // an error's code and message are the HTTP status, as Kamailio's
    let (code, reason) = error_status(&reply).unwrap_or((200, "OK".to_string()));
    match sipr_sdk::xhttp::reply(ctx, code, reason.as_bytes(), b"application/json", &reply) {
        Ok(()) => Ok(1),
        Err(e) => {
            log::error!("jsonrpc_dispatch: {e}");
            Ok(-1)
        }
    }
}

/// The last `jsonrpc_exec` reply of this process: `$jsonrpl(code)`,
/// `$jsonrpl(text)`, `$jsonrpl(body)`.
struct LastReply {
    code: i64,
    text: String,
    body: Vec<u8>,
}

thread_local! {
    static LAST: std::cell::RefCell<Option<LastReply>> = const { std::cell::RefCell::new(None) };
}

/// `jsonrpc_exec(cmd)`: runs a whole JSON-RPC document from the script;
/// the reply in `$jsonrpl(...)` (an error reply is still a reply: 1). A
/// document that is no JSON is refused (-1) and the last reply stays.
fn jsonrpc_exec(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let cmd = p[0].text(ctx).into_owned();
    if serde_json::from_slice::<serde_json::Value>(&cmd).is_err() {
        log::error!("jsonrpc_exec: invalid json doc [{}]", String::from_utf8_lossy(&cmd));
        return Ok(-1);
    }
    let Some(reply) = sipr_sdk::rpc_exec(&cmd).map(formatted) else {
        log::error!("jsonrpc_exec: not a JSON-RPC request [{}]", String::from_utf8_lossy(&cmd));
        return Ok(-1);
    };
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&reply).ok();
    let (code, text) = match parsed.as_ref().and_then(|v| v.get("error")) {
        Some(e) => (
            e.get("code").and_then(serde_json::Value::as_i64).unwrap_or(500),
            e.get("message").and_then(serde_json::Value::as_str).unwrap_or("").to_string(),
        ),
        None => (200, "OK".to_string()),
    };
    LAST.with(|l| *l.borrow_mut() = Some(LastReply { code, text, body: reply }));
    Ok(1)
}

/// `$jsonrpl(code|text|body)`.
#[derive(Debug, Clone, Copy)]
enum ReplyKey {
    Code,
    Text,
    Body,
}

fn jsonrpl_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    let key = match inner.map(str::trim) {
        Some("code") => ReplyKey::Code,
        Some("text") => ReplyKey::Text,
        Some("body") => ReplyKey::Body,
        other => return Err(format!("$jsonrpl({}): code, text or body", other.unwrap_or(""))),
    };
    Ok(PvArg::Custom(Box::new(key)))
}

fn get_jsonrpl<'c>(_: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Custom(arg) = &pv.arg else { return Value::Null };
    let Some(key) = arg.downcast_ref::<ReplyKey>() else { return Value::Null };
    LAST.with(|l| match (&*l.borrow(), key) {
        (None, _) => Value::Null,
        (Some(r), ReplyKey::Code) => Value::Int(r.code),
        (Some(r), ReplyKey::Text) => Value::string(r.text.clone().into_bytes()),
        (Some(r), ReplyKey::Body) => Value::string(r.body.clone()),
    })
}

sipr_sdk::module! {
    name: "jsonrpcs",
    functions: [
        ("jsonrpc_dispatch", [], RouteMask::ANY, jsonrpc_dispatch),
        ("jsonrpc_exec", [Fmt], RouteMask::ANY, jsonrpc_exec),
    ],
    params: [
        ("transport", Int, set_transport),
        ("fifo_name", Str, set_fifo_name),
        ("fifo_mode", Int, set_fifo_mode),
        ("fifo_reply_dir", Str, set_fifo_reply_dir),
        ("dgram_socket", Str, set_dgram_socket),
        ("dgram_mode", Int, set_dgram_mode),
        ("pretty_format", Int, set_pretty_format),
        ("fifo_group", Any, set_fifo_group),
        ("fifo_user", Any, set_fifo_user),
        ("dgram_group", Any, set_dgram_group),
        ("dgram_user", Any, set_dgram_user),
        ("dgram_timeout", Int, set_dgram_timeout),
        ("dgram_workers", Any, set_dgram_workers),
    ],
    pvs: [sipr_sdk::pv_class!("jsonrpl", jsonrpl_fixup, get_jsonrpl)],
    procs: [
        ("JSONRPCS FIFO", u32::from(OPENED.get().is_some_and(|o| o.fifo.is_some())), fifo_process),
        ("JSONRPCS DATAGRAM", dgram_processes(), dgram_process),
    ],
    init: mod_init,
    destroy: destroy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tcp_transport_is_refused() {
        assert!(set_transport(&ModValue::Int(8)).unwrap_err().contains("not supported by sipr yet"));
        assert!(set_transport(&ModValue::Int(1)).is_ok());
        assert!(set_transport(&ModValue::Int(16)).is_err());
        assert!(set_transport(&ModValue::Int(6)).is_ok());
    }

    #[test]
    fn replies_are_pretty_unless_asked_not_to() {
        let compact = b"{\"jsonrpc\":\"2.0\",\"result\":[1,2],\"id\":1}\n".to_vec();
        let pretty = formatted(compact.clone());
        assert!(pretty.len() > compact.len() && pretty.ends_with(b"}") && pretty.contains(&b'\n'));
        set_pretty_format(&ModValue::Int(0)).unwrap();
        assert_eq!(formatted(compact.clone()), compact);
        set_pretty_format(&ModValue::Int(1)).unwrap();
    }

    #[test]
    fn pretty_layout_is_kamailios() {
        // Kamailio 5.6's replies, byte for byte (core.echo a 1; cfg.set;
        // htable.dump)
        let lay = |c: &str| String::from_utf8(pretty_json(c.as_bytes())).unwrap();
        assert_eq!(
            lay(r#"{"jsonrpc":"2.0","result":["a","1"],"id":1}"#),
            "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t[\"a\", \"1\"],\n\t\"id\":\t1\n}"
        );
        assert_eq!(
            lay(r#"{"jsonrpc":"2.0","result":{},"id":1}"#),
            "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t{\n\t},\n\t\"id\":\t1\n}"
        );
        assert_eq!(
            lay(r#"{"jsonrpc":"2.0","result":[{"entry":7,"size":1,"slot":[{"name":"x","value":5,"type":"int"}]}],"id":1}"#),
            "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t[{\n\t\t\t\"entry\":\t7,\n\t\t\t\"size\":\t1,\n\t\t\t\"slot\":\t[{\n\t\t\t\t\t\"name\":\t\"x\",\n\t\t\t\t\t\"value\":\t5,\n\t\t\t\t\t\"type\":\t\"int\"\n\t\t\t\t}]\n\t\t}],\n\t\"id\":\t1\n}"
        );
    }

    #[test]
    fn pretty_layout_keeps_repeated_members_and_strings() {
        let compact = br#"{"result":{"items":{"shv":{"a":1},"shv":{"a":"x, {y}: [z]\""}},"e":[],"o":{}},"id":1}"#;
        let pretty = String::from_utf8(pretty_json(compact)).unwrap();
        assert_eq!(pretty.matches("\"shv\":").count(), 2, "{pretty}");
        assert!(pretty.contains("\"x, {y}: [z]\\\"\""), "{pretty}");
        assert!(pretty.contains("\"e\":\t[]") && pretty.contains("\"o\":\t{\n\t\t}"), "{pretty}");
        assert!(pretty.contains("\n\t\t\t\"shv\":\t{"), "{pretty}");
        // the same document once the layout is taken away
        let a: serde_json::Value = serde_json::from_slice(compact).unwrap();
        let b: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(a, b);
    }
}
