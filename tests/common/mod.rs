//! Running the real `expolicy` binary from integration tests: from the crate root, without
//! colour, with stdout and stderr captured as UTF-8 (a non-UTF-8 stream or a signal fails the
//! test).

use std::io::Write;
use std::process::{Command, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

#[allow(dead_code, reason = "each test file uses the runners it needs")]
pub fn run(args: &[&str]) -> Run {
    run_with_stdin(args, None)
}

pub fn run_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--color", "never"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        pipe.write_all(bytes).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The same, as `(exit status, stdout, stderr)`.
#[allow(dead_code, reason = "each test file uses the runners it needs")]
pub fn expolicy(args: &[&str]) -> (i32, String, String) {
    let Run {
        code,
        stdout,
        stderr,
    } = run(args);
    (code, stdout, stderr)
}
