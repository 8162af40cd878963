#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! Robustness: bad input of every kind gives exit status 2 and a diagnostic (never a panic,
//! exit 101, or a signal); limits give diagnostics or `error` outcomes; minimised fuzz
//! crashers stay fixed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn expolicy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .arg("--color")
        .arg("never")
        .args(args)
        .output()
        .expect("run expolicy")
}

/// The exit status, failing the test on a signal or a panic.
fn status(out: &Output, what: &str) -> i32 {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("{what}: killed by a signal\n{stderr}"));
    assert!(
        code != 101 && !stderr.contains("panicked"),
        "{what}: panicked\n{stderr}"
    );
    code
}

/// Asserts exit status 2 with a diagnostic code on stderr; returns stderr.
fn refused(args: &[&str], what: &str) -> String {
    let out = expolicy(args);
    let code = status(&out, what);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(code, 2, "{what}: expected exit 2\n{stderr}");
    assert!(
        stderr.contains("expolicy::"),
        "{what}: no diagnostic code\n{stderr}"
    );
    stderr
}

fn demo_pack() -> String {
    root().join("examples/demo/policy").display().to_string()
}

fn good_snapshot() -> String {
    root()
        .join("examples/demo/snapshots/good.json")
        .display()
        .to_string()
}

fn import_exists() -> bool {
    let out = expolicy(&["--help"]);
    String::from_utf8_lossy(&out.stdout).contains("import")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

// ------------------------------------------------------------ the bad-input corpus

/// Every file of `tests/bad_input/` is refused as a snapshot by `eval`, as a policy by
/// `check` and `eval`, and as an input by `import`: exit 2 with a diagnostic.
#[test]
fn every_bad_input_is_refused_with_a_diagnostic() {
    let import = import_exists();
    let corpus = files(&root().join("tests/bad_input"));
    assert!(corpus.len() >= 15, "the corpus is missing files");
    let demo = demo_pack();
    let good = good_snapshot();
    for file in &corpus {
        let path = file.display().to_string();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        refused(&["check", &path], &format!("check {name}"));
        refused(
            &["eval", &path, "-s", &good],
            &format!("eval {name} as a policy"),
        );
        if !name.starts_with("policy-") {
            refused(&["eval", &demo, "-s", &path], &format!("eval -s {name}"));
        }
        if import {
            // The importer may read some of these (a JSON document is a facts file); what
            // it must never do is panic or write a snapshot from binary garbage.
            let out = expolicy(&["import", &path]);
            let code = status(&out, &format!("import {name}"));
            assert!(code == 0 || code == 2, "import {name}: exit {code}");
            if code == 2 {
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(stderr.contains("expolicy::"), "import {name}: {stderr}");
            }
        }
    }
}

#[test]
fn snapshot_text_decoding_problems_have_their_own_codes() {
    let demo = demo_pack();
    let dir = root().join("tests/bad_input");
    let cases = [
        ("binary.bin", "expolicy::snapshot::encoding"),
        ("invalid-utf8.json", "expolicy::snapshot::encoding"),
        ("empty.bin", "expolicy::snapshot::malformed"),
        ("nul-bytes.json", "expolicy::snapshot::malformed"),
        ("lone-surrogate.json", "expolicy::snapshot::malformed"),
        ("lone-low-surrogate.json", "expolicy::snapshot::malformed"),
        ("utf16le-no-bom.json", "expolicy::snapshot::malformed"),
        ("huge-number.json", "expolicy::snapshot::malformed"),
        // Duplicate keys in the fixed parts of a snapshot are refused; see the report.
        ("duplicate-top-key.json", "duplicate field `host`"),
        ("duplicate-service-name-key.json", "duplicate field `name`"),
    ];
    for (file, expected) in cases {
        let path = dir.join(file).display().to_string();
        let stderr = refused(&["eval", &demo, "-s", &path], file);
        assert!(stderr.contains(expected), "{file}: {stderr}");
    }
}

/// Duplicate keys inside free-form `facts` keep the last value, as JSON parsers do; they
/// are not an error, and never a panic.
#[test]
fn duplicate_keys_in_facts_keep_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.xpol");
    std::fs::write(
        &policy,
        "pack p\nfact backup.uses_vss: bool\nrule r {\n  require backup.uses_vss\n}\n",
    )
    .unwrap();
    let snap = dir.path().join("s.json");
    std::fs::write(
        &snap,
        r#"{"format": "expolicy-snapshot/1", "host": {"name": "H"}, "services": [],
            "facts": {"backup": {"uses_vss": false, "uses_vss": true}}}"#,
    )
    .unwrap();
    let out = expolicy(&[
        "eval",
        &policy.display().to_string(),
        "-s",
        &snap.display().to_string(),
    ]);
    assert_eq!(
        status(&out, "duplicate facts"),
        0,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_100_mb_snapshot_is_refused_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    let mut text = String::from(
        r#"{"format": "expolicy-snapshot/1", "host": {"name": "H"}, "services": [], "facts": {"pad": ""#,
    );
    text.push_str(&"x".repeat(100 * 1024 * 1024));
    text.push_str("\"}}");
    std::fs::write(&path, text).unwrap();
    let stderr = refused(
        &["eval", &demo_pack(), "-s", &path.display().to_string()],
        "100 MB snapshot",
    );
    assert!(stderr.contains("expolicy::snapshot::too_large"), "{stderr}");
}

