//! The server's RPC commands from siprctl: JSON-RPC on jsonrpcs' datagram
//! socket (a path), binrpc on ctl's sockets (`unix:PATH`, `tcp:HOST:PORT`,
//! `udp:HOST:PORT`, kamcmd's spelling), or JSON-RPC over HTTP
//! (`http://HOST:PORT/PATH`). Without `--rpc`, the socket is found in the
//! server's cfg (its `run_dir` and the jsonrpcs / ctl parameters), then
//! in the default run dir.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use sipr_core::rpc::{binrpc, RpcValue};

const TIMEOUT: Duration = Duration::from_secs(5);

/// Where the server answers RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// jsonrpcs' unix datagram socket.
    JsonDgram(PathBuf),
    /// ctl's unix stream socket.
    BinrpcUnix(PathBuf),
    /// ctl over TCP.
    BinrpcTcp(String),
    /// ctl over UDP.
    BinrpcUdp(String),
    /// jsonrpcs over xhttp: host:port and path.
    Http(String, String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::JsonDgram(p) => write!(f, "{} (jsonrpcs datagram socket)", p.display()),
            Endpoint::BinrpcUnix(p) => write!(f, "unix:{} (ctl)", p.display()),
            Endpoint::BinrpcTcp(a) => write!(f, "tcp:{a} (ctl)"),
            Endpoint::BinrpcUdp(a) => write!(f, "udp:{a} (ctl)"),
            Endpoint::Http(a, p) => write!(f, "http://{a}{p} (jsonrpcs over xhttp)"),
        }
    }
}

/// Reads `--rpc`'s value.
pub fn parse_endpoint(spec: &str) -> Result<Endpoint> {
    if let Some(rest) = spec.strip_prefix("http://") {
        let (hp, path) = rest.split_once('/').map_or((rest, "/RPC".to_string()), |(h, p)| (h, format!("/{p}")));
        return Ok(Endpoint::Http(hp.to_string(), path));
    }
    if let Some(p) = spec.strip_prefix("unix:") {
        return Ok(Endpoint::BinrpcUnix(PathBuf::from(p)));
    }
    if let Some(a) = spec.strip_prefix("tcp:") {
        return Ok(Endpoint::BinrpcTcp(a.to_string()));
    }
    if let Some(a) = spec.strip_prefix("udp:") {
        return Ok(Endpoint::BinrpcUdp(a.to_string()));
    }
    if spec.contains("://") {
        bail!("--rpc {spec}: a socket path, unix:PATH, tcp:HOST:PORT, udp:HOST:PORT or http://HOST:PORT/PATH");
    }
    // a path: a stream socket is ctl's, anything else jsonrpcs'
    let p = PathBuf::from(spec);
    if UnixStream::connect(&p).is_ok() {
        return Ok(Endpoint::BinrpcUnix(p));
    }
    Ok(Endpoint::JsonDgram(p))
}

/// What the server's cfg says of its control sockets: run_dir, jsonrpcs'
/// datagram socket, ctl's first binrpc socket.
pub fn from_cfg(cfg: &Path) -> Option<(PathBuf, Option<String>, Option<String>)> {
    let text = std::fs::read_to_string(cfg).ok()?;
    let mut run_dir = PathBuf::from("/run/sipr");
    let (mut dgram, mut ctl) = (None, None);
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        if let Some(v) = line.strip_prefix("run_dir").map(str::trim).and_then(|r| r.strip_prefix('=')) {
            run_dir = PathBuf::from(v.trim().trim_matches('"'));
        }
        let args = |l: &str| -> Option<Vec<String>> {
            let inner = l.strip_prefix("modparam(")?.rsplit_once(')')?.0;
            Some(inner.split(',').map(|a| a.trim().trim_matches('"').to_string()).collect())
        };
        if let Some(a) = args(line) {
            match (a.first().map(String::as_str), a.get(1).map(String::as_str), a.get(2)) {
                (Some("jsonrpcs"), Some("dgram_socket"), Some(v)) => dgram = Some(v.clone()),
                (Some("ctl"), Some("binrpc"), Some(v)) if ctl.is_none() => ctl = Some(v.clone()),
                _ => {}
            }
        }
    }
    Some((run_dir, dgram, ctl))
}

