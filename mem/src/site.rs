//! Allocation sites for the leak finder (`debug` feature). With the
//! feature on, every block's payload starts with a 64-byte record of where
//! it was allocated, copied into shm (not a pointer to this process' copy
//! of the file name), so any process can read it — the RPC process dumping
//! what a worker allocated, for instance.

/// Bytes reserved in front of every payload for the site record.
#[cfg(feature = "debug")]
pub(crate) const SITE_BYTES: usize = 64;
/// Without the feature blocks carry no record.
#[cfg(not(feature = "debug"))]
pub(crate) const SITE_BYTES: usize = 0;

#[cfg(feature = "debug")]
const FILE_BYTES: usize = 52;

/// The owner of an allocation made from source file `file`: `NAME` for
/// `modules/NAME/...`, `core` for the core and its crates (mem, locking)
/// and for code from outside the workspace.
pub(crate) fn owner_name(file: &str) -> &str {
    let mut parts = file.split(['/', '\\']).filter(|p| !p.is_empty() && *p != "." && *p != "..");
    match (parts.next(), parts.next()) {
        (Some("modules"), Some(name)) => name,
        _ => "core",
    }
}

/// Where a live block was allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocSite {
    /// Source file (its last 52 bytes), as `modules/tm/src/lib.rs`.
    pub file: String,
    /// Line in that file.
    pub line: u32,
    /// Pid of the process that allocated it.
    pub pid: i32,
}

impl AllocSite {
    /// The crate the file belongs to: `modules/NAME/...` gives `NAME`,
    /// `mem/src/..` gives `mem`; paths from outside the workspace (the
    /// registry) give their first component that is not `src`.
    pub fn module(&self) -> &str {
        let mut parts = self.file.split('/').filter(|p| !p.is_empty() && *p != "..");
        match parts.next() {
            Some("modules") => parts.next().unwrap_or("modules"),
            Some(first) => first,
            None => "unknown",
        }
    }

    #[cfg(feature = "debug")]
    /// # Safety
    /// `dst` must be valid for writes of `SITE_BYTES` bytes.
    pub(crate) unsafe fn write(dst: *mut u8, loc: &'static std::panic::Location<'static>) {
        let mut rec = [0u8; SITE_BYTES];
        let file = loc.file().as_bytes();
        let tail = &file[file.len().saturating_sub(FILE_BYTES)..];
        rec[..tail.len()].copy_from_slice(tail);
        rec[FILE_BYTES..FILE_BYTES + 4].copy_from_slice(&loc.line().to_le_bytes());
        let pid = sipr_locking::process::current_pid();
        rec[FILE_BYTES + 4..FILE_BYTES + 8].copy_from_slice(&pid.to_le_bytes());
        // SAFETY: the caller guarantees `dst` has room for the record.
        unsafe { std::ptr::copy_nonoverlapping(rec.as_ptr(), dst, SITE_BYTES) };
    }

    #[cfg(feature = "debug")]
    /// # Safety
    /// `src` must be valid for reads of `SITE_BYTES` bytes.
    pub(crate) unsafe fn read(src: *const u8) -> AllocSite {
        let mut rec = [0u8; SITE_BYTES];
        // SAFETY: the caller guarantees `src` holds a record.
        unsafe { std::ptr::copy_nonoverlapping(src, rec.as_mut_ptr(), SITE_BYTES) };
        let end = rec[..FILE_BYTES].iter().position(|&b| b == 0).unwrap_or(FILE_BYTES);
        let file = String::from_utf8_lossy(&rec[..end]).into_owned();
        let line = u32::from_le_bytes(rec[FILE_BYTES..FILE_BYTES + 4].try_into().unwrap_or_default());
        let pid = i32::from_le_bytes(rec[FILE_BYTES + 4..FILE_BYTES + 8].try_into().unwrap_or_default());
        AllocSite { file, line, pid }
    }
}

#[cfg(test)]
mod tests {
    use super::owner_name;

    #[test]
    fn owners_are_modules_or_the_core() {
        assert_eq!(owner_name("modules/tm/src/cell.rs"), "tm");
        assert_eq!(owner_name("./modules/usrloc/src/lib.rs"), "usrloc");
        assert_eq!(owner_name("core/src/timer.rs"), "core");
        assert_eq!(owner_name("mem/src/kv.rs"), "core");
        assert_eq!(owner_name("/root/.cargo/registry/src/x/lib.rs"), "core");
        assert_eq!(owner_name("modules"), "core");
    }
}
