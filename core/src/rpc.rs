//! RPC commands (Kamailio's `core.*`, `htable.*`, ...): what a command
//! takes and returns, independent of the transport (JSON-RPC over a unix
//! socket / FIFO comes with the control issue). Modules export commands
//! through their `ModuleDef`; the module set finds and runs them by name.

use std::fmt;

/// A parameter or result: JSON's shapes, as Kamailio's RPC layer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcValue {
    /// No value.
    Null,
    /// A number.
    Int(i64),
    /// A string.
    Str(String),
    /// A list.
    Array(Vec<RpcValue>),
    /// Named members, in order.
    Struct(Vec<(String, RpcValue)>),
}

impl RpcValue {
    /// The value as text (numbers printed), for string parameters.
    pub fn as_text(&self) -> Option<String> {
        match self {
            RpcValue::Str(s) => Some(s.clone()),
            RpcValue::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }

    /// The value as a number (numeric strings parsed).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            RpcValue::Int(i) => Some(*i),
            RpcValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A struct member.
    pub fn member(&self, name: &str) -> Option<&RpcValue> {
        match self {
            RpcValue::Struct(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
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
}

impl RpcError {
    /// An error with a code.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into() }
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
    params.get(n).and_then(RpcValue::as_text).ok_or_else(|| RpcError::new(400, format!("missing parameter: {what}")))
}
