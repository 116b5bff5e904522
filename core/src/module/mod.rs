//! Modules: shared libraries loaded at startup with `loadmodule`, as
//! Kamailio's. This is the core's side of the module ABI ([`abi`]) and
//! the loader ([`ModuleSet`]); modules are written with the `sipr-sdk`
//! crate.
//!
//! The boundary, and why it is shaped so: each cdylib carries its own
//! copy of every static (the `log` logger, the mem crate's pool), so
//! process-global services reach a module only through the `#[repr(C)]`
//! [`abi::CoreApi`] table handed over at load time. A module's first
//! words are a `#[repr(C)]` [`abi::ModuleHeader`] with the ABI version and
//! the core's build id; only when both match is the rest — Rust types,
//! laid out identically because the same compiler built both from the
//! same sources — read. Every callback is wrapped by the SDK in
//! `catch_unwind` inside the module, so no panic unwinds into the core.
//! Modules are loaded before the fork and never unloaded.

pub mod abi;
mod loader;

pub(crate) use loader::{post_script_hooks, pre_script_hooks, response_hooks};
pub use loader::{LoadError, ModuleSet};
