//! The cfg language (Kamailio's): preprocessor, parser, compiler and the
//! interpreter that runs the compiled routes on messages.
//!
//! ```text
//! text ──preprocess──▶ Preprocessed ──parse──▶ ast::CfgFile ──compile──▶ Program ──run──▶ Outcome
//!                      (line origins)          (byte offsets)           (fn pointers,
//!                                                                        PV handles,
//!                                                                        route indices)
//! ```
//!
//! Errors at every stage carry `file:line:column` of the original source
//! (through includes). Modules plug in through [`FnRegistry`],
//! [`PvRegistry`] and a [`ModuleLoader`].

pub mod ast;
mod compile;
mod corefn;
mod ctx;
mod exec;
mod func;
mod lex;
mod params;
mod parse;
mod preprocess;
mod pv;
mod pv_msg;
mod subst;
mod textfn;
pub(crate) mod timefmt;
mod transform;
mod value;

use std::fmt;
use std::path::Path;

pub use ast::{ModValue, ParamValue, RouteKind};
pub use compile::{
    compile, compile_param_regex, route_type, Block, CExpr, CaseLabel, Const, CustomParam, Elem, ModuleLoader,
    NoModules, Op, OpKind, Program, Route,
};
pub use corefn::{build_request, forward_reply_upstream, uri_destination, NextHop};
pub use ctx::{
    Avp, Branch, ConnFlags, CoreInfo, Ctx, Dest, ListenAddr, MsgArena, Outbound, Outgoing, ProcState, Recorder,
    RouteMask, RouteType, SendFlags, Xavp, FAKED_REQUEST,
};
pub use exec::Outcome;
/// The compiled regex type of function parameters.
pub type ParamRegex = regex::bytes::Regex;
pub use func::{FixupFn, FnDef, FnRegistry, Param, ParamKind, ScriptFn};
pub use params::{parse_hostport, CoreParams, ParamError};
pub use parse::{bool_word, parse, SyntaxError};
pub use preprocess::{cfg_print, preprocess, preprocess_str, Defines, Loc, PreprocessError, Preprocessed};
pub use pv::{
    parse_socket, rebuild_uri, Format, Names, PvArg, PvClass, PvFixup, PvGet, PvIndex, PvRef, PvRegistry, PvSet,
    PvSyntax, UriPart, XavpPath,
};
pub use pv_msg::mark_boot;
pub use subst::{split_subst, SubstExpr};
pub use timefmt::{ctime, strftime};
pub use transform::{TrParam, Transform};
pub use value::{str_to_int, Stored, Value};

/// An error in the cfg, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfgError {
    /// Where.
    pub loc: Loc,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for CfgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.loc, self.msg)
    }
}

/// Why a cfg could not be loaded.
#[derive(Debug)]
pub enum CfgLoadError {
    /// The preprocessor failed.
    Preprocess(PreprocessError),
    /// A syntax error.
    Syntax(CfgError),
    /// Errors found while resolving names and checking parameters.
    Compile(Vec<CfgError>),
}

impl fmt::Display for CfgLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CfgLoadError::Preprocess(e) => write!(f, "{e}"),
            CfgLoadError::Syntax(e) => write!(f, "{e}"),
            CfgLoadError::Compile(errs) => {
                for (i, e) in errs.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CfgLoadError {}

impl CfgLoadError {
    /// Every error, one per line item.
    pub fn errors(&self) -> Vec<String> {
        match self {
            CfgLoadError::Compile(errs) => errs.iter().map(ToString::to_string).collect(),
            other => vec![other.to_string()],
        }
    }
}

/// Maps byte offsets of the preprocessed text to `file:line:column`.
#[derive(Debug, Clone)]
pub struct SourceMap {
    pre: Preprocessed,
    line_starts: Vec<usize>,
}

impl SourceMap {
    /// The map of a preprocessed text.
    pub fn new(pre: Preprocessed) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(pre.text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1));
        SourceMap { pre, line_starts }
    }

    /// The defines as the preprocessor left them.
    pub fn defines(&self) -> &Defines {
        &self.pre.defines
    }

    /// The preprocessed text.
    pub fn text(&self) -> &str {
        &self.pre.text
    }

    /// The source location of a byte offset.
    pub fn loc(&self, off: ast::Pos) -> Loc {
        let off = off as usize;
        let line = self.line_starts.partition_point(|&s| s <= off);
        let start = self.line_starts[line - 1];
        let col = self.pre.text.get(start..off).map_or(off - start, |s| s.chars().count()) + 1;
        self.pre.loc(line as u32, col as u32)
    }
}

/// Parses and compiles preprocessed text.
pub fn compile_preprocessed(
    pre: Preprocessed,
    fns: FnRegistry,
    pvs: PvRegistry,
    loader: &mut dyn ModuleLoader,
) -> Result<Program, CfgLoadError> {
    let map = SourceMap::new(pre);
    let file =
        parse(map.text()).map_err(|e| CfgLoadError::Syntax(CfgError { loc: map.loc(e.off as u32), msg: e.msg }))?;
    compile(&file, &map, fns, pvs, loader).map_err(CfgLoadError::Compile)
}

/// Preprocesses, parses and compiles the cfg file at `path`.
pub fn load(
    path: &Path,
    defines: Defines,
    fns: FnRegistry,
    pvs: PvRegistry,
    loader: &mut dyn ModuleLoader,
) -> Result<Program, CfgLoadError> {
    let pre = preprocess(path, defines).map_err(CfgLoadError::Preprocess)?;
    compile_preprocessed(pre, fns, pvs, loader)
}

/// Preprocesses the cfg file at `path`, appends `extra` top-level lines
/// (the command line's `-l`, `-a`, `--loadmodule`, `--modparam`, as cfg
/// text; their errors name `<command line>`), then parses and compiles.
pub fn load_with_extra(
    path: &Path,
    defines: Defines,
    extra: &[String],
    fns: FnRegistry,
    pvs: PvRegistry,
    loader: &mut dyn ModuleLoader,
) -> Result<Program, CfgLoadError> {
    let mut pre = preprocess(path, defines).map_err(CfgLoadError::Preprocess)?;
    if !extra.is_empty() {
        if !pre.text.ends_with('\n') && !pre.text.is_empty() {
            pre.text.push('\n');
            let last = pre.origins.last().cloned();
            if let Some(l) = last {
                pre.origins.push(l);
            }
        }
        let origin: std::sync::Arc<str> = std::sync::Arc::from("<command line>");
        for (i, line) in extra.iter().enumerate() {
            pre.text.push_str(line);
            pre.text.push('\n');
            pre.origins.push((origin.clone(), i as u32 + 1));
        }
    }
    compile_preprocessed(pre, fns, pvs, loader)
}

/// Compiles cfg text as if read from `name` (tests, `sipr -c` on stdin).
pub fn load_str(
    text: &str,
    name: &str,
    fns: FnRegistry,
    pvs: PvRegistry,
    loader: &mut dyn ModuleLoader,
) -> Result<Program, CfgLoadError> {
    let pre = preprocess_str(text, Path::new(name), Defines::new()).map_err(CfgLoadError::Preprocess)?;
    compile_preprocessed(pre, fns, pvs, loader)
}
