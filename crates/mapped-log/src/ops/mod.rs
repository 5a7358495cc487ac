//! Layer 4: what a log does, on the state in `storage`. The façade
//! (`log.rs`) calls into these.

pub(crate) mod append;
pub(crate) mod cursor;
pub(crate) mod damage;
pub(crate) mod inspect;
pub(crate) mod open;
pub(crate) mod read;
pub(crate) mod ready;
pub(crate) mod rebuild;
pub(crate) mod recovery;
pub(crate) mod repair;
pub(crate) mod retention;
pub(crate) mod sync;
