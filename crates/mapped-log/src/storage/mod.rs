//! Layer 2: the log's files and their mappings.

pub(crate) mod control;
pub(crate) mod dir;
pub(crate) mod locks;
pub(crate) mod segment;
pub(crate) mod temp;
pub(crate) mod words;