/// The endpoints to try, in order: jsonrpcs' datagram socket, then ctl.
pub fn discover(run_dir: Option<&Path>, cfg: Option<&Path>) -> Vec<Endpoint> {
    let (dir, dgram, ctl) = cfg
        .and_then(from_cfg)
        .unwrap_or_else(|| (run_dir.map_or_else(|| PathBuf::from("/run/sipr"), Path::to_path_buf), None, None));
    let dir = run_dir.map_or(dir, Path::to_path_buf);
    let in_dir = |p: &str| if Path::new(p).is_absolute() { PathBuf::from(p) } else { dir.join(p) };
    let mut out = vec![Endpoint::JsonDgram(in_dir(dgram.as_deref().unwrap_or("sipr_rpc.sock")))];
    match ctl.as_deref().map(parse_endpoint) {
        Some(Ok(Endpoint::BinrpcUnix(p))) => out.push(Endpoint::BinrpcUnix(in_dir(&p.to_string_lossy()))),
        Some(Ok(e)) => out.push(e),
        _ => out.push(Endpoint::BinrpcUnix(dir.join("sipr_ctl"))),
    }
    out
}

/// A failed call: the server said no (its code and message), or could not
/// be reached.
#[derive(Debug)]
pub enum CallError {
    /// The command failed.
    Refused(i64, String),
    /// No answer.
    Unreachable(anyhow::Error),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Refused(c, m) => write!(f, "the server answered {c}: {m}"),
            CallError::Unreachable(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for CallError {}

/// One command: its result as JSON.
pub fn call(ep: &Endpoint, method: &str, params: &[Value]) -> Result<Value, CallError> {
    let reply = match ep {
        Endpoint::JsonDgram(p) => json_dgram(p, method, params),
        Endpoint::Http(a, path) => json_http(a, path, method, params),
        _ => return call_binrpc(ep, method, params),
    }
    .map_err(CallError::Unreachable)?;
    if let Some(e) = reply.get("error") {
        return Err(CallError::Refused(
            e.get("code").and_then(Value::as_i64).unwrap_or(500),
            e.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
        ));
    }
    Ok(reply.get("result").cloned().unwrap_or(Value::Null))
}

fn request(method: &str, params: &[Value]) -> Vec<u8> {
    serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params, "id": std::process::id()})
        .to_string()
        .into_bytes()
}

fn json_dgram(path: &Path, method: &str, params: &[Value]) -> Result<Value> {
    let me = std::env::temp_dir().join(format!("siprctl.{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&me);
    let s = UnixDatagram::bind(&me).with_context(|| format!("cannot bind {}", me.display()))?;
    let result = (|| {
        s.set_read_timeout(Some(TIMEOUT))?;
        s.send_to(&request(method, params), path)
            .with_context(|| format!("cannot reach sipr on {}", path.display()))?;
        let mut buf = vec![0u8; 4 << 20];
        let n = s.recv(&mut buf).with_context(|| format!("no answer from sipr on {}", path.display()))?;
        serde_json::from_slice(&buf[..n]).context("the answer is not JSON")
    })();
    let _ = std::fs::remove_file(&me);
    result
}

fn json_http(addr: &str, path: &str, method: &str, params: &[Value]) -> Result<Value> {
    let body = request(method, params);
    let mut s = TcpStream::connect(addr).with_context(|| format!("cannot reach sipr on http://{addr}{path}"))?;
    s.set_read_timeout(Some(TIMEOUT))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(&body)?;
    let mut data = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = s.read(&mut chunk).context("no answer over HTTP")?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok()))
                .unwrap_or(0);
            if data.len() >= end + 4 + len {
                return serde_json::from_slice(&data[end + 4..end + 4 + len]).context("the answer is not JSON");
            }
        }
    }
    bail!("the HTTP answer ended early")
}

fn call_binrpc(ep: &Endpoint, method: &str, params: &[Value]) -> Result<Value, CallError> {
    let params: Vec<RpcValue> = params.iter().map(sipr_core::rpc::json::to_rpc).collect();
    let packet = binrpc::request(&std::process::id().to_be_bytes(), method, &params);
    let unreachable = |e: std::io::Error| CallError::Unreachable(anyhow!("cannot reach sipr on {ep}: {e}"));
    let reply = match ep {
        Endpoint::BinrpcUdp(a) => {
            let s = UdpSocket::bind("127.0.0.1:0").map_err(unreachable)?;
            s.set_read_timeout(Some(TIMEOUT)).map_err(unreachable)?;
            s.send_to(&packet, a.as_str()).map_err(unreachable)?;
            let mut buf = vec![0u8; 65536];
            let n = s.recv(&mut buf).map_err(unreachable)?;
            buf.truncate(n);
            buf
        }
        Endpoint::BinrpcUnix(p) => {
            let s = UnixStream::connect(p).map_err(unreachable)?;
            stream_exchange(s, &packet).map_err(unreachable)?
        }
        Endpoint::BinrpcTcp(a) => {
            let s = TcpStream::connect(a.as_str()).map_err(unreachable)?;
            stream_exchange(s, &packet).map_err(unreachable)?
        }
        _ => unreachable!("JSON endpoints are served by call"),
    };
    match binrpc::parse_reply(&reply) {
        Ok(Ok(values)) => {
            let v = match values.len() {
                0 => RpcValue::Null,
                1 => values.into_iter().next().unwrap_or(RpcValue::Null),
                _ => RpcValue::Array(values),
            };
            let mut text = String::new();
            sipr_core::rpc::json::write_rpc(&v, &mut text);
            serde_json::from_str(&text).map_err(|e| CallError::Unreachable(anyhow!(e)))
        }
        Ok(Err(e)) => Err(CallError::Refused(i64::from(e.code), e.message)),
        Err(e) => Err(CallError::Unreachable(anyhow!("a bad binrpc answer from {ep}: {e}"))),
    }
}

