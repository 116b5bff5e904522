//! Finding, opening and checking module files; registering their
//! functions, PVs and parameters; running their init hooks.

use std::fmt;
use std::path::{Path, PathBuf};

use super::abi::{
    CoreApi, InitFn, ModuleDef, ModuleHeader, ABI_VERSION, BUILD_ID, CORE_API, FEATURES, HEADER_SYMBOL, INIT_SYMBOL,
};
use crate::cfg::{FnRegistry, ModValue, ModuleLoader, PvRegistry};

/// Why a module could not be loaded, configured or initialised.
#[derive(Debug)]
pub enum LoadError {
    /// No file found under any of the tried paths.
    NotFound {
        /// As written in the cfg.
        name: String,
        /// Every path tried.
        tried: Vec<PathBuf>,
    },
    /// The dynamic loader refused the file.
    Open {
        /// The file.
        path: PathBuf,
        /// dlerror's text.
        reason: String,
    },
    /// The file has no `sipr_module_header` (or no `sipr_module_init`):
    /// not a sipr module.
    NoEntryPoint {
        /// The file.
        path: PathBuf,
        /// dlerror's text.
        reason: String,
    },
    /// Built for another ABI version.
    AbiVersion {
        /// The file.
        path: PathBuf,
        /// The module's version.
        module: u32,
    },
    /// Built with other cargo features of the shared crates.
    Features {
        /// The file.
        path: PathBuf,
        /// The module's feature bits.
        module: u32,
    },
    /// Built by another build of the core.
    BuildId {
        /// The file.
        path: PathBuf,
        /// The module's build id.
        module: String,
    },
    /// The same module loaded twice.
    Duplicate {
        /// Module name.
        name: String,
    },
    /// A function or PV clashes with one already registered.
    Register {
        /// Module name.
        name: String,
        /// What clashed.
        reason: String,
    },
    /// `modparam` for a module that is not loaded.
    NotLoaded {
        /// Module name.
        module: String,
    },
    /// `modparam` with a name the module does not have.
    NoParam {
        /// Module name.
        module: String,
        /// Parameter.
        param: String,
    },
    /// `modparam` with a value of the wrong type.
    ParamType {
        /// Module name.
        module: String,
        /// Parameter.
        param: String,
        /// "a number" / "a string".
        expected: &'static str,
        /// The value given.
        found: String,
    },
    /// The module's setter refused the value.
    ParamRefused {
        /// Module name.
        module: String,
        /// Parameter.
        param: String,
        /// Why.
        why: String,
    },
    /// `mod_init` failed.
    Init {
        /// Module name.
        module: String,
        /// Why.
        why: String,
    },
    /// `child_init` failed.
    ChildInit {
        /// Module name.
        module: String,
        /// The process rank.
        rank: i32,
        /// Why.
        why: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound { name, tried } => {
                let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
                write!(f, "module '{name}' not found (tried {})", list.join(", "))
            }
            LoadError::Open { path, reason } => write!(f, "cannot open module {}: {reason}", path.display()),
            LoadError::NoEntryPoint { path, reason } => {
                write!(f, "{} is not a sipr module (no {HEADER_SYMBOL}/{INIT_SYMBOL}): {reason}", path.display())
            }
            LoadError::AbiVersion { path, module } => {
                write!(f, "module {} has ABI version {module}, this sipr has {ABI_VERSION}", path.display())
            }
            LoadError::Features { path, module } => write!(
                f,
                "module {} was built with other features of the shared crates (module {module:#x}, this sipr \
                 {FEATURES:#x}); rebuild it with this tree",
                path.display()
            ),
            LoadError::BuildId { path, module } => write!(
                f,
                "module {} was built by another build of sipr (module build {module}, this sipr build {BUILD_ID}); \
                 rebuild it with this tree",
                path.display()
            ),
            LoadError::Duplicate { name } => write!(f, "module '{name}' is loaded twice"),
            LoadError::Register { name, reason } => write!(f, "module '{name}': {reason}"),
            LoadError::NotLoaded { module } => write!(f, "module '{module}' is not loaded (loadmodule it above)"),
            LoadError::NoParam { module, param } => write!(f, "module '{module}' has no parameter '{param}'"),
            LoadError::ParamType { module, param, expected, found } => {
                write!(f, "parameter '{param}' of '{module}' takes {expected}, not {found}")
            }
            LoadError::ParamRefused { module, param, why } => write!(f, "parameter '{param}' of '{module}': {why}"),
            LoadError::Init { module, why } => write!(f, "module '{module}' failed to initialise: {why}"),
            LoadError::ChildInit { module, rank, why } => {
                write!(f, "module '{module}' child_init({rank}) failed: {why}")
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// Every API of every loaded module (modules are never unloaded, so the
/// references stay valid): what `find_api` searches.
static APIS: std::sync::Mutex<Vec<&'static super::abi::ApiDef>> = std::sync::Mutex::new(Vec::new());

/// The API `name` of a loaded module.
pub(crate) fn find_api(name: &[u8]) -> Option<&'static super::abi::ApiDef> {
    APIS.lock().ok()?.iter().find(|a| a.name.as_bytes() == name).copied()
}

/// Every loaded module's reply hook, in load order (Kamailio's
/// `response_f`): what the core calls for each reply before forwarding it
/// statelessly.
static RESPONSE_HOOKS: std::sync::Mutex<Vec<super::abi::ResponseHook>> = std::sync::Mutex::new(Vec::new());

/// The reply hooks of the loaded modules (copied: a process reads the list
/// it inherited).
pub(crate) fn response_hooks() -> Vec<super::abi::ResponseHook> {
    RESPONSE_HOOKS.lock().map(|h| h.clone()).unwrap_or_default()
}

/// Every loaded module's pre-script hook, in load order.
static PRE_SCRIPT_HOOKS: std::sync::Mutex<Vec<super::abi::PreScriptHook>> = std::sync::Mutex::new(Vec::new());

/// The pre-script hooks of the loaded modules.
pub(crate) fn pre_script_hooks() -> Vec<super::abi::PreScriptHook> {
    PRE_SCRIPT_HOOKS.lock().map(|h| h.clone()).unwrap_or_default()
}

/// Every loaded module's post-script hook, in load order.
static POST_SCRIPT_HOOKS: std::sync::Mutex<Vec<super::abi::PostScriptHook>> = std::sync::Mutex::new(Vec::new());

/// The post-script hooks of the loaded modules.
pub(crate) fn post_script_hooks() -> Vec<super::abi::PostScriptHook> {
    POST_SCRIPT_HOOKS.lock().map(|h| h.clone()).unwrap_or_default()
}

/// A module that is loaded.
struct Loaded {
    def: &'static ModuleDef,
    path: PathBuf,
}

/// The loaded modules, in load order. Implements the cfg compiler's
/// [`ModuleLoader`]: `loadmodule` opens a file and registers its exports,
/// `modparam` sets a parameter through the module's setter.
pub struct ModuleSet {
    modules: Vec<Loaded>,
    /// Directories searched after `mpath` (`-L`, then the installed
    /// `lib/sipr/modules` beside the binary, then the binary's own
    /// directory — a development tree).
    search: Vec<PathBuf>,
}

impl fmt::Debug for ModuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.modules.iter().map(|m| (m.def.name, &m.path))).finish()
    }
}

