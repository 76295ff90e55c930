//! Upload validation throughput and peak memory: normalises generated tar.gz archives of
//! growing size and prints MB/s (of unpacked data) and the process's peak resident memory
//! after each. Memory must not grow with archive size: the archive streams through
//! fixed-size buffers, never into memory whole.
//!
//! Run: `cargo bench -p tfreg-origin --bench archive_throughput`
//! Other sizes (unpacked MB, comma-separated): `TFREG_BENCH_SIZES_MB=1,10,100 cargo bench ...`

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Instant;
use tfreg_origin::archive::{normalize_archive, ArchiveLimits};
use tfreg_testkit::archive::ArchiveBuilder;

/// Peak resident set size of this process so far, in KiB (Linux `VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Writes a tar.gz of `files` files of `file_size` bytes each (text-like, so it compresses
/// about as source code does) to a temporary file, streaming.
fn make_archive(files: usize, file_size: usize) -> std::fs::File {
    let mut archive = ArchiveBuilder::new().gzip_level(1);
    for i in 0..files {
        let name = if i == 0 {
            "main.tf".to_owned()
        } else {
            format!("files/f{i}.tf")
        };
        let text = TerraformLikeText::new(i as u64, file_size);
        archive = archive.file_from_reader(name, file_size as u64, text);
    }
    let file = tempfile::tempfile().expect("temp file");
    let mut file = archive.write_tar_gz(file).expect("writing the archive");
    file.flush().unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    file
}

/// `len` bytes of Terraform words separated by spaces, in an order drawn from a xorshift
/// generator seeded by `seed`, produced as they are read.
struct TerraformLikeText {
    state: u64,
    remaining: usize,
    /// What is left of the word being read.
    word: &'static [u8],
}

impl TerraformLikeText {
    const WORDS: [&'static str; 17] = [
        "resource ",
        "variable ",
        "output ",
        "module ",
        "locals ",
        "aws_vpc ",
        "cidr_block ",
        "tags ",
        "count ",
        "for_each ",
        "= ",
        "{ ",
        "} ",
        "\"10.0.0.0/16\" ",
        "true ",
        "var.name ",
        "\n ",
    ];

    fn new(seed: u64, len: usize) -> Self {
        TerraformLikeText {
            state: 0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D),
            remaining: len,
            word: b"",
        }
    }
}

impl Read for TerraformLikeText {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written < buf.len() && self.remaining > 0 {
            if self.word.is_empty() {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                let words = Self::WORDS;
                self.word = words[(self.state % words.len() as u64) as usize].as_bytes();
            }
            let n = self.word.len().min(buf.len() - written).min(self.remaining);
            buf[written..written + n].copy_from_slice(&self.word[..n]);
            self.word = &self.word[n..];
            self.remaining -= n;
            written += n;
        }
        Ok(written)
    }
}

const CHILD_ENV: &str = "TFREG_BENCH_NORMALIZE";
const SIZES_ENV: &str = "TFREG_BENCH_SIZES_MB";

/// `(files, file_size)` per archive: 64 files each time, so only the bytes grow. The default
/// sizes are 17, 67 and 268 MB unpacked; `TFREG_BENCH_SIZES_MB` picks others.
fn archive_shapes() -> Vec<(usize, usize)> {
    match std::env::var(SIZES_ENV) {
        Ok(list) => list
            .split(',')
            .map(|mb| {
                let mb: f64 = mb
                    .trim()
                    .parse()
                    .expect("TFREG_BENCH_SIZES_MB: numbers of MB");
                (64, ((mb * 1e6) / 64.0).ceil() as usize)
            })
            .collect(),
        Err(_) => vec![(64, 256 * 1024), (64, 1024 * 1024), (64, 4096 * 1024)],
    }
}

fn limits() -> ArchiveLimits {
    ArchiveLimits {
        max_unpacked_bytes: 4 * 1024 * 1024 * 1024,
        max_files: 1_000_000,
    }
}

/// In a child process: normalise one archive and print `seconds unpacked_bytes peak_kib`, so
/// the peak memory is normalisation's alone.
fn child(path: &str) {
    let input = std::fs::File::open(path).expect("input archive");
    let output = tempfile::tempfile().unwrap();
    let started = Instant::now();
    let normalized = normalize_archive(input, output, &limits()).expect("valid archive");
    let seconds = started.elapsed().as_secs_f64();
    println!("{seconds} {} {}", normalized.unpacked_bytes, peak_rss_kib());
}

fn main() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        return child(&path);
    }
    println!("archive normalisation (tar.gz in, normalised tar.gz out), one process per size");
    println!(
        "{:>12} {:>12} {:>10} {:>10} {:>14}",
        "unpacked MB", "gzipped MB", "seconds", "MB/s", "peak RSS MiB"
    );
    for (files, file_size) in archive_shapes() {
        let mut input = make_archive(files, file_size);
        let gz_len = input.seek(SeekFrom::End(0)).unwrap();
        input.seek(SeekFrom::Start(0)).unwrap();
        let mut named = tempfile::NamedTempFile::new().unwrap();
        std::io::copy(&mut input, named.as_file_mut()).unwrap();
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, named.path())
            .output()
            .expect("running the child");
        let text = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<f64> = text
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        let [seconds, unpacked, peak_kib] = fields[..] else {
            panic!("child said {text:?}");
        };
        let unpacked_mb = unpacked / 1e6;
        println!(
            "{:>12.1} {:>12.1} {:>10.3} {:>10.1} {:>14.1}",
            unpacked_mb,
            gz_len as f64 / 1e6,
            seconds,
            unpacked_mb / seconds,
            peak_kib / 1024.0
        );
    }
}