#[test]
fn a_hundred_thousand_levels_of_nesting_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("deep.json");
    let deep = format!(
        r#"{{"format": "expolicy-snapshot/1", "host": {{"name": "H"}}, "services": [], "facts": {{"x": {}{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    std::fs::write(&snap, deep).unwrap();
    let stderr = refused(
        &["eval", &demo_pack(), "-s", &snap.display().to_string()],
        "deep snapshot",
    );
    assert!(stderr.contains("expolicy::snapshot::too_deep"), "{stderr}");

    let policy = dir.path().join("deep.xpol");
    let text = format!(
        "pack p\nrule r {{\n  require {}true{}\n}}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    std::fs::write(&policy, text).unwrap();
    let stderr = refused(&["check", &policy.display().to_string()], "deep policy");
    assert!(stderr.contains("expolicy::parse::too_deep"), "{stderr}");

    // Prefix operators and operator chains nest without brackets.
    let nots = format!(
        "pack p\nrule r {{\n  require {}true\n}}\n",
        "not ".repeat(100_000)
    );
    std::fs::write(&policy, nots).unwrap();
    refused(&["check", &policy.display().to_string()], "deep `not`");
    let chain = format!(
        "pack p\nrule r {{\n  require 1{} > 0\n}}\n",
        " + 1".repeat(100_000)
    );
    std::fs::write(&policy, chain).unwrap();
    let stderr = refused(&["check", &policy.display().to_string()], "long `+` chain");
    assert!(stderr.contains("expolicy::parse::too_deep"), "{stderr}");
}

/// miette pads with format widths that stop at 65,535 columns; a label further along a
/// line used to panic inside it. Now the location is given in words.
#[test]
fn a_problem_far_along_one_line_is_reported_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("long.xpol");
    let text = format!(
        "pack p\nrule r {{\n  require host.name == {} &&\n}}\n",
        " ".repeat(100_000)
    );
    std::fs::write(&policy, text).unwrap();
    let stderr = refused(&["check", &policy.display().to_string()], "long line");
    assert!(stderr.contains("expolicy::parse::syntax"), "{stderr}");
    assert!(stderr.contains("long.xpol:3:"), "{stderr}");
    // Tabs are drawn four columns wide.
    let tabs = format!(
        "pack p\nrule r {{\n  require {}&&\n}}\n",
        "\t".repeat(20_000)
    );
    std::fs::write(&policy, tabs).unwrap();
    refused(
        &["check", &policy.display().to_string()],
        "long line of tabs",
    );
}

#[test]
fn an_oversized_policy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("big.xpol");
    let mut text = String::from("pack p\n");
    text.push_str(&"# padding\n".repeat(500_000));
    std::fs::write(&policy, text).unwrap();
    let stderr = refused(&["check", &policy.display().to_string()], "5 MB policy");
    assert!(stderr.contains("expolicy::parse::too_large"), "{stderr}");
}

// ------------------------------------------------------------ limits in evaluation

