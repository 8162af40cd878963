#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! Fleets: globs, NDJSON streams (with a malformed line), standard input, and output that is
//! byte-identical whatever the number of threads.

mod common;
use common::{run, run_with_stdin};

const PACK: &str = "tests/fixtures/pipelines/pack";
const HOSTS: &str = "tests/fixtures/pipelines/hosts";
const STREAM: &str = "tests/fixtures/pipelines/streams/fleet.ndjson";

fn sources(json: &str) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    doc["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_glob_expands_sorted_and_matches_the_explicit_list() {
    let glob = format!("{HOSTS}/exch0*.json");
    let by_glob = run(&["eval", PACK, "-s", &glob, "-f", "json"]);
    assert_eq!(by_glob.code, 1, "{}", by_glob.stderr);
    assert_eq!(
        sources(&by_glob.stdout),
        [
            "tests/fixtures/pipelines/hosts/exch01.json",
            "tests/fixtures/pipelines/hosts/exch02.json",
            "tests/fixtures/pipelines/hosts/exch03.json"
        ]
    );
    let explicit = run(&[
        "eval",
        PACK,
        "-s",
        &format!("{HOSTS}/exch01.json"),
        "-s",
        &format!("{HOSTS}/exch02.json"),
        "-s",
        &format!("{HOSTS}/exch03.json"),
        "-f",
        "json",
    ]);
    assert_eq!(by_glob.stdout, explicit.stdout);
}

#[test]
fn a_glob_that_matches_nothing_is_an_error() {
    let r = run(&[
        "eval",
        PACK,
        "-s",
        "tests/fixtures/pipelines/hosts/nothing-*.json",
    ]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("glob_no_match", r.stderr);
}

#[test]
fn a_malformed_line_is_reported_with_its_number_and_the_other_hosts_still_run() {
    let r = run(&["eval", PACK, "-s", STREAM, "-f", "json"]);
    assert_eq!(r.code, 2, "a malformed line makes the exit status 2");
    assert_eq!(
        sources(&r.stdout),
        [
            "tests/fixtures/pipelines/streams/fleet.ndjson:1",
            "tests/fixtures/pipelines/streams/fleet.ndjson:2",
            "tests/fixtures/pipelines/streams/fleet.ndjson:5"
        ]
    );
    assert!(r.stderr.contains("fleet.ndjson:4: expected value"));
    insta::assert_snapshot!("malformed_line", r.stderr);
}

#[test]
fn ndjson_streams_from_standard_input() {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pipelines/streams/fleet.ndjson"
    ))
    .unwrap();
    let r = run_with_stdin(
        &["eval", PACK, "-s", "-", "--ndjson", "-f", "json"],
        Some(&text),
    );
    assert_eq!(r.code, 2);
    assert_eq!(sources(&r.stdout), ["<stdin>:1", "<stdin>:2", "<stdin>:5"]);
    assert!(r.stderr.contains("<stdin>:4"));
}

#[test]
fn a_missing_file_does_not_stop_the_others() {
    let r = run(&[
        "eval",
        PACK,
        "-s",
        &format!("{HOSTS}/exch02.json"),
        "-s",
        &format!("{HOSTS}/missing.json"),
        "-f",
        "json",
    ]);
    assert_eq!(r.code, 2);
    assert_eq!(sources(&r.stdout).len(), 1);
    assert!(r.stderr.contains("expolicy::snapshot::unreadable"));
}

