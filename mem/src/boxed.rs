//! Typed, safe handles on shm blocks.
//!
//! Only data that means the same in every process may live in shm: plain
//! numbers, atomics, locks, fixed arrays and pointers into the pool itself.
//! A `Box`, `Vec`, `String` or `HashMap` points into the *process* heap and
//! would be garbage in a sibling process. The [`ShmSafe`] marker encodes
//! that rule; [`shm_struct!`](crate::shm_struct) derives it for a struct
//! whose fields all have it.

use std::fmt;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use crate::pool::ShmPool;
use crate::tlsf::UNIT;

/// Marks types whose bytes mean the same in every process sharing the
/// pool: no pointers to process-private memory, no process-private handles.
///
/// # Safety
/// Implement only for types with no pointer outside the shm pool (heap,
/// stack, file descriptors, thread-local handles). [`shm_struct!`](crate::shm_struct)
/// implements it safely for structs of `ShmSafe` fields.
pub unsafe trait ShmSafe {}

macro_rules! shm_safe {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY: plain value types: no pointers at all.
        unsafe impl ShmSafe for $t {}
    )* };
}
shm_safe!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, bool, char, f32, f64, ());
shm_safe!(
    std::sync::atomic::AtomicBool,
    std::sync::atomic::AtomicU8,
    std::sync::atomic::AtomicU16,
    std::sync::atomic::AtomicU32,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicI32,
    std::sync::atomic::AtomicI64,
    std::sync::atomic::AtomicIsize,
);
shm_safe!(sipr_locking::RawMutex, sipr_locking::SpinLock, sipr_locking::RwLock, sipr_locking::Doorbell);
// SAFETY: a LockSet handle is a pointer to a set allocated in the pool.
unsafe impl ShmSafe for sipr_locking::LockSet {}
// SAFETY: a mutex around shm-safe data is a lock word, a name array and
// that data.
unsafe impl<T: ShmSafe> ShmSafe for sipr_locking::Mutex<T> {}
// SAFETY: arrays of shm-safe elements hold nothing else.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}
// SAFETY: an ShmPtr only ever points into the pool (by construction).
unsafe impl<T: ShmSafe> ShmSafe for ShmPtr<T> {}
// SAFETY: a raw slice is an ShmPtr plus a length.
unsafe impl<T: ShmSafe> ShmSafe for RawShmSlice<T> {}

/// Compile-time check used by [`shm_struct!`](crate::shm_struct).
#[doc(hidden)]
pub const fn assert_shm_safe<T: ShmSafe + ?Sized>() {}

/// Declares a `#[repr(C)]` struct and implements [`ShmSafe`] for it after
/// checking at compile time that every field is `ShmSafe`.
///
/// ```
/// use std::sync::atomic::AtomicU32;
/// use sipr_mem::{shm_struct, ShmPtr};
/// shm_struct! {
///     pub struct Cell { pub hits: AtomicU32, pub next: ShmPtr<Cell> }
/// }
/// ```
#[macro_export]
macro_rules! shm_struct {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($(#[$fm:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        $vis struct $name { $($(#[$fm])* $fvis $field: $ty),* }
        const _: () = { $( $crate::assert_shm_safe::<$ty>(); )* };
        // SAFETY: every field was checked to be ShmSafe just above, and a
        // repr(C) struct adds nothing but padding.
        unsafe impl $crate::ShmSafe for $name {}
    };
}

/// A pointer into the shm pool: the same address in every process. May be
/// null. Copying it copies the address, not the data; dereferencing is
/// `unsafe` because the pool does not track who still uses a block.
#[repr(transparent)]
pub struct ShmPtr<T> {
    ptr: *mut T,
    _marker: PhantomData<T>,
}

impl<T> Clone for ShmPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for ShmPtr<T> {}

impl<T> PartialEq for ShmPtr<T> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}
impl<T> Eq for ShmPtr<T> {}

impl<T> fmt::Debug for ShmPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShmPtr({:p})", self.ptr)
    }
}

impl<T> Default for ShmPtr<T> {
    fn default() -> Self {
        Self::null()
    }
}

