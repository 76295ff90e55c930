//! The distribution assembled as CloudFront runs it, and `tfreg serve`, which runs it on one
//! machine over embedded storage.

pub mod data_dir;
pub mod distribution;
pub mod lambda;
pub mod server;
pub mod tls;
