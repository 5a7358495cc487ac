//! Layer 3: helper threads that work on the log's files beside appenders
//! and readers, and what keeps them sound across `fork`.

pub(crate) mod background;
pub(crate) mod fork;
pub(crate) mod prefault;
