//! Recovering from `SIGBUS` inside the library's own guarded accesses.
//!
//! A shared mapping stays valid when another process truncates the file,
//! but touching a page past the new end raises `SIGBUS`; so does a page the
//! kernel cannot supply (an I/O error, no space to fill a hole). Without
//! help the process dies. facebook/sapling's `indexedlog` recovers the same
//! way we do (Java's HotSpot instead skips the faulting access and throws):
//!
//! 1. Before a guarded access a thread publishes, in a thread-local, the
//!    address range it is about to touch and where to report a fault.
//! 2. The process-wide `SIGBUS` handler looks at the faulting thread's
//!    thread-local. If the fault address lies in the published range, it
//!    marks the mapping poisoned, maps anonymous zero pages (`MAP_FIXED`)
//!    from the faulting page to the end of the range, records the fault and
//!    returns: the access resumes on zero pages and finishes harmlessly.
//! 3. After the access, the thread sees the fault and returns an error
//!    instead of the bytes.
//!
//! Guarded accesses nest: an access to one mapping inside a guarded access
//! to another (the log touches a segment inside an access to its control
//! file) publishes a chain, and the handler searches all of it.
//!
//! Faults that are not ours (another thread, an address outside the range,
//! no guard published) go to the handler that was installed before ours, so
//! Rust's stack-overflow report and any application handler keep working;
//! with no previous handler the default action (death) happens as it would
//! have. `SIGBUS` is delivered to the faulting thread, and each thread only
//! reads its own thread-local, so any number of threads may be inside
//! guarded accesses at once.
//!
//! The handler only does async-signal-safe work: atomic stores, a
//! thread-local read (const-initialised, no destructor: no lazy setup),
//! `mmap`, and calling the previous handler.

#![allow(unsafe_code)]

use std::cell::Cell;
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, compiler_fence};

/// Where a fault in a guarded access is reported. Lives in the `Mapping`,
/// so it outlives every guarded access through it.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    /// Set by the handler before it replaces a page: from then on the
    /// mapping no longer reflects the file.
    pub(crate) poisoned: AtomicBool,
    /// The first faulting address, plus one (0: none yet).
    pub(crate) first_fault: AtomicUsize,
}

/// One guarded access in progress on this thread.
struct Active {
    start: usize,
    end: usize,
    state: *const FaultState,
    /// The faulting address plus one, set by the handler (0: no fault). An
    /// atomic, not a `Cell`: it is written from a signal handler.
    faulted: AtomicUsize,
    /// The enclosing guarded access on this thread, if any: guards nest
    /// (an access to one mapping inside a guarded access to another), and
    /// the handler searches the whole chain.
    outer: *const Active,
}

thread_local! {
    static ACTIVE: Cell<*const Active> = const { Cell::new(ptr::null()) };
}

/// The handler in force before ours; written once before ours is installed.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();

/// Installs the handler once per process. Called when a mapping is made,
/// so that a guarded access never runs without it.
pub(crate) fn install() -> std::io::Result<()> {
    install_once().map_err(std::io::Error::from_raw_os_error)
}

fn install_once() -> Result<(), i32> {
    *INSTALLED.get_or_init(|| {
        PAGE_SIZE.store(super::page_size(), Ordering::Relaxed);
        // SAFETY: sigaction with a null new action only reads the current
        // one into `old`, a properly sized, writable struct.
        let old = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, ptr::null(), &mut old) != 0 {
                return Err(*libc::__errno_location());
            }
            old
        };
        let _ = PREVIOUS.set(old);
        // SAFETY: `on_sigbus` has the SA_SIGINFO signature and only does
        // async-signal-safe work (see the module docs); `new` is fully
        // initialised (zeroed, then every field we rely on set).
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_sigbus as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut new.sa_mask);
            if libc::sigaction(libc::SIGBUS, &new, ptr::null_mut()) != 0 {
                return Err(*libc::__errno_location());
            }
        }
        Ok(())
    })
}

