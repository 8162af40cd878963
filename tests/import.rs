#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! `expolicy import` against realistic samples of every format, their quirks and malformed
//! variants (tests/fixtures/import).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use expolicy::snapshot::import::encoding::{utf16be_with_bom, utf16le_with_bom};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(path)
}

fn import(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import"))
        .arg("--color")
        .arg("never")
        .arg("import")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Imports successfully and returns the snapshot, checking that `eval` would load it.
fn snapshot_of(args: &[&str]) -> serde_json::Value {
    let out = import(args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    expolicy::snapshot::load("imported", text.as_bytes())
        .map_err(|e| e.0.message)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Fails with exit status 2, writes nothing to stdout, and returns the diagnostics.
fn failure_of(args: &[&str]) -> String {
    let out = import(args);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert_eq!(stdout(&out), "");
    stderr(&out)
}

#[test]
fn exchange_2003_folder_from_sc_wmic_reg_and_facts() {
    let out = import(&["exch01"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let snapshot: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    insta::assert_json_snapshot!("exch01", snapshot);
    insta::assert_snapshot!("exch01_warnings", stderr(&out));
}

#[test]
fn sc_state_comes_from_query_and_config_from_qc() {
    let s = snapshot_of(&[
        "exch01/sc-query.txt",
        "exch01/sc-qc.txt",
        "--host",
        "EXCH01",
    ]);
    let sa = s["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "MSExchangeSA")
        .unwrap();
    assert_eq!(sa["state"], "running");
    assert_eq!(sa["start_type"], "automatic");
    assert_eq!(sa["account"], "LocalSystem");
    assert_eq!(
        sa["depends_on"],
        serde_json::json!(["EventLog", "RPCSS", "LanmanServer", "LanmanWorkstation"])
    );
}

#[test]
fn windows_10_sc_spacing_queryex_and_delayed_start() {
    insta::assert_json_snapshot!("win10_sc", snapshot_of(&["win10/sc.txt", "--host", "WS01"]));
}

#[test]
fn get_service_json_from_windows_powershell_5_1() {
    insta::assert_json_snapshot!(
        "mbx01_get_service",
        snapshot_of(&["mbx01/get-service.json", "--host", "MBX01"])
    );
}

#[test]
fn a_single_object_in_utf16_and_the_value_count_wrapper() {
    let one = snapshot_of(&["mbx01/get-service-one.json", "--host", "MBX01"]);
    assert_eq!(one["services"].as_array().unwrap().len(), 1);
    assert_eq!(one["services"][0]["state"], "running");
    assert_eq!(
        one["services"][0]["depends_on"],
        serde_json::json!(["RpcSs", "EventLog"])
    );
    let wrapped = snapshot_of(&["mbx01/get-service-wrapped.json", "--host", "MBX01"]);
    insta::assert_json_snapshot!("mbx01_wrapped", wrapped);
}

#[test]
fn win32_service_json_names_the_host() {
    insta::assert_json_snapshot!(
        "mbx01_win32_service",
        snapshot_of(&["mbx01/win32-service.json"])
    );
}

#[test]
fn export_csv_with_and_without_type_line() {
    let out = import(&[
        "mbx01/get-service.csv",
        "mbx01/win32-service.csv",
        "--host",
        "MBX01",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let snapshot: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    insta::assert_json_snapshot!("mbx01_csv", snapshot);
    insta::assert_snapshot!("mbx01_csv_warnings", stderr(&out));
}

#[test]
fn every_encoding_gives_the_same_snapshot() {
    let text = std::fs::read_to_string(fixture("win10/sc.txt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut bom8 = vec![0xEF, 0xBB, 0xBF];
    bom8.extend_from_slice(text.as_bytes());
    let variants = [
        ("utf8.txt", text.as_bytes().to_vec()),
        ("utf8-bom.txt", bom8),
        ("utf16le.txt", utf16le_with_bom(&text)),
        ("utf16be.txt", utf16be_with_bom(&text)),
    ];
    let mut outputs = Vec::new();
    for (name, bytes) in variants {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        outputs.push(snapshot_of(&[path.to_str().unwrap(), "--host", "WS01"]));
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(outputs[0]["services"].as_array().unwrap().len(), 2);
}

#[test]
fn output_file_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("exch01.json");
    let out = import(&["exch01", "-o", target.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let written = std::fs::read_to_string(&target).unwrap();
    assert_eq!(written, stdout(&import(&["exch01"])));
    // Only the snapshot is left in the directory: the temporary file was renamed.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn from_forces_a_format() {
    // A facts file given as a positional input with --from facts.
    let s = snapshot_of(&["exch01/facts.yaml", "--from", "facts", "--host", "EXCH01"]);
    assert_eq!(s["facts"]["exchange"]["version"], "6.5.7638.1");
    // Forcing the wrong format reports what does not fit.
    let err = failure_of(&["exch01/sc-query.txt", "--from", "reg", "--host", "EXCH01"]);
    assert!(err.contains("expolicy::import::unparseable"), "{err}");
}

#[test]
fn services_merge_case_insensitively_and_disagreements_are_warned() {
    let dir = tempfile::tempdir().unwrap();
    let wmic = dir.path().join("wmic.csv");
    std::fs::write(
        &wmic,
        "\r\nNode,DisplayName,Name,StartMode,StartName,State\r\nEXCH01,Microsoft Search,mssearch,Auto,LocalSystem,Running\r\n",
    )
    .unwrap();
    let out = import(&[
        "exch01/sc-query.txt",
        "exch01/sc-qc.txt",
        wmic.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = s["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| n.eq_ignore_ascii_case("mssearch"))
            .count(),
        1
    );
    let err = stderr(&out).replace(dir.path().to_str().unwrap(), "<tmp>");
    insta::assert_snapshot!("merge_conflict_warnings", err);
}

#[test]
fn a_later_fact_replaces_an_earlier_one_with_a_warning() {
    let out = import(&[
        "exch01/exchange.reg",
        "--facts",
        "malformed/facts-conflict.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        s["facts"]["exchange"]["static_rpc_ports"]["system_attendant"],
        6100
    );
    assert_eq!(s["facts"]["exchange"]["static_rpc_ports"]["nspi"], 6002);
    insta::assert_snapshot!("fact_conflict_warnings", stderr(&out));
}

#[test]
fn malformed_inputs_are_reported_with_file_and_line() {
    for name in [
        "sc-bad.txt",
        "sc-truncated.txt",
        "wmic-bad.csv",
        "wmic-two-free-text.csv",
        "get-service-bad.json",
        "cim-truncated.json",
        "csv-bad.csv",
        "reg-bad.reg",
        "reg-exclusion.reg",
        "no-bom-utf16.txt",
        "unknown.txt",
    ] {
        let path = format!("malformed/{name}");
        let err = failure_of(&[&path, "--host", "H"]);
        insta::assert_snapshot!(format!("malformed_{name}"), err);
    }
}

#[test]
fn a_bad_facts_file_is_an_error() {
    let err = failure_of(&["exch01/sc-query.txt", "--facts", "malformed/facts-bad.yaml"]);
    insta::assert_snapshot!("malformed_facts_yaml", err);
}

#[test]
fn inputs_from_two_hosts_are_refused_unless_host_is_given() {
    let err = failure_of(&["exch01/wmic-services.csv", "malformed/other-host-wmic.csv"]);
    assert!(err.contains("expolicy::import::host_conflict"), "{err}");
    assert!(err.contains("EXCH01") && err.contains("EXCH02"), "{err}");
    let out = import(&[
        "exch01/wmic-services.csv",
        "malformed/other-host-wmic.csv",
        "--host",
        "EXCH01",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn no_host_name_anywhere_is_an_error() {
    let err = failure_of(&["win10/sc.txt"]);
    assert!(err.contains("expolicy::import::no_host"), "{err}");
    assert!(err.contains("--host"), "{err}");
}

#[test]
fn a_missing_file_is_an_error() {
    let err = failure_of(&["exch01/nope.txt", "--host", "H"]);
    assert!(err.contains("expolicy::import::unreadable"), "{err}");
}
