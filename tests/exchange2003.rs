#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! The `policies/exchange2003` pack against its own cases: every
//! `policies/exchange2003/tests/<case>.snapshot.json` is evaluated, the outcomes its
//! `<case>.expect.json` lists are asserted, every other rule must keep its outcome on the healthy
//! host (so one change does not light up unrelated rules), and the JSON and human reports are
//! snapshotted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use expolicy::check::ir::Program;
use expolicy::diag::RenderOptions;
use expolicy::eval::Evaluator;
use expolicy::report::{self, SnapshotReport};
use expolicy::source::SourceMap;

const PACK: &str = "policies/exchange2003";
const CASES: &str = "policies/exchange2003/tests";
const PREFIX: &str = "exchange2003.";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The pack, loaded by a relative path so that reports name `policies/exchange2003/...`.
fn load_pack() -> (Program, SourceMap) {
    std::env::set_current_dir(root()).unwrap();
    let mut sources = SourceMap::new();
    let loaded = expolicy::policy::load(&[PathBuf::from(PACK)], &mut sources);
    let rendered = expolicy::diag::render_all(&loaded.diags, &sources, RenderOptions::PLAIN);
    assert!(
        loaded.diags.is_empty(),
        "the pack must check without errors or warnings:\n{rendered}"
    );
    (loaded.program.expect("the pack checks"), sources)
}

struct Expect {
    description: String,
    outcomes: BTreeMap<String, String>,
}

fn read_expect(snapshot: &Path) -> Expect {
    let name = snapshot.file_name().unwrap().to_string_lossy();
    let case = name.strip_suffix(".snapshot.json").unwrap();
    let path = snapshot.with_file_name(format!("{case}.expect.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let description = json["description"].as_str().unwrap().to_string();
    let outcomes = json["outcomes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    Expect {
        description,
        outcomes,
    }
}

/// The case name of `<dir>/<case>.snapshot.json`.
fn case_name(path: &Path) -> String {
    let name = path.file_name().unwrap().to_string_lossy();
    name.strip_suffix(".snapshot.json").unwrap().to_string()
}

fn case_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join(CASES))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".snapshot.json"))
        .collect();
    paths.sort();
    paths
}

/// Evaluates every rule of the pack on one case; returns the report and the outcome per bare
/// rule name.
fn evaluate(program: &Program, path: &Path) -> (SnapshotReport, BTreeMap<String, String>) {
    let relative = format!("{CASES}/{}.snapshot.json", case_name(path));
    let bytes = std::fs::read(path).unwrap();
    let snapshot = expolicy::snapshot::load(&relative, &bytes)
        .map_err(|e| e.0.message)
        .unwrap();
    let all: Vec<u32> = (0..program.rules.len() as u32).collect();
    let results = Evaluator::new(program, &snapshot).evaluate(&all);
    let outcomes = results
        .iter()
        .map(|r| {
            let id = &program.rules[r.rule as usize].id;
            let bare = id.strip_prefix(PREFIX).unwrap_or(id).to_string();
            (bare, r.outcome.as_str().to_string())
        })
        .collect();
    let report = SnapshotReport::new(relative, snapshot.snapshot.host.name.clone(), results);
    (report, outcomes)
}

fn healthy_outcomes(program: &Program) -> BTreeMap<String, String> {
    evaluate(program, &root().join(CASES).join("healthy.snapshot.json")).1
}

#[test]
fn cases() {
    let (program, sources) = load_pack();
    let healthy = healthy_outcomes(&program);
    assert_eq!(healthy.len(), program.rules.len());
    insta::glob!(
        "../policies/exchange2003/tests",
        "*.snapshot.json",
        |path| {
            let case = case_name(path);
            let expect = read_expect(path);
            assert!(!expect.description.is_empty(), "{case}: no description");
            assert!(!expect.outcomes.is_empty(), "{case}: lists no outcome");
            let (report, outcomes) = evaluate(&program, path);
            for (rule, wanted) in &expect.outcomes {
                let got = outcomes
                    .get(rule)
                    .unwrap_or_else(|| panic!("{case}: the pack has no rule `{rule}`"));
                assert_eq!(got, wanted, "{case}: rule `{rule}`");
            }
            // Knock-on noise: what the case does not mention behaves as on the healthy host.
            for (rule, got) in &outcomes {
                if !expect.outcomes.contains_key(rule) {
                    assert_eq!(
                        got, &healthy[rule],
                        "{case}: rule `{rule}` changed from the healthy host's outcome; list it in \
                     {case}.expect.json if that is intended"
                    );
                }
            }
            let reports = [report];
            let json = report::json::render(&program, &sources, &reports);
            let human = report::human::render(&program, &sources, &reports, RenderOptions::PLAIN);
            insta::assert_snapshot!("json", json);
            insta::assert_snapshot!("human", human);
        }
    );
}