/// A stream of many hosts, built from the fixtures with distinct names and some broken lines.
fn big_stream(dir: &std::path::Path) -> std::path::PathBuf {
    let mut out = String::new();
    for i in 0..60 {
        let file = format!(
            "{}/{HOSTS}/exch0{}.json",
            env!("CARGO_MANIFEST_DIR"),
            i % 3 + 1
        );
        let mut doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        doc["host"]["name"] = serde_json::json!(format!("HOST{i:03}"));
        if i % 7 == 0 {
            doc["facts"]["network"] = serde_json::json!({ "ipsec": { "enabled": i % 2 == 0 } });
        }
        out.push_str(&serde_json::to_string(&doc).unwrap());
        out.push('\n');
        if i % 17 == 5 {
            out.push_str("{\"format\": \"expolicy-snapshot/1\", \"host\": 7}\n");
        }
    }
    let path = dir.join("many.ndjson");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn output_is_byte_identical_whatever_the_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let stream = big_stream(dir.path());
    let stream = stream.to_str().unwrap();
    let waivers = "tests/fixtures/pipelines/waivers/waivers.yaml";
    for format in ["human", "json", "sarif", "junit", "github", "markdown"] {
        let args = |jobs: &'static str| {
            vec![
                "eval",
                PACK,
                "-s",
                stream,
                "-f",
                format,
                "--jobs",
                jobs,
                "--waivers",
                waivers,
                "--now",
                "2026-11-26",
            ]
        };
        let one = run(&args("1"));
        assert_eq!(one.code, 2, "{format}: broken lines make the status 2");
        for jobs in ["2", "4", "7"] {
            let other = run(&args(jobs));
            assert_eq!(
                one.stdout, other.stdout,
                "{format}: --jobs 1 and --jobs {jobs} differ"
            );
            assert_eq!(
                one.stderr, other.stderr,
                "{format}: diagnostics come in input order"
            );
        }
    }
    let json = run(&["eval", PACK, "-s", stream, "-f", "json", "--jobs", "3"]);
    let names: Vec<String> = sources(&json.stdout);
    assert_eq!(names.len(), 60);
    assert!(names[0].ends_with("many.ndjson:1"));
    assert_eq!(json.stderr.matches("expolicy::snapshot::").count(), 4);
}

#[test]
fn jobs_must_be_positive() {
    let r = run(&["eval", PACK, "-s", STREAM, "--jobs", "0"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--jobs"));
}

#[test]
fn blank_lines_and_crlf_are_accepted_in_streams() {
    let dir = tempfile::tempdir().unwrap();
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pipelines/hosts/exch02.json"
    ))
    .unwrap();
    let line: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let line = serde_json::to_string(&line).unwrap();
    let path = dir.path().join("crlf.jsonl");
    std::fs::write(&path, format!("\r\n{line}\r\n\r\n{line}\r\n")).unwrap();
    let r = run(&["eval", PACK, "-s", path.to_str().unwrap(), "-f", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let names = sources(&r.stdout);
    assert!(names[0].ends_with("crlf.jsonl:2"));
    assert!(names[1].ends_with("crlf.jsonl:4"));
}

#[test]
fn more_workers_than_hosts_change_nothing() {
    let glob = format!("{HOSTS}/exch0*.json");
    for source in [STREAM, glob.as_str()] {
        let args = |jobs: &'static str| vec!["eval", PACK, "-s", source, "-f", "json", "-j", jobs];
        let one = run(&args("1"));
        // More than the pool starts (it caps the workers): the output must not notice.
        let many = run(&args("1000"));
        assert_eq!(one.code, many.code, "{source}");
        assert_eq!(one.stdout, many.stdout, "{source}");
        assert_eq!(one.stderr, many.stderr, "{source}");
    }
}

#[test]
fn a_stream_on_standard_input_is_the_same_whatever_the_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read(big_stream(dir.path())).unwrap();
    let args = |jobs: &'static str| {
        vec![
            "eval", PACK, "-s", "-", "--ndjson", "-f", "human", "-j", jobs,
        ]
    };
    let one = run_with_stdin(&args("1"), Some(&text));
    assert_eq!(one.code, 2, "broken lines make the status 2");
    for jobs in ["2", "5"] {
        let other = run_with_stdin(&args(jobs), Some(&text));
        assert_eq!(one.stdout, other.stdout, "--jobs {jobs}");
        assert_eq!(one.stderr, other.stderr, "--jobs {jobs}");
    }
}