// SAFETY: the pointer targets process-shared memory valid in every process;
// access needs `unsafe` and the caller's synchronisation.
unsafe impl<T: Sync> Send for ShmPtr<T> {}
// SAFETY: as for Send.
unsafe impl<T: Sync> Sync for ShmPtr<T> {}

impl<T> ShmPtr<T> {
    /// The null pointer.
    pub const fn null() -> Self {
        ShmPtr { ptr: std::ptr::null_mut(), _marker: PhantomData }
    }

    /// Wraps a pointer that this crate knows points into the pool.
    pub(crate) fn from_raw(ptr: *mut T) -> Self {
        ShmPtr { ptr, _marker: PhantomData }
    }

    /// Whether it is null.
    pub fn is_null(&self) -> bool {
        self.ptr.is_null()
    }

    /// The raw address.
    pub fn as_ptr(&self) -> *mut T {
        self.ptr
    }

    /// A shared reference to the target.
    ///
    /// # Safety
    /// The block must still be allocated for `'a`, hold an initialised `T`,
    /// and not be mutated except through `T`'s own synchronisation.
    pub unsafe fn as_ref<'a>(&self) -> Option<&'a T> {
        // SAFETY: forwarded to the caller's contract.
        unsafe { self.ptr.as_ref() }
    }
}

/// Checks that `T` fits the pool's 16-byte alignment.
const fn align_ok<T>() -> bool {
    align_of::<T>() <= UNIT
}

/// An owned value in the shm pool, freed when dropped (like `Box`).
pub struct ShmBox<'p, T: ShmSafe> {
    ptr: NonNull<T>,
    pool: &'p ShmPool,
}

// SAFETY: the box owns its T; moving or sharing it is as safe as for T.
unsafe impl<T: ShmSafe + Send> Send for ShmBox<'_, T> {}
// SAFETY: as for Send.
unsafe impl<T: ShmSafe + Sync> Sync for ShmBox<'_, T> {}

impl<'p, T: ShmSafe> ShmBox<'p, T> {
    /// Moves `value` into the pool. `None` when the pool is full (or `T`
    /// needs more than 16-byte alignment).
    #[track_caller]
    pub fn new_in(pool: &'p ShmPool, value: T) -> Option<Self> {
        if !align_ok::<T>() {
            return None;
        }
        let ptr = pool.alloc(size_of::<T>())?.cast::<T>();
        // SAFETY: fresh block, large and aligned enough for T.
        unsafe { ptr.as_ptr().write(value) };
        Some(ShmBox { ptr, pool })
    }

    /// Gives up ownership: the block stays allocated and the pointer can be
    /// stored in shm for other processes.
    pub fn into_raw(self) -> ShmPtr<T> {
        let p = ShmPtr { ptr: self.ptr.as_ptr(), _marker: PhantomData };
        std::mem::forget(self);
        p
    }

    /// Takes ownership back of a pointer made by [`ShmBox::into_raw`].
    ///
    /// # Safety
    /// `ptr` must come from `into_raw` on a box of the same pool, and no
    /// other process or handle may use it afterwards.
    pub unsafe fn from_raw(pool: &'p ShmPool, ptr: ShmPtr<T>) -> Option<Self> {
        NonNull::new(ptr.ptr).map(|ptr| ShmBox { ptr, pool })
    }

    /// The address, e.g. to publish it while still owning the box.
    pub fn as_shm_ptr(&self) -> ShmPtr<T> {
        ShmPtr { ptr: self.ptr.as_ptr(), _marker: PhantomData }
    }
}

impl<T: ShmSafe> Deref for ShmBox<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the box owns an initialised T for its whole life.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ShmSafe> DerefMut for ShmBox<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for deref; &mut self makes the access unique.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T: ShmSafe> Drop for ShmBox<'_, T> {
    fn drop(&mut self) {
        // SAFETY: we own the T and the block; neither is used after this.
        unsafe {
            std::ptr::drop_in_place(self.ptr.as_ptr());
            self.pool.free(self.ptr.cast());
        }
    }
}

impl<T: ShmSafe + fmt::Debug> fmt::Debug for ShmBox<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A slice in the pool as stored inside other shm structures: pointer and
/// length, no ownership.
#[repr(C)]
pub struct RawShmSlice<T> {
    /// First element.
    pub ptr: ShmPtr<T>,
    /// Number of elements.
    pub len: usize,
}

