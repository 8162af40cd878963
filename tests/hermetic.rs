#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! Hermeticity: a policy reads nothing but its snapshot. The language has no I/O and no
//! include mechanism; paths in strings are just strings.

use std::path::PathBuf;
use std::process::{Command, Output};

fn expolicy(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .current_dir(dir)
        .arg("--color")
        .arg("never")
        .args(args)
        .output()
        .unwrap()
}

fn snapshot() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/demo/snapshots/good.json")
        .display()
        .to_string()
}

/// Paths to a file that exists, relative (`../`) and absolute, go through every builtin that
/// takes a string; each result is what the string alone decides, not the file's content.
#[test]
fn paths_in_strings_are_inert() {
    let outer = tempfile::tempdir().unwrap();
    let pack = outer.path().join("pack");
    std::fs::create_dir(&pack).unwrap();
    let secret = outer.path().join("secret.txt");
    std::fs::write(&secret, "TOKEN\n").unwrap();
    let absolute = secret.display().to_string().replace('\\', "/");
    let relative = "../secret.txt";
    let mut policy = String::from("pack hermetic\n");
    for (i, path) in [absolute.as_str(), relative].iter().enumerate() {
        let n = path.chars().count();
        policy.push_str(&format!(
            r#"
rule path-{i} {{
  require len("{path}") == {n}
  require not contains("{path}", "TOKEN")
  require not ("TOKEN" in "{path}")
  require not has_service("{path}")
  require lower("{path}") == "{lower}"
  require join(["{path}"], "") == "{path}"
  require str("{path}") == "{path}"
  require starts_with("{path}", "{first}")
}}
rule service-{i} {{
  require service("{path}") is running
}}
"#,
            lower = path.to_lowercase(),
            first = &path[..1],
        ));
    }
    std::fs::write(pack.join("p.xpol"), &policy).unwrap();
    let out = expolicy(
        &pack,
        &[
            "eval",
            ".",
            "-s",
            &snapshot(),
            "-f",
            "json",
            "--fail-on",
            "never",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = report.to_string();
    assert!(
        !text.contains("TOKEN\\n"),
        "the file's content leaked: {text}"
    );
    let results = report["snapshots"][0]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(results.len(), 4, "{report:#}");
    for r in results {
        let id = r["rule"].as_str().unwrap();
        // A path is not a service: the rule cannot be decided, it does not read the file.
        let expected = if id.contains("service-") {
            "error"
        } else {
            "pass"
        };
        assert_eq!(r["outcome"], expected, "{r:#}");
    }
}

/// There is no way to name another file from a policy: `include`, `import`, `use` and
/// `load` are not statements.
#[test]
fn there_is_no_include_statement() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("other.xpol"),
        "pack other\nrule r {\n  require true\n}\n",
    )
    .unwrap();
    for keyword in ["include", "import", "use", "load", "source"] {
        let text = format!("pack p\n{keyword} \"../other.xpol\"\nrule r {{\n  require true\n}}\n");
        let file = dir.path().join("p.xpol");
        std::fs::write(&file, text).unwrap();
        let out = expolicy(dir.path(), &["check", "p.xpol"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{keyword}: {stderr}");
        assert!(
            stderr.contains("expolicy::parse::syntax"),
            "{keyword}: {stderr}"
        );
    }
}

/// A pack directory is the `.xpol` files beneath it and nothing else: a sibling pack next to
/// it is not read.
#[test]
fn a_pack_directory_reads_only_its_own_files() {
    let outer = tempfile::tempdir().unwrap();
    let pack = outer.path().join("pack");
    std::fs::create_dir(&pack).unwrap();
    std::fs::write(pack.join("a.xpol"), "pack p\nrule r {\n  require true\n}\n").unwrap();
    // A broken file beside the pack, which would fail the check if it were read.
    std::fs::write(outer.path().join("broken.xpol"), "pack p\nrule {\n").unwrap();
    let out = expolicy(&pack, &["check", "."]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("1 rule(s)"), "{stderr}");
}

#[test]
fn a_link_out_of_the_pack_directory_is_refused() {
    let base = std::env::temp_dir().join(format!("expolicy-link-{}", std::process::id()));
    let pack = base.join("pack");
    std::fs::create_dir_all(&pack).unwrap();
    std::fs::write(
        base.join("outside.xpol"),
        "pack p\nrule r {\n  require has_service(\"RpcSs\")\n}\n",
    )
    .unwrap();
    std::fs::write(
        pack.join("inside.xpol"),
        "pack p\nrule s {\n  require has_service(\"EventLog\")\n}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(base.join("outside.xpol"), pack.join("linked.xpol")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .args(["--color", "never", "check"])
        .arg(&pack)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("expolicy::io::outside_pack"), "{stderr}");
    // A link that stays inside the pack is fine.
    std::fs::remove_file(pack.join("linked.xpol")).unwrap();
    std::fs::create_dir_all(pack.join("sub")).unwrap();
    std::fs::write(pack.join("sub/real.xpol"), "pack p\n").unwrap();
    std::os::unix::fs::symlink(pack.join("sub/real.xpol"), pack.join("alias.xpol")).unwrap();
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .args(["--color", "never", "check"])
        .arg(&pack)
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    std::fs::remove_dir_all(&base).unwrap();
}