fn ex_ids() -> Vec<String> {
    (1..=25).map(|n| format!("EX-{n:02}")).collect()
}

#[test]
fn every_requirement_is_covered_by_a_rule_and_by_cases() {
    let (program, _) = load_pack();
    let controls_of: BTreeMap<String, BTreeSet<String>> = program
        .rules
        .iter()
        .map(|r| {
            let bare = r.id.strip_prefix(PREFIX).unwrap_or(&r.id).to_string();
            (bare, r.controls.iter().cloned().collect())
        })
        .collect();
    let named: BTreeSet<&String> = controls_of.values().flatten().collect();
    for id in ex_ids() {
        assert!(named.contains(&id), "no rule controls {id}");
    }
    for control in &named {
        assert!(ex_ids().contains(control), "unknown control {control}");
    }

    // Outcomes per requirement, as the cases list them (and as evaluation confirms).
    let mut failing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut passing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in case_paths() {
        let case = case_name(&path);
        let expect = read_expect(&path);
        let (_, outcomes) = evaluate(&program, &path);
        for (rule, wanted) in &expect.outcomes {
            assert_eq!(&outcomes[rule], wanted, "{case}: rule `{rule}`");
            for control in &controls_of[rule] {
                let bucket = match wanted.as_str() {
                    "fail" => &mut failing,
                    "pass" | "not_applicable" => &mut passing,
                    _ => continue,
                };
                bucket
                    .entry(control.clone())
                    .or_default()
                    .push(case.clone());
            }
        }
    }
    for id in ex_ids() {
        assert!(
            failing.contains_key(&id),
            "no case fails a rule controlling {id}"
        );
        assert!(
            passing.contains_key(&id),
            "no case passes (or finds not applicable) a rule controlling {id}"
        );
    }
}

#[test]
fn severities_follow_the_requirements() {
    let (program, _) = load_pack();
    let severity = |rule: &str| {
        let r = program
            .rules
            .iter()
            .find(|r| r.id == format!("{PREFIX}{rule}"))
            .unwrap_or_else(|| panic!("no rule {rule}"));
        format!("{:?}", r.severity).to_lowercase()
    };
    assert_eq!(severity("error-reporting-settled"), "info");
    assert_eq!(severity("com-system-application-running"), "warning");
    assert_eq!(severity("shadow-copy-provider-follows-vss"), "warning");
    for rule in [
        "event-log-running",
        "rpc-running-automatic",
        "exchange-services-run-as-localsystem",
        "com-system-application-enabled",
        "msearch-for-full-text-indexing",
        "shadow-copy-provider-enabled",
        "static-rpc-ports-valid",
    ] {
        assert_eq!(severity(rule), "error", "{rule}");
    }
    for rule in &program.rules {
        assert!(!rule.title.is_empty(), "{} has no title", rule.id);
        assert!(rule.help.is_some(), "{} has no help", rule.id);
    }
}

#[test]
fn the_examples_are_the_fixture_hosts() {
    let healthy = std::fs::read(root().join("examples/snapshots/exch01-healthy.json")).unwrap();
    let fixture = std::fs::read(root().join(CASES).join("healthy.snapshot.json")).unwrap();
    assert_eq!(
        healthy, fixture,
        "examples/snapshots/exch01-healthy.json is the healthy fixture"
    );
}

fn run_binary(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .current_dir(root())
        .arg("--color")
        .arg("never")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn healthy_host_exits_zero_even_with_fail_on_info() {
    let (code, stdout, stderr) = run_binary(&[
        "eval",
        PACK,
        "--snapshot",
        "examples/snapshots/exch01-healthy.json",
        "--fail-on",
        "info",
    ]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("0 failed"), "{stdout}");
    assert!(stdout.contains("0 undecided"), "{stdout}");
}

#[test]
fn broken_host_exits_one_with_its_findings() {
    let (code, stdout, stderr) = run_binary(&[
        "eval",
        PACK,
        "--snapshot",
        "examples/snapshots/exch01-broken.json",
    ]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    for finding in [
        "exchange2003.msearch-for-full-text-indexing",
        "exchange2003.exchange-services-run-as-localsystem",
        "exchange2003.address-share-present",
        "exchange2003.static-rpc-ports-valid",
    ] {
        assert!(
            stdout.contains(finding),
            "{finding} missing from:\n{stdout}"
        );
    }
    assert!(stdout.contains("Mailbox Store (EXCH01)"), "{stdout}");
    assert!(
        stdout.contains("MSExchangeIS (CORP\\svc-exchange)"),
        "{stdout}"
    );
}

#[test]
fn check_reports_nothing() {
    let (code, stdout, stderr) = run_binary(&["check", PACK]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    // Every diagnostic carries a stable `expolicy::...` code; there must be none.
    assert!(!stderr.contains("expolicy::"), "{stderr}");
    assert!(stderr.contains("29 rule(s): 0 warning(s)"), "{stderr}");
}
