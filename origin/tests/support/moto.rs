// Kept only until tests/origin_lambda.rs and cloudfront/benches/origin_cold_start.rs import
// `tfreg_testkit::moto` themselves: they still include this file with
// `#[path = ".../origin/tests/support/moto.rs"] mod moto;`. Delete it then.
pub use tfreg_testkit::moto::*;
