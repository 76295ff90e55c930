//! Registry logic as plain functions over storage traits.
//!
//! `tfreg serve` and (later) the origin Lambda call the same [`Registry::handle`].

pub mod archive;
