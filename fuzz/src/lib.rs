//! What every fuzz target runs, in one place, so that `tests/robustness.rs` (through the
//! binary) and the targets exercise the same paths: parse and check a policy, load a snapshot,
//! evaluate a fixed pack, import Windows output. Each function renders every diagnostic it
//! gets, because rendering (spans into text, miette) is where bad offsets would panic.
//!
//! A panic anywhere below is a bug; so is a broken invariant, which these functions assert:
//! - a policy that checks evaluates without panicking, and the formatter's output parses;
//! - the evaluator's shortcuts give every rule the result evaluating it as written gives;
//! - an import that succeeds yields a snapshot that `eval` loads.

use std::path::PathBuf;
use std::sync::OnceLock;

use expolicy::check::ir::Program;
use expolicy::diag::{Diag, RenderOptions, render_all};
use expolicy::eval::{Evaluator, RuleResult, Undecided, UndecidedKind};
use expolicy::report::{self, SnapshotReport};
use expolicy::snapshot::{self, LoadedSnapshot, import};
use expolicy::source::SourceMap;

/// Separates the files of a multi-file pack in a fuzz input.
const FILE_SEPARATOR: &[u8] = b"\n#--- file\n";

fn render(diags: &[Diag], sources: &SourceMap) {
    let text = render_all(diags, sources, RenderOptions::PLAIN);
    std::hint::black_box(text);
}

/// A snapshot for evaluating fuzzed policies against: the demo's.
fn demo_snapshot() -> &'static LoadedSnapshot {
    static SNAPSHOT: OnceLock<LoadedSnapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let path = repo().join("examples/demo/snapshots/bad.json");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        snapshot::load("bad.json", &bytes)
            .unwrap_or_else(|(e, _)| panic!("demo snapshot: {}", e.message))
    })
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether evaluation stopped at a limit (steps or depth): the shortcuts count steps
/// differently from evaluation as written, so either may stop where the other did not.
fn hit_limit(result: &RuleResult) -> bool {
    let limit = |u: &Option<Undecided>| {
        matches!(
            u,
            Some(Undecided {
                kind: UndecidedKind::Limit { .. },
                ..
            })
        )
    };
    limit(&result.undecided) || result.requirements.iter().any(|r| limit(&r.undecided))
}

/// Evaluates every rule of `program` on `loaded`, with the evaluator's shortcuts and as written
/// (explained), asserts that both give the same result, and renders the reports in the human
/// and JSON formats.
fn evaluate_all(program: &Program, loaded: &LoadedSnapshot, sources: &SourceMap) {
    let rules: Vec<u32> = (0..program.rules.len() as u32).collect();
    let results = Evaluator::new(program, loaded).evaluate(&rules);
    for (&r, fast) in rules.iter().zip(&results) {
        let (mut as_written, _) = expolicy::explain::trace(program, loaded, r);
        // Only explaining collects evidence; everything else must be identical.
        as_written.evidence.clear();
        if !hit_limit(fast) && !hit_limit(&as_written) {
            assert_eq!(
                fast,
                &as_written,
                "rule {} evaluates differently with shortcuts",
                program.rules[r as usize].id
            );
        }
    }
    let reports = vec![SnapshotReport::new(
        loaded.source.clone(),
        loaded.snapshot.host.name.clone(),
        results,
    )];
    std::hint::black_box(report::human::render(
        program,
        sources,
        &reports,
        RenderOptions::PLAIN,
    ));
    std::hint::black_box(report::json::render(program, sources, &reports));
}

/// Parses and checks `data` as a pack (files separated by [`FILE_SEPARATOR`]); evaluates it on
/// the demo snapshot when it checks, and formats each file that parses.
pub fn parse_check(data: &[u8]) {
    let files: Vec<(String, &[u8])> = split(data, FILE_SEPARATOR)
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| (format!("fuzz{i}.xpol"), bytes))
        .collect();
    let mut sources = SourceMap::new();
    let loaded = expolicy::policy::load_bytes(&[files.clone()], &mut sources);
    render(&loaded.diags, &sources);
    if let Some(program) = &loaded.program {
        evaluate_all(program, demo_snapshot(), &sources);
    }
    for (name, bytes) in &files {
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        let file = sources.add(name.as_str(), text);
        if let Ok(formatted) = expolicy::syntax::fmt::format_source(text, file) {
            if let Err(diags) = expolicy::syntax::parse_file(&formatted.text, file) {
                panic!(
                    "formatted output does not parse: {}\n{}",
                    formatted.text,
                    render_all(&diags, &sources, RenderOptions::PLAIN)
                );
            }
        }
    }
}

fn split<'d>(data: &'d [u8], separator: &[u8]) -> Vec<&'d [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(separator.len()).position(|w| w == separator) {
        out.push(&rest[..i]);
        rest = &rest[i + separator.len()..];
    }
    out.push(rest);
    out
}

/// Loads `data` as a snapshot; renders the diagnostic, or looks up a few locations.
pub fn snapshot_load(data: &[u8]) -> Option<LoadedSnapshot> {
    match snapshot::load("fuzz.json", data) {
        Ok(loaded) => {
            for pointer in ["/host/name", "/services/0/name", "/facts/exchange/stores/0"] {
                std::hint::black_box(loaded.line_col(pointer));
            }
            Some(loaded)
        }
        Err((error, text)) => {
            let mut sources = SourceMap::new();
            let diag = error.into_diag("fuzz.json", text, &mut sources);
            render(&[diag], &sources);
            None
        }
    }
}

/// The packs `eval_pack` holds fixed: the Exchange 2003 pack and the demo pack, loaded once.
fn fixed_packs() -> &'static (Program, SourceMap) {
    static PACKS: OnceLock<(Program, SourceMap)> = OnceLock::new();
    PACKS.get_or_init(|| {
        let mut sources = SourceMap::new();
        let paths = [
            repo().join("policies/exchange2003"),
            repo().join("examples/demo/policy"),
        ];
        let loaded = expolicy::policy::load(&paths, &mut sources);
        let Some(program) = loaded.program else {
            panic!(
                "the fixed packs do not check:\n{}",
                render_all(&loaded.diags, &sources, RenderOptions::PLAIN)
            );
        };
        (program, sources)
    })
}

/// Loads `data` as a snapshot and evaluates the fixed packs on it.
pub fn eval_pack(data: &[u8]) {
    let (program, sources) = fixed_packs();
    if let Some(loaded) = snapshot_load(data) {
        evaluate_all(program, &loaded, sources);
    }
}

/// Imports `data` as `format` (or recognised, for `None`), merges it alone, renders the
/// diagnostics, and checks that a snapshot it produces loads.
pub fn import(data: &[u8], format: Option<import::Format>) {
    let mut sources = SourceMap::new();
    let extract = import::import_bytes("fuzz-input", data, format, &mut sources);
    let options = import::MergeOptions {
        host: (data.first() == Some(&b'#')).then(|| "FUZZHOST".to_string()),
    };
    let (snapshot, diags) = import::merge(vec![extract], &options);
    render(&diags, &sources);
    let failed = diags.iter().any(Diag::is_error);
    if let Some(snapshot) = snapshot.filter(|_| !failed) {
        let text = match serde_json::to_string_pretty(&snapshot) {
            Ok(t) => t,
            Err(e) => panic!("an imported snapshot does not serialise: {e}"),
        };
        if let Err((error, _)) = snapshot::load("imported.json", text.as_bytes()) {
            panic!(
                "an imported snapshot does not load: {} ({})\n{text}",
                error.message, error.code
            );
        }
    }
}
