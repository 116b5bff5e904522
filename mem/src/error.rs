//! Why a pool could not be created. Allocation failure is not an error
//! type: it is `None`, and the caller decides (a 500/503 and a log line).

use std::fmt;

/// Errors from [`crate::ShmPool::create`].
#[derive(Debug)]
pub enum MemError {
    /// A pool of size 0 was asked for.
    ZeroSize,
    /// Below the smallest pool that can hold the allocator's own data.
    TooSmall {
        /// Bytes asked for.
        requested: usize,
        /// Smallest accepted.
        min: usize,
    },
    /// Larger than the machine's physical memory or the allocator's reach.
    TooLarge {
        /// Bytes asked for.
        requested: usize,
        /// Largest accepted here.
        max: usize,
    },
    /// The kernel refused the mapping.
    MapFailed {
        /// Bytes asked of mmap.
        bytes: usize,
        /// What mmap said.
        source: std::io::Error,
    },
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemError::ZeroSize => f.write_str("shared memory size is 0"),
            MemError::TooSmall { requested, min } => {
                write!(f, "shared memory size {requested} bytes is below the minimum of {min} bytes")
            }
            MemError::TooLarge { requested, max } => write!(
                f,
                "shared memory size {} MB exceeds the maximum of {} MB (physical memory or allocator limit)",
                requested / (1024 * 1024),
                max / (1024 * 1024)
            ),
            MemError::MapFailed { bytes, source } => {
                write!(f, "mmap of {bytes} bytes of shared memory failed: {source}")
            }
        }
    }
}

impl std::error::Error for MemError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MemError::MapFailed { source, .. } => Some(source),
            _ => None,
        }
    }
}
