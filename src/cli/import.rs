//! `expolicy import`: real Windows output in, one snapshot v1 out.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{Terminal, exit};
use crate::diag::Diag;
use crate::snapshot::import::{self, Extract, Format, MergeOptions, codes};
use crate::source::SourceMap;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files to import, or folders (every file in a folder, by name; `facts.json`, `facts.yaml`
    /// or `facts.yml` in a folder is its facts file). Each file's format is recognised from its
    /// content.
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// A facts file (JSON or YAML) deep-merged into `facts`, after the other inputs.
    #[arg(long = "facts", value_name = "FILE")]
    pub facts: Vec<PathBuf>,
    /// The host's name; overrides what the inputs say.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Read every FILE as this format instead of recognising it.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub from: Option<Format>,
    /// Write the snapshot to this file (atomically) instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

const FACTS_NAMES: [&str; 3] = ["facts.json", "facts.yaml", "facts.yml"];

pub fn run(args: ImportArgs, terminal: &Terminal) -> i32 {
    let mut sources = SourceMap::new();
    let mut diags: Vec<Diag> = Vec::new();
    let mut files: Vec<(PathBuf, Option<Format>)> = Vec::new();
    let mut facts_files: Vec<PathBuf> = Vec::new();
    for path in &args.inputs {
        match list(path) {
            Ok((mut found, mut facts)) => {
                files.extend(found.drain(..).map(|f| (f, args.from)));
                facts_files.append(&mut facts);
            }
            Err(d) => diags.push(d),
        }
    }
    facts_files.extend(args.facts.iter().cloned());
    files.extend(facts_files.into_iter().map(|f| (f, Some(Format::Facts))));

    let mut extracts: Vec<Extract> = Vec::new();
    for (path, format) in &files {
        let name = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => extracts.push(import::import_bytes(&name, &bytes, *format, &mut sources)),
            Err(e) => diags.push(unreadable(path, &e)),
        }
    }
    let counts = (
        files.len(),
        extracts.iter().map(|e| e.services.len()).sum::<usize>(),
    );
    let options = MergeOptions {
        host: args.host.clone(),
    };
    let (snapshot, mut merge_diags) = import::merge(extracts, &options);
    diags.append(&mut merge_diags);
    let failed = diags.iter().any(Diag::is_error);
    terminal.report(&diags, &sources);
    let Some(snapshot) = snapshot.filter(|_| !failed) else {
        let errors = diags.iter().filter(|d| d.is_error()).count();
        eprintln!("import failed: {errors} error(s); no snapshot written");
        return exit::BAD_INPUT;
    };
    let mut text = match serde_json::to_string_pretty(&snapshot) {
        Ok(t) => t,
        Err(e) => {
            terminal.report(
                &[Diag::error(
                    codes::UNREADABLE,
                    format!("cannot serialise the snapshot: {e}"),
                )],
                &sources,
            );
            return exit::BAD_INPUT;
        }
    };
    text.push('\n');
    if let Err(d) = write_atomically(args.output.as_deref(), &text) {
        terminal.report(&[d], &sources);
        return exit::BAD_INPUT;
    }
    eprintln!(
        "imported {} service(s) from {} file(s) for host {}",
        snapshot.services.len(),
        counts.0,
        snapshot.host.name
    );
    exit::OK
}

/// The files a path stands for: itself, or a folder's files sorted by name (hidden files and
/// subfolders left out), with the folder's facts file apart.
fn list(path: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), Diag> {
    let meta = std::fs::metadata(path).map_err(|e| unreadable(path, &e))?;
    if !meta.is_dir() {
        return Ok((vec![path.to_path_buf()], Vec::new()));
    }
    let mut files = Vec::new();
    let mut facts = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| unreadable(path, &e))? {
        let entry = entry.map_err(|e| unreadable(path, &e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        if FACTS_NAMES.contains(&name.to_ascii_lowercase().as_str()) {
            facts.push(entry.path());
        } else {
            files.push(entry.path());
        }
    }
    files.sort();
    facts.sort();
    if files.is_empty() && facts.is_empty() {
        return Err(Diag::error(
            codes::UNREADABLE,
            format!("{} holds no files to import", path.display()),
        )
        .help("point import at the folder the collection script wrote (see docs/collect.md)"));
    }
    Ok((files, facts))
}

fn unreadable(path: &Path, e: &std::io::Error) -> Diag {
    Diag::error(
        codes::UNREADABLE,
        format!("cannot read {}: {e}", path.display()),
    )
    .help("check the path and its permissions")
}

/// Writes to a temporary file beside the target and renames it into place, so that a reader
/// never sees half a snapshot; without a target, writes to standard output.
fn write_atomically(output: Option<&Path>, text: &str) -> Result<(), Diag> {
    let Some(path) = output else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        return Ok(());
    };
    let unwritable = |e: &dyn std::fmt::Display| {
        Diag::error(
            "expolicy::io::unwritable",
            format!("cannot write {}: {e}", path.display()),
        )
        .help("check that the directory exists and is writable")
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| unwritable(&e))?;
    temp.write_all(text.as_bytes())
        .map_err(|e| unwritable(&e))?;
    temp.as_file().sync_all().map_err(|e| unwritable(&e))?;
    temp.persist(path).map_err(|e| unwritable(&e.error))?;
    Ok(())
}