impl<T> Clone for RawShmSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RawShmSlice<T> {}

impl<T> fmt::Debug for RawShmSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawShmSlice({:p}, {})", self.ptr.ptr, self.len)
    }
}

impl<T> RawShmSlice<T> {
    /// The elements.
    ///
    /// # Safety
    /// The block must still be allocated for `'a` and hold `len`
    /// initialised elements that nobody mutates meanwhile.
    pub unsafe fn as_slice<'a>(&self) -> &'a [T] {
        if self.ptr.is_null() {
            return &[];
        }
        // SAFETY: forwarded to the caller's contract.
        unsafe { std::slice::from_raw_parts(self.ptr.ptr, self.len) }
    }
}

/// An owned slice of `Copy` elements in the pool (a message buffer, a
/// string), freed when dropped.
pub struct ShmSlice<'p, T: ShmSafe + Copy> {
    ptr: NonNull<T>,
    len: usize,
    pool: &'p ShmPool,
}

// SAFETY: owns its elements like a Box<[T]>.
unsafe impl<T: ShmSafe + Copy + Send> Send for ShmSlice<'_, T> {}
// SAFETY: as for Send.
unsafe impl<T: ShmSafe + Copy + Sync> Sync for ShmSlice<'_, T> {}

impl<'p, T: ShmSafe + Copy> ShmSlice<'p, T> {
    /// Copies `src` into the pool with one memcpy. `None` when full.
    #[track_caller]
    pub fn copy_from(pool: &'p ShmPool, src: &[T]) -> Option<Self> {
        if !align_ok::<T>() {
            return None;
        }
        let bytes = size_of::<T>().checked_mul(src.len())?;
        let ptr = pool.alloc(bytes)?.cast::<T>();
        // SAFETY: fresh block of `bytes` bytes, aligned for T, disjoint from src.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), ptr.as_ptr(), src.len()) };
        Some(ShmSlice { ptr, len: src.len(), pool })
    }

    /// Gives up ownership (see [`ShmBox::into_raw`]).
    pub fn into_raw(self) -> RawShmSlice<T> {
        let raw = RawShmSlice { ptr: ShmPtr { ptr: self.ptr.as_ptr(), _marker: PhantomData }, len: self.len };
        std::mem::forget(self);
        raw
    }

    /// Takes ownership back of a slice made by [`ShmSlice::into_raw`].
    ///
    /// # Safety
    /// As for [`ShmBox::from_raw`].
    pub unsafe fn from_raw(pool: &'p ShmPool, raw: RawShmSlice<T>) -> Option<Self> {
        NonNull::new(raw.ptr.ptr).map(|ptr| ShmSlice { ptr, len: raw.len, pool })
    }
}

impl<T: ShmSafe + Copy> Deref for ShmSlice<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: we own `len` initialised elements.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: ShmSafe + Copy> DerefMut for ShmSlice<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for deref; &mut self makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: ShmSafe + Copy> Drop for ShmSlice<'_, T> {
    fn drop(&mut self) {
        // SAFETY: we own the block; Copy elements need no drop.
        unsafe { self.pool.free(self.ptr.cast()) };
    }
}

impl<T: ShmSafe + Copy + fmt::Debug> fmt::Debug for ShmSlice<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// An owned UTF-8 string in the pool.
pub struct ShmStr<'p> {
    bytes: ShmSlice<'p, u8>,
}

impl<'p> ShmStr<'p> {
    /// Copies `s` into the pool. `None` when full.
    #[track_caller]
    pub fn copy_from(pool: &'p ShmPool, s: &str) -> Option<Self> {
        ShmSlice::copy_from(pool, s.as_bytes()).map(|bytes| ShmStr { bytes })
    }

    /// Gives up ownership (see [`ShmBox::into_raw`]).
    pub fn into_raw(self) -> RawShmSlice<u8> {
        self.bytes.into_raw()
    }
}

impl Deref for ShmStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        // SAFETY: the bytes were copied from a &str and are never mutated
        // through this type (no DerefMut).
        unsafe { std::str::from_utf8_unchecked(&self.bytes) }
    }
}

impl fmt::Debug for ShmStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for ShmStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