impl ModuleSet {
    /// A set searching `extra` directories (from `-L`) before the
    /// defaults.
    pub fn new(extra: &[PathBuf]) -> Self {
        let mut search = extra.to_vec();
        if let Ok(exe) = std::env::current_exe() {
            if let Some(dir) = exe.parent() {
                if let Some(prefix) = dir.parent() {
                    search.push(prefix.join("lib/sipr/modules"));
                }
                search.push(dir.to_path_buf());
                // test binaries live in target/<profile>/deps
                if dir.ends_with("deps") {
                    if let Some(up) = dir.parent() {
                        search.push(up.to_path_buf());
                    }
                }
            }
        }
        ModuleSet { modules: Vec::new(), search }
    }

    /// Names of the loaded modules.
    pub fn names(&self) -> Vec<&'static str> {
        self.modules.iter().map(|m| m.def.name).collect()
    }

    /// The candidate files for `loadmodule "name"`.
    fn candidates(&self, name: &str, mpath: Option<&str>) -> Vec<PathBuf> {
        if name.contains('/') {
            return vec![PathBuf::from(name)];
        }
        let base = name.strip_suffix(".so").unwrap_or(name);
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(mp) = mpath {
            dirs.extend(mp.split(':').filter(|d| !d.is_empty()).map(PathBuf::from));
        }
        dirs.extend(self.search.iter().cloned());
        let mut out = Vec::new();
        for d in dirs {
            out.push(d.join(format!("{base}.so")));
            out.push(d.join(base).join(format!("{base}.so")));
            out.push(d.join(format!("lib{base}.so")));
        }
        out
    }

    /// Opens and checks a module file.
    fn open(path: &Path) -> Result<&'static ModuleDef, LoadError> {
        // SAFETY: loading a library runs its initialisers; sipr modules are
        // Rust cdylibs without constructors that could misbehave, and this
        // happens in the main process before any thread or fork.
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| LoadError::Open { path: path.to_owned(), reason: e.to_string() })?;
        // Modules are never unloaded: their statics (function tables, PV
        // classes, parameters) are referenced for the life of the process.
        let lib: &'static libloading::Library = Box::leak(Box::new(lib));
        let not_sipr = |e: libloading::Error| LoadError::NoEntryPoint { path: path.to_owned(), reason: e.to_string() };
        // The header first: a static, read before any code of the module
        // runs, so that a module of another build never gets to execute.
        // SAFETY: a data symbol: `get::<*const T>` yields its address; a
        // sipr module exports it as a `ModuleHeader` (the SDK's macro), and
        // a foreign library with that name is outside what dlsym can check.
        let header: *const ModuleHeader =
            unsafe { lib.get::<*const ModuleHeader>(HEADER_SYMBOL.as_bytes()) }.map(|s| *s).map_err(not_sipr)?;
        if header.is_null() {
            return Err(LoadError::NoEntryPoint { path: path.to_owned(), reason: "null header".into() });
        }
        // SAFETY: non-null and pointing to the module's `static` header,
        // which is #[repr(C)] with abi_version and features first: readable
        // whatever build made it.
        let h: &'static ModuleHeader = unsafe { &*header };
        if h.abi_version != ABI_VERSION {
            return Err(LoadError::AbiVersion { path: path.to_owned(), module: h.abi_version });
        }
        if h.features != FEATURES {
            return Err(LoadError::Features { path: path.to_owned(), module: h.features });
        }
        // SAFETY: build_id/build_id_len describe a static &str of the
        // module (checked ABI version: the field layout is ours).
        let id = unsafe { std::slice::from_raw_parts(h.build_id, h.build_id_len) };
        if id != BUILD_ID.as_bytes() {
            return Err(LoadError::BuildId { path: path.to_owned(), module: String::from_utf8_lossy(id).into_owned() });
        }
        // SAFETY: looked up with the type the SDK's macro exports it with.
        let init: InitFn = unsafe { lib.get::<InitFn>(INIT_SYMBOL.as_bytes()) }.map(|s| *s).map_err(not_sipr)?;
        let core: *const CoreApi = &CORE_API;
        // SAFETY: the checks passed: the module is of this build; its entry
        // takes the core table (a 'static) and catches its own panics.
        if unsafe { init(core) } != 0 {
            return Err(LoadError::Open { path: path.to_owned(), reason: "module refused to initialise".into() });
        }
        // SAFETY: same ABI version, features and build id: the module was
        // compiled from the same sources by the same compiler with the same
        // settings, so `ModuleDef` has our layout; it is a static of the
        // module, which is never unloaded.
        Ok(unsafe { &*h.def })
    }

    /// Loads `name` (as written after `loadmodule`) and registers its
    /// exports.
    pub fn load_module(
        &mut self,
        name: &str,
        mpath: Option<&str>,
        fns: &mut FnRegistry,
        pvs: &mut PvRegistry,
    ) -> Result<&'static str, LoadError> {
        let candidates = self.candidates(name, mpath);
        let Some(path) = candidates.iter().find(|p| p.is_file()).cloned() else {
            return Err(LoadError::NotFound { name: name.to_string(), tried: candidates });
        };
        let def = Self::open(&path)?;
        if self.modules.iter().any(|m| m.def.name == def.name) {
            return Err(LoadError::Duplicate { name: def.name.to_string() });
        }
        for f in def.functions {
            fns.register(*f).map_err(|reason| LoadError::Register { name: def.name.to_string(), reason })?;
        }
        for pv in def.pvs {
            pvs.register(pv).map_err(|reason| LoadError::Register { name: def.name.to_string(), reason })?;
        }
        if let Ok(mut apis) = APIS.lock() {
            for a in def.apis {
                if !apis.iter().any(|x| x.name == a.name) {
                    apis.push(a);
                }
            }
        }
        if let (Some(hook), Ok(mut hooks)) = (def.response, RESPONSE_HOOKS.lock()) {
            hooks.push(hook);
        }
        if let (Some(hook), Ok(mut hooks)) = (def.post_script, POST_SCRIPT_HOOKS.lock()) {
            hooks.push(hook);
        }
        if let (Some(hook), Ok(mut hooks)) = (def.pre_script, PRE_SCRIPT_HOOKS.lock()) {
            hooks.push(hook);
        }
        log::debug!("loaded module {} from {}", def.name, path.display());
        self.modules.push(Loaded { def, path });
        Ok(def.name)
    }

    /// Sets a module parameter. `module` may be `a|b` (each gets it), as
    /// Kamailio's modparam.
    pub fn set_param(&mut self, module: &str, param: &str, value: &ModValue) -> Result<(), LoadError> {
        for name in module.split('|') {
            let m = self
                .modules
                .iter()
                .find(|m| m.def.name == name)
                .ok_or_else(|| LoadError::NotLoaded { module: name.to_string() })?;
            let p = m
                .def
                .params
                .iter()
                .find(|p| p.name == param)
                .ok_or_else(|| LoadError::NoParam { module: name.to_string(), param: param.to_string() })?;
            use super::abi::ModParamKind as K;
            let wrong = |expected: &'static str, found: String| LoadError::ParamType {
                module: name.to_string(),
                param: param.to_string(),
                expected,
                found,
            };
            match (p.kind, value) {
                (K::Int, ModValue::Str(s)) => return Err(wrong("a number", format!("\"{s}\""))),
                (K::Str, ModValue::Int(i)) => return Err(wrong("a string", i.to_string())),
                _ => {}
            }
            (p.set)(value).map_err(|why| LoadError::ParamRefused {
                module: name.to_string(),
                param: param.to_string(),
                why,
            })?;
        }
        Ok(())
    }

    /// Runs the RPC command `name` of a loaded module.
    pub fn rpc(
        &self,
        name: &str,
        params: &[crate::rpc::RpcValue],
    ) -> Result<crate::rpc::RpcValue, crate::rpc::RpcError> {
        let def = self
            .rpc_defs()
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| crate::rpc::RpcError::new(500, "command not found"))?;
        (def.call)(params)
    }

    /// The loaded modules' definitions, in load order.
    pub fn defs(&self) -> Vec<&'static ModuleDef> {
        self.modules.iter().map(|m| m.def).collect()
    }

    /// Every RPC command: the core's, the loaded modules', and the
    /// core's `stats.*` / `corex.*` / `cfg.*` / `cnt.*` when the cfg loads
    /// kex / corex / cfg_rpc / counters (as in Kamailio, where those
    /// modules serve them).
    pub fn rpc_defs(&self) -> Vec<crate::rpc::RpcDef> {
        let loaded = |name: &str| self.modules.iter().any(|m| m.def.name == name);
        let (cfg_rpc, counters, kex, corex) = (loaded("cfg_rpc"), loaded("counters"), loaded("kex"), loaded("corex"));
        crate::stats::core_rpcs()
            .chain(crate::stats::KEX_RPCS.iter().filter(|_| kex))
            .chain(crate::rpc::server::COREX_RPCS.iter().filter(|_| corex))
            .chain(self.modules.iter().flat_map(|m| m.def.rpcs.iter()))
            .chain(crate::cfgvars::RPCS.iter().filter(|_| cfg_rpc))
            .chain(crate::stats::CNT_RPCS.iter().filter(|_| counters))
            .copied()
            .collect()
    }

    /// Every RPC command of the loaded modules, with its help line.
    pub fn rpc_commands(&self) -> Vec<(&'static str, &'static str)> {
        self.rpc_defs().into_iter().map(|r| (r.name, r.doc)).collect()
    }

    /// The extra processes the loaded modules ask for: (module, process).
    pub fn extra_processes(&self) -> Vec<(&'static str, super::abi::ProcDef)> {
        self.modules.iter().flat_map(|m| m.def.procs.iter().map(move |p| (m.def.name, *p))).collect()
    }

    /// Runs every module's `mod_init`, in load order.
    pub fn init_all(&self) -> Result<(), LoadError> {
        for m in &self.modules {
            if let Some(init) = m.def.init {
                init().map_err(|why| LoadError::Init { module: m.def.name.to_string(), why })?;
            }
        }
        Ok(())
    }

    /// Runs every module's `child_init(rank)`.
    pub fn child_init_all(&self, rank: i32) -> Result<(), LoadError> {
        for m in &self.modules {
            if let Some(ci) = m.def.child_init {
                ci(rank).map_err(|why| LoadError::ChildInit { module: m.def.name.to_string(), rank, why })?;
            }
        }
        Ok(())
    }

    /// Runs every module's `destroy`, in reverse load order.
    pub fn destroy_all(&self) {
        for m in self.modules.iter().rev() {
            if let Some(d) = m.def.destroy {
                d();
            }
        }
    }
}

impl ModuleLoader for ModuleSet {
    fn load(
        &mut self,
        path: &str,
        mpath: Option<&str>,
        fns: &mut FnRegistry,
        pvs: &mut PvRegistry,
    ) -> Result<(), String> {
        self.load_module(path, mpath, fns, pvs).map(|_| ()).map_err(|e| e.to_string())
    }

    fn modparam(&mut self, module: &str, param: &str, value: &ModValue) -> Result<(), String> {
        self.set_param(module, param, value).map_err(|e| e.to_string())
    }
}
