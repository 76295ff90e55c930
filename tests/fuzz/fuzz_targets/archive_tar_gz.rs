//! Archive normalisation on arbitrary tar streams: the input (after its selection byte) is
//! gzip-compressed here, so the fuzzer explores tar headers rather than deflate and CRCs.
#![no_main]
use std::io::Write;

use libfuzzer_sys::fuzz_target;
use tfreg_fuzz::{check_normalisation, split_selection};

fuzz_target!(|data: &[u8]| {
    let Some((select, tar)) = split_selection(data) else {
        return;
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tar).unwrap();
    check_normalisation(&gz.finish().unwrap(), select);
});
