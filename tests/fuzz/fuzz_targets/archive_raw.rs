//! Archive normalisation on arbitrary bytes as uploaded: zip (the seeds), tar.gz, or neither;
//! the format is told by content.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tfreg_fuzz::{check_normalisation, split_selection};

fuzz_target!(|data: &[u8]| {
    if let Some((select, archive)) = split_selection(data) {
        check_normalisation(archive, select);
    }
});