/// Evaluates `policy` on a snapshot with `services` services and `facts`, and returns the
/// JSON report's results.
fn eval_json(policy: &str, services: usize, facts: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let policy_path = dir.path().join("p.xpol");
    std::fs::write(&policy_path, policy).unwrap();
    let services: Vec<String> = (0..services)
        .map(|i| {
            format!(
                r#"{{"name": "svc{i}", "state": "running", "start_type": "automatic", "account": "LocalSystem", "depends_on": [{}]}}"#,
                if i > 0 { format!("\"svc{}\"", i - 1) } else { String::new() }
            )
        })
        .collect();
    let snap = dir.path().join("s.json");
    std::fs::write(
        &snap,
        format!(
            r#"{{"format": "expolicy-snapshot/1", "host": {{"name": "H"}}, "services": [{}], "facts": {facts}}}"#,
            services.join(",")
        ),
    )
    .unwrap();
    let mut args = vec![
        "eval".to_string(),
        policy_path.display().to_string(),
        "-s".to_string(),
        snap.display().to_string(),
        "-f".to_string(),
        "json".to_string(),
    ];
    args.extend(extra.iter().map(ToString::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = expolicy(&args);
    let code = status(&out, "eval");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(code == 0 || code == 1, "exit {code}\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{stderr}"))
}

/// Every result of a JSON report, flattened across snapshots.
fn results(report: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut pending = vec![report.clone()];
    while let Some(v) = pending.pop() {
        match v {
            serde_json::Value::Object(map) => {
                if map.contains_key("outcome") && map.contains_key("rule") {
                    out.push(serde_json::Value::Object(map));
                } else {
                    pending.extend(map.into_iter().map(|(_, v)| v));
                }
            }
            serde_json::Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    out.sort_by_key(|r| r["rule"].to_string());
    out
}

fn outcome_of(report: &serde_json::Value, rule: &str) -> (String, String) {
    let all = results(report);
    let r = all
        .iter()
        .find(|r| r["rule"].as_str().is_some_and(|id| id.ends_with(rule)))
        .unwrap_or_else(|| panic!("no result for {rule} in {report:#}"));
    (
        r["outcome"].as_str().unwrap_or("").to_string(),
        r.to_string(),
    )
}

const PORTS: &str = "pack p\nfact network.rpc_dynamic_ports: { min: int, max: int }\nrule ports {\n  require network.rpc_dynamic_ports.min >= 1024\n}\n";

/// A number that is not an i64 where a fact declares `int` is an `error` naming the path,
/// never a pass.
#[test]
fn a_float_or_out_of_range_number_for_an_int_fact_is_an_error() {
    for bad in [
        "1024.5",
        "2048.0",
        "1e4",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
    ] {
        let facts =
            format!(r#"{{"network": {{"rpc_dynamic_ports": {{"min": {bad}, "max": 5000}}}}}}"#);
        let report = eval_json(PORTS, 1, &facts, &[]);
        let (outcome, shown) = outcome_of(&report, "ports");
        assert_eq!(outcome, "error", "{bad}: {shown}");
        assert!(shown.contains("rpc_dynamic_ports"), "{bad}: {shown}");
    }
    let report = eval_json(
        PORTS,
        1,
        r#"{"network": {"rpc_dynamic_ports": {"min": 1024, "max": 5000}}}"#,
        &[],
    );
    assert_eq!(outcome_of(&report, "ports").0, "pass");
}

/// Nested quantifiers over `services` that would take billions of steps stop at the step
/// budget with an `error` outcome (the test finishing at all is the time bound). So does work
/// done inside a builtin (`joined` builds a 3 KB string 90,000 times); work that does not depend
/// on the loops (`invariant`) is done once, however deeply it is nested.
#[test]
fn pathological_comprehensions_stop_at_the_step_budget() {
    let policy = "pack p\nrule quadruple {\n  require (count a in services: (count b in services: (count c in services: (count d in services: d.name == a.name) > 0) > 0) > 0) > 0\n}\nrule listed {\n  require count([[b.name for b in services] for a in services]) > 0\n}\nrule joined {\n  require all a in services: (all b in services: len(join([c.name for c in services], a.name + b.name)) > 0)\n}\nrule invariant {\n  require all a in services: (all b in services: len(services) > 0)\n}\nrule ok {\n  require count(services) == 300\n}\n";
    let report = eval_json(policy, 300, "{}", &[]);
    for rule in ["quadruple", "joined"] {
        let (outcome, shown) = outcome_of(&report, rule);
        assert_eq!(outcome, "error", "{rule}: {shown}");
        assert!(shown.contains("steps"), "{rule}: {shown}");
    }
    // 300 × 300 is well within the budget.
    assert_eq!(outcome_of(&report, "listed").0, "pass");
    assert_eq!(outcome_of(&report, "invariant").0, "pass");
    assert_eq!(outcome_of(&report, "ok").0, "pass");
}

/// Strings that double in size are stopped by the budget (which charges for the bytes a
/// string operation builds) long before they exhaust memory.
#[test]
fn doubling_strings_stop_at_the_budget() {
    let mut policy = String::from("pack p\nlet s0 = \"0123456789abcdef\"\n");
    for i in 1..=40 {
        policy.push_str(&format!("let s{i} = s{} + s{}\n", i - 1, i - 1));
    }
    policy.push_str("rule big {\n  require len(s40) > 0\n}\nrule joined {\n  require len(join([s20 for x in services], s20)) > 0\n}\n");
    let report = eval_json(&policy, 50, "{}", &[]);
    for rule in ["big", "joined"] {
        let (outcome, shown) = outcome_of(&report, rule);
        assert_eq!(outcome, "error", "{rule}: {shown}");
        assert!(shown.contains("steps"), "{rule}: {shown}");
    }
}

/// `depends on` walks the graph; asked for every pair of a long chain of services, the walks
/// are charged and stop at the budget.
#[test]
fn graph_walks_are_charged_to_the_budget() {
    let policy = "pack p\nrule pairs {\n  require all a in services: (all b in services: (a depends on b) or not (a depends on b))\n}\nrule one {\n  require service(\"svc399\") depends on service(\"svc0\")\n}\n";
    let report = eval_json(policy, 400, "{}", &[]);
    let (outcome, shown) = outcome_of(&report, "pairs");
    assert_eq!(outcome, "error", "{shown}");
    assert_eq!(outcome_of(&report, "one").0, "pass");
}

/// A long chain of definitions nests evaluation past its depth limit: an `error` outcome,
/// also on the worker threads `--jobs` starts (whose stacks are the platform's default).
#[test]
fn deep_definition_chains_stop_at_the_depth_limit_on_every_thread() {
    let mut policy = String::from("pack p\nlet d0 = 1\n");
    for i in 1..3000 {
        policy.push_str(&format!("let d{i} = d{} + 1\n", i - 1));
    }
    policy.push_str(
        "rule deep {\n  require d2999 > 0\n}\nrule shallow {\n  require d100 == 101\n}\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let policy_path = dir.path().join("p.xpol");
    std::fs::write(&policy_path, &policy).unwrap();
    let good = good_snapshot();
    for jobs in ["1", "2"] {
        let out = expolicy(&[
            "eval",
            &policy_path.display().to_string(),
            "-s",
            &good,
            "-s",
            &good,
            "-s",
            &good,
            "-f",
            "json",
            "--jobs",
            jobs,
        ]);
        let code = status(&out, &format!("--jobs {jobs}"));
        assert_eq!(code, 1, "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let all = results(&report);
        assert_eq!(all.len(), 6);
        for r in &all {
            let id = r["rule"].as_str().unwrap();
            let expected = if id.ends_with("deep") {
                "error"
            } else {
                "pass"
            };
            assert_eq!(r["outcome"], expected, "{r}");
        }
    }
}

// ------------------------------------------------------------ fuzz regressions

/// Every minimised crasher the fuzzers found, run through the same path as its target
/// (named by the file's prefix): no panic, and a diagnostic or a result.
#[test]
fn fuzz_regressions_stay_fixed() {
    let dir = root().join("tests/fuzz_regressions");
    let demo = demo_pack();
    let good = good_snapshot();
    let mut seen = 0;
    for file in files(&dir) {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let path = file.display().to_string();
        let (args, what): (Vec<&str>, &str) = if name.starts_with("parse_check") {
            (vec!["eval", &path, "-s", &good], "policy")
        } else if name.starts_with("snapshot_load") || name.starts_with("eval_pack") {
            (vec!["eval", &demo, "-s", &path], "snapshot")
        } else if name.starts_with("import") {
            (vec!["import", &path], "import")
        } else {
            panic!("{name}: name it after its fuzz target");
        };
        let out = expolicy(&args);
        let code = status(&out, &name);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(code <= 2, "{name} ({what}): exit {code}\n{stderr}");
        if code == 2 {
            assert!(stderr.contains("expolicy::"), "{name}: {stderr}");
        }
        seen += 1;
    }
    assert!(seen > 0, "no regression inputs in {}", dir.display());
}