fn stream_exchange<S: Read + Write + StreamTimeouts>(mut s: S, packet: &[u8]) -> std::io::Result<Vec<u8>> {
    s.timeouts(TIMEOUT)?;
    s.write_all(packet)?;
    let mut data = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(data);
        }
        data.extend_from_slice(&chunk[..n]);
        if let Ok(binrpc::Framing::Packet(total)) = binrpc_reply_len(&data) {
            if data.len() >= total {
                return Ok(data);
            }
        }
    }
}

/// The length of a reply packet from its header.
fn binrpc_reply_len(data: &[u8]) -> Result<binrpc::Framing, ()> {
    let second = *data.get(1).ok_or(())?;
    let len_len = usize::from((second >> 2) & 3) + 1;
    let cookie_len = usize::from(second & 3) + 1;
    let len = data.get(2..2 + len_len).ok_or(())?;
    let body = len.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
    Ok(binrpc::Framing::Packet(2 + len_len + cookie_len + body))
}

/// Read and write timeouts of a stream socket.
pub trait StreamTimeouts {
    /// Sets both.
    fn timeouts(&mut self, t: Duration) -> std::io::Result<()>;
}

impl StreamTimeouts for UnixStream {
    fn timeouts(&mut self, t: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
}

impl StreamTimeouts for TcpStream {
    fn timeouts(&mut self, t: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
}

/// kamctl's typing of a command-line parameter: a number is an int,
/// `s:TEXT` a string, `i:N` an int, anything else a string.
pub fn typed_param(word: &str) -> Value {
    if let Some(s) = word.strip_prefix("s:") {
        return Value::String(s.to_string());
    }
    if let Some(i) = word.strip_prefix("i:").and_then(|n| n.parse::<i64>().ok()) {
        return Value::from(i);
    }
    match word.parse::<i64>() {
        Ok(i) => Value::from(i),
        Err(_) => Value::String(word.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("unix:/run/sipr/sipr_ctl").unwrap(),
            Endpoint::BinrpcUnix("/run/sipr/sipr_ctl".into())
        );
        assert_eq!(parse_endpoint("tcp:127.0.0.1:2046").unwrap(), Endpoint::BinrpcTcp("127.0.0.1:2046".into()));
        assert_eq!(
            parse_endpoint("http://127.0.0.1:8080/RPC").unwrap(),
            Endpoint::Http("127.0.0.1:8080".into(), "/RPC".into())
        );
        assert_eq!(parse_endpoint("/nonexistent/x.sock").unwrap(), Endpoint::JsonDgram("/nonexistent/x.sock".into()));
        assert!(parse_endpoint("ftp://x").is_err());
    }

    #[test]
    fn kamctl_typing() {
        assert_eq!(typed_param("42"), Value::from(42));
        assert_eq!(typed_param("s:42"), Value::from("42"));
        assert_eq!(typed_param("i:7"), Value::from(7));
        assert_eq!(typed_param("abc"), Value::from("abc"));
    }

    #[test]
    fn sockets_from_the_cfg() {
        let dir = std::env::temp_dir().join(format!("siprctl-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("sipr.cfg");
        std::fs::write(
            &cfg,
            "run_dir=\"/var/run/x\"\nmodparam(\"jsonrpcs\", \"dgram_socket\", \"rpc.sock\")\nmodparam(\"ctl\", \"binrpc\", \"tcp:127.0.0.1:2046\")\n",
        )
        .unwrap();
        let eps = discover(None, Some(&cfg));
        assert_eq!(
            eps,
            vec![Endpoint::JsonDgram("/var/run/x/rpc.sock".into()), Endpoint::BinrpcTcp("127.0.0.1:2046".into())]
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
