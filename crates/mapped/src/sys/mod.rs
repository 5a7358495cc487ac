//! The kernel interface, the crate's bottom layer: the calls that make and
//! change a region of address space (`region`), the `SIGBUS` handler behind
//! guarded accesses (`guard`), and the flags these calls take, under the
//! public names [`Mode`](mode::Mode) and [`Advice`](advice::Advice).
//! Nothing here knows the `Mapping` type or the crate's errors: failures are
//! plain `io::Error`s, which the layers above give a path and an operation.

pub(crate) mod advice;
pub(crate) mod guard;
pub(crate) mod mode;
pub(crate) mod region;

/// The system page size.
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}
