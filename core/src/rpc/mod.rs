//! RPC commands (Kamailio's `core.*`, `htable.*`, ...): what a command
//! takes and returns, independent of the transport. Modules export
//! commands through their `ModuleDef`; the server publishes the whole set
//! once before the fork ([`publish`]) and any process runs one by name
//! ([`call`]) — the jsonrpcs module's processes through the core API,
//! with the JSON-RPC 2.0 codec of [`json`].

pub mod binrpc;
pub mod json;
pub mod server;

use std::fmt;
use std::sync::OnceLock;

/// A parameter or result: JSON's shapes, as Kamailio's RPC layer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcValue {
    /// No value.
    Null,
    /// A number.
    Int(i64),
    /// A number with a fraction, as its shortest decimal text (`0.9`):
    /// kept as text so that values compare exactly.
    Double(String),
    /// A string.
    Str(String),
    /// A list.
    Array(Vec<RpcValue>),
    /// Named members, in order (a name may repeat, as pv.shvGet's "shv").
    Struct(Vec<(String, RpcValue)>),
    /// A list of named members: Kamailio's list that a command fills with
    /// `struct_add` (ul.dump's "Contacts", core.sockets_list). JSON writes
    /// it as a list of one-member objects, binrpc as one struct.
    Members(Vec<(String, RpcValue)>),
    /// Values a command adds one after another at the top level without
    /// making them an array (cfg.help's description, then its type line):
    /// binrpc sends each; Kamailio's jsonrpcs answers only the last one
    /// (measured).
    Added(Vec<RpcValue>),
}

impl RpcValue {
    /// A number with a fraction, as its shortest decimal text (`0.9`,
    /// `1`), as Kamailio's JSON writer prints doubles.
    pub fn double(v: f64) -> RpcValue {
        RpcValue::Double(format!("{v}"))
    }

    /// The value as text (numbers printed), for string parameters.
    pub fn as_text(&self) -> Option<String> {
        match self {
            RpcValue::Str(s) => Some(s.clone()),
            RpcValue::Int(i) => Some(i.to_string()),
            RpcValue::Double(d) => Some(d.clone()),
            _ => None,
        }
    }

    /// The value as a number (numeric strings parsed).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            RpcValue::Int(i) => Some(*i),
            RpcValue::Double(d) => d.parse::<f64>().ok().map(|f| f as i64),
            RpcValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A struct member.
    pub fn member(&self, name: &str) -> Option<&RpcValue> {
        match self {
            RpcValue::Struct(m) | RpcValue::Members(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A failed command: a code (Kamailio uses HTTP-like ones: 400 bad
/// parameters, 404 not found, 500 internal) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// Code.
    pub code: i32,
    /// Message.
    pub message: String,
    /// Set when the error is a missing parameter (its index): binrpc
    /// words it as Kamailio's codec does, whatever the command said.
    pub missing_param: Option<usize>,
}

impl RpcError {
    /// An error with a code.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), missing_param: None }
    }

    /// Parameter `n` (`what`) is missing: a 400.
    pub fn missing(n: usize, what: &str) -> Self {
        RpcError { code: 400, message: format!("missing parameter: {what}"), missing_param: Some(n) }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl std::error::Error for RpcError {}

/// A command.
pub type RpcFn = fn(&[RpcValue]) -> Result<RpcValue, RpcError>;

/// A command as a module exports it.
#[derive(Debug, Clone, Copy)]
pub struct RpcDef {
    /// `module.command`.
    pub name: &'static str,
    /// One line of help (`system.listMethods` / `system.methodHelp`).
    pub doc: &'static str,
    /// The command.
    pub call: RpcFn,
}

/// The `n`th parameter as text, or a 400.
pub fn text_param(params: &[RpcValue], n: usize, what: &str) -> Result<String, RpcError> {
    params.get(n).and_then(RpcValue::as_text).ok_or_else(|| RpcError::missing(n, what))
}

static COMMANDS: OnceLock<Vec<RpcDef>> = OnceLock::new();

/// Publishes the server's commands (core and loaded modules; main
/// process, before the fork).
pub fn publish(commands: Vec<RpcDef>) {
    let _ = COMMANDS.set(commands);
}

/// Every published command.
pub fn commands() -> &'static [RpcDef] {
    COMMANDS.get().map_or(&[], Vec::as_slice)
}

/// The commands [`call`] answers itself.
pub const BUILTIN: &[&str] = &["system.listMethods", "system.methodHelp"];

/// Whether command `name` exists.
pub fn exists(name: &str) -> bool {
    BUILTIN.contains(&name) || commands().iter().any(|c| c.name == name)
}

/// [`call`] for binrpc, whose unknown command is Kamailio's 500 "command
/// NAME not found" (JSON-RPC's is "Method Not Found").
pub fn call_binrpc(name: &str, params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    if !exists(name) {
        return Err(RpcError::new(500, format!("command {name} not found")));
    }
    // a missing parameter worded as Kamailio's binrpc reader words it
    call(name, params).map_err(|e| match e.missing_param {
        Some(n) => {
            RpcError::new(400, format!("error at parameter {n}: expected string type but end of packet encountered"))
        }
        None => e,
    })
}

/// Runs command `name`: Kamailio's 500 "Method Not Found" when there is
/// none. `system.listMethods` and `system.methodHelp` are answered here.
pub fn call(name: &str, params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    match name {
        "system.listMethods" => {
            let mut names: Vec<&str> = commands().iter().map(|c| c.name).collect();
            names.extend(BUILTIN);
            names.sort_unstable();
            Ok(RpcValue::Array(names.into_iter().map(|n| RpcValue::Str(n.to_string())).collect()))
        }
        "system.methodHelp" => {
            let m =
                params.first().and_then(RpcValue::as_text).ok_or_else(|| RpcError::new(400, "Method Name Expected"))?;
            // the help strings are Kamailio's, word for word: kamcmd users
            // read them
            match m.as_str() {
                "system.listMethods" => {
                    return Ok(RpcValue::Str("Lists all RPC methods supported by the server.".into()))
                }
                "system.methodHelp" => return Ok(RpcValue::Str("Print the help string for given method.".into())),
                _ => {}
            }
            let c = commands().iter().find(|c| c.name == m).ok_or_else(|| RpcError::new(400, "command not found"))?;
            Ok(RpcValue::Str(c.doc.to_string()))
        }
        _ => {
            let c = commands().iter().find(|c| c.name == name).ok_or_else(|| RpcError::new(500, "Method Not Found"))?;
            // a module's command runs inside its own panic guard (the SDK's
            // guard_rpc); the core's own commands do not panic
            (c.call)(params)
        }
    }
}
