//! Access to the mapped bytes: guarded copies, plain-old-data values,
//! atomics, and the raw views behind an `unsafe` contract.
//!
//! Every byte here may be changed at any moment by another process, so the
//! safe accessors never hand out a reference to plain bytes: they copy
//! through raw pointers, inside [`guard::guarded`], so that a fault becomes
//! an error. See `docs/safety.md`.

#![allow(unsafe_code)]

use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::error::AccessError;
use crate::mapping::Mapping;
use crate::sys::guard;
use crate::sys::mode::Mode;

impl Mapping {
    /// Checks that `offset..offset + len` lies in the window; returns the
    /// offset as an index.
    #[inline]
    fn check_range(&self, offset: u64, len: usize) -> Result<usize, AccessError> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.len as u64 => Ok(offset as usize),
            _ => Err(AccessError::OutOfBounds {
                path: self.path.clone(),
                offset,
                len: len as u64,
                map_len: self.len as u64,
            }),
        }
    }

    #[inline]
    fn check_writable(&self, what: &'static str) -> Result<(), AccessError> {
        if self.mode == Mode::ReadOnly {
            return Err(AccessError::NotWritable {
                path: self.path.clone(),
                mode: self.mode,
                what,
            });
        }
        Ok(())
    }

    /// Runs `f` with `SIGBUS` protection over the whole window: if a page
    /// that `f` touches is gone (the file was truncated, or the kernel could
    /// not read or allocate it), `f` runs on to its end over zero pages and
    /// this returns [`AccessError::Fault`] instead of `f`'s result; the
    /// process does not die.
    ///
    /// Use it around accesses through [`atomic_u32`](Self::atomic_u32) and
    /// friends when another process might truncate the file. `f` must touch
    /// no other file mapping (a fault elsewhere is not caught), and must not
    /// act on what it read before this returns `Ok`.
    ///
    /// It costs a few nanoseconds (a thread-local published and restored,
    /// two loads of the poison flag), and is inlined into hot paths.
    #[inline]
    pub fn guarded<R>(&self, f: impl FnOnce() -> R) -> Result<R, AccessError> {
        self.check_poison()?;
        let r = guard::guarded(self.region.ptr(), self.len, &self.fault, f);
        self.finish(r)
    }

    /// Turns the outcome of a guarded access into the caller's result.
    #[inline]
    fn finish<R>(&self, r: Result<R, usize>) -> Result<R, AccessError> {
        match r {
            Ok(v) => {
                // Another thread's fault may have swapped a page under us
                // without our faulting: its handler poisons before it maps.
                self.check_poison()?;
                Ok(v)
            }
            Err(addr) => Err(self.fault_error(addr)),
        }
    }

    /// The error for a fault at `addr` in a guarded access.
    #[cold]
    #[inline(never)]
    fn fault_error(&self, addr: usize) -> AccessError {
        let offset = self.file_offset_of(addr);
        AccessError::Fault {
            path: self.path.clone(),
            offset,
            cause: self.fault_cause(offset),
        }
    }

    /// Copies `buf.len()` bytes at `offset` (relative to the window) into
    /// `buf`. All or nothing: fails if the range is not entirely inside the
    /// window, or if a page behind it is gone; after a failure `buf`'s
    /// contents are unspecified.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        let start = self.check_range(offset, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        self.check_poison()?;
        // SAFETY: start + buf.len() <= self.len, so the range is inside the
        // mapped window, which stays mapped while `&self` lives.
        let src = unsafe { self.region.ptr().add(start) };
        let len = buf.len();
        let dst = buf.as_mut_ptr();
        let r = guard::guarded(src, len, &self.fault, || {
            // SAFETY: `src..src+len` is mapped (above) and `dst` is a
            // distinct, exclusively borrowed buffer of `len` bytes. Other
            // processes may store into the source meanwhile: we go through
            // raw pointers only, never a reference, and the bytes we copy
            // are whatever the memory held (docs/safety.md).
            unsafe { ptr::copy_nonoverlapping(src, dst, len) }
        });
        self.finish(r)
    }

    /// Copies `data` into the window at `offset`. Fails without writing
    /// anything if the range is not entirely inside the window; on
    /// [`AccessError::Fault`] or [`AccessError::Poisoned`] the bytes may have
    /// reached the file in part. Other processes see the bytes at once; they
    /// reach the disk on write-back ([`flush`](Self::flush) to wait for it).
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), AccessError> {
        self.check_writable("writes")?;
        let start = self.check_range(offset, data.len())?;
        if data.is_empty() {
            return Ok(());
        }
        self.check_poison()?;
        // SAFETY: in the window, as in `read_at`.
        let dst = unsafe { self.region.ptr().add(start) };
        let len = data.len();
        let src = data.as_ptr();
        let r = guard::guarded(dst, len, &self.fault, || {
            // SAFETY: `dst..dst+len` is mapped writable (checked above) and
            // does not overlap `data`, which is ordinary memory. Concurrent
            // access by others goes through raw pointers or atomics.
            unsafe { ptr::copy_nonoverlapping(src, dst, len) }
        });
        self.finish(r)
    }

    /// Fills `len` bytes at `offset` with `byte`.
    pub fn fill(&self, offset: u64, len: usize, byte: u8) -> Result<(), AccessError> {
        self.check_writable("writes")?;
        let start = self.check_range(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        self.check_poison()?;
        // SAFETY: in the window, as in `read_at`.
        let dst = unsafe { self.region.ptr().add(start) };
        let r = guard::guarded(dst, len, &self.fault, || {
            // SAFETY: `dst..dst+len` is mapped writable (checked above).
            unsafe { ptr::write_bytes(dst, byte, len) }
        });
        self.finish(r)
    }

    /// Reads a plain-old-data value at `offset` (any alignment), by copy.
    pub fn read_pod<T: bytemuck::Pod>(&self, offset: u64) -> Result<T, AccessError> {
        let mut value = T::zeroed();
        self.read_at(offset, bytemuck::bytes_of_mut(&mut value))?;
        Ok(value)
    }

    /// Writes a plain-old-data value at `offset` (any alignment), by copy.
    pub fn write_pod<T: bytemuck::NoUninit>(
        &self,
        offset: u64,
        value: &T,
    ) -> Result<(), AccessError> {
        self.write_at(offset, bytemuck::bytes_of(value))
    }

    /// A reference to an aligned, in-window, writable `T`-sized place.
    fn atomic_place<T>(&self, offset: u64) -> Result<*mut u8, AccessError> {
        self.check_writable("atomics")?;
        let start = self.check_range(offset, size_of::<T>())?;
        // A replaced page is private memory: a futex there is never woken.
        self.check_poison()?;
        // SAFETY: in the window, as in `read_at`.
        let p = unsafe { self.region.ptr().add(start) };
        if (p as usize) % align_of::<T>() != 0 {
            return Err(AccessError::Misaligned {
                path: self.path.clone(),
                offset,
                align: align_of::<T>(),
            });
        }
        Ok(p)
    }

    /// The `AtomicU32` at `offset`, which must be 4-byte aligned in the file.
    ///
    /// Every process that maps the file sees the same word: this is how
    /// processes synchronise through a mapping (see [`wait`](Self::wait)).
    /// The mapping must be writable (the kernel would fault a store through
    /// a read-only one). If another process may truncate the file, access
    /// the atomic inside [`guarded`](Self::guarded).
    pub fn atomic_u32(&self, offset: u64) -> Result<&AtomicU32, AccessError> {
        let p = self.atomic_place::<AtomicU32>(offset)?;
        // SAFETY: `p` is aligned, in the window, writable, and stays mapped
        // for the borrow of `self` (moving or unmapping needs `&mut self`).
        // Atomics permit shared mutation, by us or by other processes.
        Ok(unsafe { AtomicU32::from_ptr(p.cast()) })
    }

    /// The `AtomicU64` at `offset`, which must be 8-byte aligned in the file.
    /// As [`atomic_u32`](Self::atomic_u32).
    pub fn atomic_u64(&self, offset: u64) -> Result<&AtomicU64, AccessError> {
        let p = self.atomic_place::<AtomicU64>(offset)?;
        // SAFETY: as in `atomic_u32`.
        Ok(unsafe { AtomicU64::from_ptr(p.cast()) })
    }

    /// The whole window as a byte slice, without copying.
    ///
    /// # Safety
    ///
    /// For as long as the slice lives, no thread or process may change the
    /// bytes (writing, or truncating the file: a truncated page raises
    /// `SIGBUS` on access, which is not caught here). This holds for a file
    /// that only you can write and nobody truncates; it does not hold for a
    /// file shared with untrusted processes. See `docs/safety.md`.
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the window is mapped for `len` bytes while `&self` lives;
        // the caller promises the bytes do not change meanwhile.
        unsafe { std::slice::from_raw_parts(self.region.ptr(), self.len) }
    }

    /// Asks the CPU to bring the cache line that holds byte `offset` of the
    /// window into its caches: a hint (`PREFETCHT0` on x86-64, nothing on
    /// other targets), so it reads nothing, returns nothing and never
    /// faults, even on a page another process truncated away. Offsets past
    /// the window are ignored.
    ///
    /// For a reader that spins on one word while the next cache line, which
    /// it will read as soon as that word changes, is being written: with
    /// the hint, both lines travel at once.
    #[inline]
    pub fn prefetch(&self, offset: u64) {
        if offset >= self.len as u64 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the address lies inside the mapping (checked above), and
        // a prefetch has no architectural effect: it cannot fault or read
        // into any Rust value. SSE, which it needs, is part of x86-64.
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(self.region.ptr().add(offset as usize).cast());
        }
    }

    /// `len` bytes at `offset` as a slice, without copying; bounds-checked.
    ///
    /// # Safety
    ///
    /// As for [`as_slice`](Self::as_slice).
    #[inline]
    pub unsafe fn slice(&self, offset: u64, len: usize) -> Result<&[u8], AccessError> {
        let start = self.check_range(offset, len)?;
        // SAFETY: in the window (checked); the caller keeps the contract.
        Ok(unsafe { std::slice::from_raw_parts(self.region.ptr().add(start), len) })
    }

    /// The whole window as a mutable byte slice, without copying. Fails for
    /// a read-only mapping.
    ///
    /// # Safety
    ///
    /// For as long as the slice lives, no other thread or process may read
    /// or write the bytes, or truncate the file. See `docs/safety.md`.
    pub unsafe fn as_mut_slice(&mut self) -> Result<&mut [u8], AccessError> {
        self.check_writable("mutable views")?;
        // SAFETY: mapped writable for `len` bytes; `&mut self` excludes
        // other borrows in this process; the caller promises the rest.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.region.ptr(), self.len) })
    }
}
