//! What CloudFront does: the distribution's behaviours assembled on one machine (`tfreg serve`:
//! the edge check, then the origin or the archive store), the discovery document, and the
//! packaging of what the distribution runs (package.sh: the origin Lambda from
//! `tfreg-origin`, the edge bundle from `tfreg-edge`).

pub mod client;
pub mod credentials_helper;
pub mod data_dir;
pub mod distribution;
pub mod limits;
pub mod page;
pub mod server;
pub mod tls;