/// Runs `f`, which may touch memory only in `start..start + len`, so that a
/// `SIGBUS` there makes this return `Err(fault address)` instead of killing
/// the process. `f` must not rely on what it read if this returns `Err`.
#[inline]
pub(crate) fn guarded<R>(
    start: *const u8,
    len: usize,
    state: &FaultState,
    f: impl FnOnce() -> R,
) -> Result<R, usize> {
    debug_assert!(
        INSTALLED.get().is_some_and(|r| r.is_ok()),
        "mapping made without the SIGBUS handler"
    );
    let active = Active {
        start: start as usize,
        end: start as usize + len,
        state,
        faulted: AtomicUsize::new(0),
        outer: ACTIVE.with(|a| a.get()),
    };
    struct Restore(*const Active);
    impl Drop for Restore {
        fn drop(&mut self) {
            // Unpublish even if `f` panics, so the handler never reads a
            // dead stack frame.
            compiler_fence(Ordering::SeqCst);
            ACTIVE.with(|a| a.set(self.0));
        }
    }
    let _restore = Restore(ACTIVE.with(|a| a.replace(&active)));
    // The accesses in `f` must not move above the publication (or below the
    // restore): a compiler fence pins them; the handler runs on this same
    // thread, so no hardware fence is needed.
    compiler_fence(Ordering::SeqCst);
    let r = f();
    compiler_fence(Ordering::SeqCst);
    match active.faulted.load(Ordering::Relaxed) {
        0 => Ok(r),
        addr => Err(addr - 1),
    }
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: errno is thread-local; saving and restoring it keeps the
    // interrupted code's errno intact across our mmap.
    let saved_errno = unsafe { *libc::__errno_location() };
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let (addr, code) = unsafe { ((*info).si_addr() as usize, (*info).si_code) };
    // Only a fault raised by the kernel for an access (si_code > 0:
    // BUS_ADRERR, BUS_OBJERR, ...) can be ours; a SIGBUS sent with kill(2)
    // carries no fault address worth trusting.
    let from_kernel = code > 0;
    let mut next = if from_kernel {
        ACTIVE.with(|a| a.get())
    } else {
        ptr::null()
    };
    while !next.is_null() {
        // SAFETY: a non-null ACTIVE (and each `outer` link from it) points
        // at the `Active` of a guarded access on this thread's stack, which
        // is still running (we interrupted it, or the access nested in it)
        // and unpublishes it before returning.
        let active = unsafe { &*next };
        next = active.outer;
        if addr < active.start || addr >= active.end {
            continue;
        }
        let page = PAGE_SIZE.load(Ordering::Relaxed);
        let page_start = addr & !(page - 1);
        // Replace the rest of the guarded range at once: a large copy over
        // a truncated file would otherwise fault once per page. The range
        // ends inside our mapping, which the kernel maps in whole pages, so
        // rounding up stays inside it.
        let page_end = active.end.div_ceil(page) * page;
        // SAFETY: `state` points into the live `Mapping` being accessed.
        let state = unsafe { &*active.state };
        // Poison before replacing the page, so that a thread which later
        // reads the zero page without faulting finds the flag set when it
        // checks after its access (the mmap below is a system call, which
        // orders these stores before the page-table change).
        let _ = state
            .first_fault
            .compare_exchange(0, addr + 1, Ordering::SeqCst, Ordering::SeqCst);
        state.poisoned.store(true, Ordering::SeqCst);
        // SAFETY: the pages lie inside a mapping that the guarded access
        // borrows, so replacing them affects only that mapping, which is now
        // poisoned and never trusted again; MAP_FIXED over our own mapping
        // cannot clobber unrelated memory.
        let r = unsafe {
            libc::mmap(
                page_start as *mut libc::c_void,
                page_end - page_start,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if r != libc::MAP_FAILED {
            let _ =
                active
                    .faulted
                    .compare_exchange(0, addr + 1, Ordering::Relaxed, Ordering::Relaxed);
            // SAFETY: see above.
            unsafe { *libc::__errno_location() = saved_errno };
            return;
        }
        break;
    }
    // SAFETY: forwarding the same arguments the kernel gave us.
    let ran_handler = unsafe { chain(sig, info, ctx) };
    if ran_handler && !from_kernel {
        // A signal sent with kill(2) is not repeated, so a previous handler
        // that reset the action to the default (Rust's own does, expecting
        // the fault to recur and kill) would leave the process alive without
        // our handler. Put ours back.
        reinstall();
    }
    // SAFETY: see above.
    unsafe { *libc::__errno_location() = saved_errno };
}

/// Installs our action again (async-signal-safe: one sigaction call).
fn reinstall() {
    // SAFETY: as in `install_once`.
    unsafe {
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = on_sigbus as *const () as usize;
        new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut new.sa_mask);
        libc::sigaction(libc::SIGBUS, &new, ptr::null_mut());
    }
}

/// Hands a fault that is not ours to the action in force before ours.
/// Returns whether a previous handler function ran (rather than the
/// default action or ignoring).
///
/// # Safety
/// Must only be called from the `SIGBUS` handler with the kernel's arguments.
unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) -> bool {
    // SAFETY: the kernel passes a valid siginfo.
    let from_kernel = unsafe { (*info).si_code } > 0;
    let handler = PREVIOUS.get().map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    if handler == libc::SIG_DFL || (handler == libc::SIG_IGN && from_kernel) {
        // The kernel cannot ignore a fault: it would recur for ever.
        // SAFETY: restoring the default action is async-signal-safe.
        unsafe { reset_default(sig, info) };
        return false;
    }
    if handler == libc::SIG_IGN {
        return false;
    }
    let Some(prev) = PREVIOUS.get() else {
        return false; // unreachable: a handler function implies a record
    };
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous action declared SA_SIGINFO, so its handler
        // has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO the handler takes the signal number.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
    true
}

/// Restores the default action so the fault, repeated on return, kills the
/// process as it would have without us; a `SIGBUS` sent by `kill` is not
/// repeated, so it is raised again.
///
/// # Safety
/// Must only be called from the `SIGBUS` handler with the kernel's arguments.
unsafe fn reset_default(sig: libc::c_int, info: *mut libc::siginfo_t) {
    // SAFETY: sigaction and raise are async-signal-safe; `dfl` is zeroed,
    // which is SIG_DFL with an empty mask.
    unsafe {
        let dfl: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, &dfl, ptr::null_mut());
        if (*info).si_code <= 0 {
            libc::raise(sig);
        }
    }
}
