#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! The command line as pipelines use it: exit statuses, formats, selection, stdin, bad input.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const DEMO: &str = "examples/demo/policy";
const GOOD: &str = "examples/demo/snapshots/good.json";
const BAD: &str = "examples/demo/snapshots/bad.json";

fn expolicy(args: &[&str]) -> Output {
    expolicy_with_stdin(args, None)
}

fn expolicy_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--color", "never"])
        .args(args)
        .env_remove("COLUMNS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            // The child may exit before reading everything; that is its right.
            let _ = pipe.write_all(bytes);
        }
    }
    child.wait_with_output().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {out:?}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit status 2 with a diagnostic on stderr: never a panic (101) or a signal.
fn assert_bad_input(out: &Output) {
    let stderr = text(&out.stderr);
    assert_eq!(code(out), 2, "stderr:\n{stderr}");
    assert!(
        stderr.contains("expolicy::"),
        "no diagnostic code in:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn healthy_host_exits_zero() {
    let out = expolicy(&["eval", DEMO, "--snapshot", GOOD, "--fail-on", "info"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    insta::assert_snapshot!("healthy_human", text(&out.stdout));
}

#[test]
fn failing_host_exits_one_and_reports_with_miette() {
    let out = expolicy(&["eval", DEMO, "-s", BAD]);
    assert_eq!(code(&out), 1);
    insta::assert_snapshot!("failing_human", text(&out.stdout));
}

#[test]
fn json_report_follows_the_contract() {
    let out = expolicy(&["eval", DEMO, "-s", GOOD, "-s", BAD, "--format", "json"]);
    assert_eq!(code(&out), 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["format"], "expolicy-report/1");
    let snapshots = doc["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 2);
    for snap in snapshots {
        for result in snap["results"].as_array().unwrap() {
            for key in [
                "rule", "outcome", "severity", "controls", "message", "location",
            ] {
                assert!(result.get(key).is_some(), "{key} missing in {result}");
            }
            let outcome = result["outcome"].as_str().unwrap();
            assert!(["pass", "fail", "not_applicable", "error"].contains(&outcome));
        }
        let s = &snap["summary"];
        let total: u64 = ["pass", "fail", "not_applicable", "error"]
            .iter()
            .map(|k| s[k].as_u64().unwrap())
            .sum();
        assert_eq!(total as usize, snap["results"].as_array().unwrap().len());
    }
    insta::assert_snapshot!("two_hosts_json", text(&out.stdout));
}

#[test]
fn fail_on_sets_the_threshold() {
    // bad.json fails an error rule and a warning rule.
    let only_warning = ["--rule", "exchange-runs-as-local-system"];
    let run = |fail_on: &str| {
        code(&expolicy(
            &[
                &["eval", DEMO, "-s", BAD, "--fail-on", fail_on][..],
                &only_warning[..],
            ]
            .concat(),
        ))
    };
    assert_eq!(run("error"), 0);
    assert_eq!(run("warning"), 1);
    assert_eq!(run("info"), 1);
    assert_eq!(run("never"), 0);
}

#[test]
fn selection_by_rule_tag_and_control() {
    let rules = |extra: &[&str]| {
        let out = expolicy(&[&["eval", DEMO, "-s", BAD, "-f", "json"][..], extra].concat());
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["snapshots"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rule"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rules(&["--rule", "demo.msearch-*"]),
        ["demo.msearch-for-fulltext"]
    );
    assert_eq!(
        rules(&["--rule", "*start-order"]),
        ["demo.system-attendant-start-order"]
    );
    assert_eq!(
        rules(&["--tag", "accounts"]),
        ["demo.exchange-runs-as-local-system"]
    );
    assert_eq!(
        rules(&["--control", "EX-05"]),
        ["demo.system-attendant-start-order"]
    );
    assert_eq!(
        rules(&["--control", "EX-05", "--control", "EX-15"]).len(),
        2
    );
    assert_eq!(rules(&[]).len(), 3);
}

#[test]
fn selecting_nothing_is_a_usage_error() {
    let out = expolicy(&["eval", DEMO, "-s", BAD, "--rule", "msearch-for-fulltxt"]);
    assert_bad_input(&out);
    insta::assert_snapshot!("nothing_selected", text(&out.stderr));
}

#[test]
fn snapshot_from_stdin() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/demo/snapshots/bad.json"
    ))
    .unwrap();
    let out = expolicy_with_stdin(&["eval", DEMO, "-s", "-", "-f", "json"], Some(&bytes));
    assert_eq!(code(&out), 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["snapshots"][0]["source"], "<stdin>");
    assert_eq!(doc["snapshots"][0]["host"], "EXCH02");
    let twice = expolicy_with_stdin(&["eval", DEMO, "-s", "-", "-s", "-"], Some(&bytes));
    assert_bad_input(&twice);
}

#[test]
fn output_file() {
    let dir = std::env::temp_dir().join(format!("expolicy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.json");
    let out = expolicy(&[
        "eval",
        DEMO,
        "-s",
        GOOD,
        "-f",
        "json",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0);
    assert!(out.stdout.is_empty());
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["snapshots"][0]["summary"]["pass"], 3);
    let unwritable = expolicy(&[
        "eval",
        DEMO,
        "-s",
        GOOD,
        "-o",
        "/nonexistent-dir/report.txt",
    ]);
    assert_bad_input(&unwritable);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn same_inputs_give_byte_identical_reports() {
    let args = ["eval", DEMO, "-s", BAD, "-s", GOOD, "-f", "json"];
    let first = expolicy(&args);
    let second = expolicy(&args);
    assert_eq!(first.stdout, second.stdout);
    let human = ["eval", DEMO, "-s", BAD, "-s", GOOD];
    assert_eq!(expolicy(&human).stdout, expolicy(&human).stdout);
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(code(&expolicy(&["eval", DEMO])), 2);
    assert_eq!(
        code(&expolicy(&["eval", DEMO, "-s", GOOD, "--format", "yaml"])),
        2
    );
    assert_eq!(code(&expolicy(&["frobnicate"])), 2);
    assert_eq!(code(&expolicy(&["--version"])), 0);
}

#[test]
fn unreadable_inputs_exit_two() {
    let missing_policy = expolicy(&["eval", "no/such/pack", "-s", GOOD]);
    assert_bad_input(&missing_policy);
    let missing_snapshot = expolicy(&["eval", DEMO, "-s", "no/such/snapshot.json"]);
    assert_bad_input(&missing_snapshot);
    insta::assert_snapshot!("unreadable_snapshot", text(&missing_snapshot.stderr));
    let empty_dir = std::env::temp_dir().join(format!("expolicy-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty_dir).unwrap();
    assert_bad_input(&expolicy(&[
        "eval",
        empty_dir.to_str().unwrap(),
        "-s",
        GOOD,
    ]));
    std::fs::remove_dir_all(&empty_dir).unwrap();
}

#[test]
fn one_bad_snapshot_does_not_hide_the_others() {
    let out = expolicy(&[
        "eval",
        DEMO,
        "-s",
        "tests/snapshot_errors/truncated.json",
        "-s",
        GOOD,
        "-f",
        "json",
    ]);
    assert_bad_input(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["snapshots"].as_array().unwrap().len(), 1);
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("expolicy-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn bad_policies_exit_two_without_panicking() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage.xpol", b"\x00\x01 garbage %%% @@@".to_vec()),
        (
            "truncated.xpol",
            b"pack p\n\nrule r {\n  require service(\"RpcSs\") is".to_vec(),
        ),
        (
            "invalid-utf8.xpol",
            b"pack p\nrule r { require \"\xff\xfe\" == \"\" }".to_vec(),
        ),
        (
            "deep-parens.xpol",
            format!(
                "pack p\nrule r {{ require {}true{} }}",
                "(".repeat(10_000),
                ")".repeat(10_000)
            )
            .into_bytes(),
        ),
        (
            "deep-lists.xpol",
            format!(
                "pack p\nlet x = {}1{}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            )
            .into_bytes(),
        ),
        (
            "deep-not.xpol",
            format!("pack p\nrule r {{ require {}true }}", "not ".repeat(10_000)).into_bytes(),
        ),
        (
            "long-chain.xpol",
            format!(
                "pack p\nrule r {{ require {} > 0 }}",
                vec!["1"; 10_000].join(" + ")
            )
            .into_bytes(),
        ),
        ("empty.xpol", Vec::new()),
    ];
    for (name, bytes) in cases {
        let path = temp_file(name, &bytes);
        let out = expolicy(&["eval", path.to_str().unwrap(), "-s", GOOD]);
        assert_bad_input(&out);
        let check = expolicy(&["check", path.to_str().unwrap()]);
        assert_bad_input(&check);
    }
}

#[test]
fn a_long_flat_and_chain_is_fine() {
    let policy = format!(
        "pack p\nrule r {{ require {} }}",
        vec!["service(\"RpcSs\") is running"; 5_000].join(" and ")
    );
    let path = temp_file("flat-and.xpol", policy.as_bytes());
    let out = expolicy(&["eval", path.to_str().unwrap(), "-s", GOOD]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
}

#[test]
fn bad_snapshots_exit_two_without_panicking() {
    let deep = format!(
        "{{\"format\": \"expolicy-snapshot/1\", \"host\": {{\"name\": \"H\"}}, \"services\": [], \"facts\": {{\"x\": {}{}}}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage.json", b"\x00\x01\x02 not json".to_vec()),
        ("truncated.json", b"{\"format\": \"expolicy-snapshot/1\", \"host\": {\"name\"".to_vec()),
        ("invalid-utf8.json", b"{\"format\": \"expolicy-snapshot/1\", \"host\": {\"name\": \"\xff\"}, \"services\": []}".to_vec()),
        ("deep.json", deep.into_bytes()),
        ("deep-object.json", format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)).into_bytes()),
        ("empty.json", Vec::new()),
    ];
    for (name, bytes) in cases {
        let path = temp_file(name, &bytes);
        let out = expolicy(&["eval", DEMO, "-s", path.to_str().unwrap()]);
        assert_bad_input(&out);
    }
}

#[test]
fn oversized_snapshot_is_refused_before_reading() {
    let dir = std::env::temp_dir().join(format!("expolicy-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.json");
    let file = std::fs::File::create(&path).unwrap();
    // Sparse: takes no disk space, but is larger than the limit.
    file.set_len(expolicy::snapshot::MAX_SNAPSHOT_BYTES as u64 + 1)
        .unwrap();
    let out = expolicy(&["eval", DEMO, "-s", path.to_str().unwrap()]);
    assert_bad_input(&out);
    let stderr = text(&out.stderr).replace(path.to_str().unwrap(), "[huge.json]");
    insta::assert_snapshot!("oversized_snapshot", stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_reports_every_problem_and_exits_two() {
    let out = expolicy(&["check", "tests/diagnostics/type-mismatch.xpol"]);
    assert_bad_input(&out);
    let ok = expolicy(&["check", DEMO]);
    assert_eq!(code(&ok), 0, "{}", text(&ok.stderr));
    let warnings = expolicy(&["check", "tests/diagnostics/unused.xpol"]);
    assert_eq!(code(&warnings), 0);
    let denied = expolicy(&["check", "--deny-warnings", "tests/diagnostics/unused.xpol"]);
    assert_eq!(code(&denied), 2);
}
