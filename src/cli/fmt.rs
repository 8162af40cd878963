//! `expolicy fmt`: rewrite policy files in the canonical style, or (`--check`) list the ones
//! that are not.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use super::{Terminal, exit};
use crate::diag::Diag;
use crate::source::SourceMap;
use crate::syntax::fmt::format_source;

pub mod codes {
    pub const UNWRITABLE: &str = "expolicy::fmt::unwritable";
    pub const KEPT_VERBATIM: &str = "expolicy::fmt::kept_verbatim";
}

#[derive(Debug, Args)]
#[command(after_help = "\
Directories are searched recursively for .xpol files. `-` formats standard input to standard \
output. Files are replaced atomically (a temporary file in the same directory, then a rename), \
and only when their formatting changes. The canonical style is described in docs/language.md.

Exit status: 0 done (or, with --check, everything already formatted); 1 with --check, some file \
would change; 2 a file could not be read, parsed or written.")]
pub struct FmtArgs {
    /// Policy files or directories (searched recursively for .xpol files); `-` for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Change nothing: list the files whose formatting would change and exit 1 if there are any.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: FmtArgs, terminal: &Terminal) -> i32 {
    let mut sources = SourceMap::new();
    let mut diags = Vec::new();
    let mut files = Vec::new();
    for path in &args.paths {
        if path.as_os_str() == "-" {
            files.push(None);
            continue;
        }
        match crate::policy::pack_files(path) {
            Ok(found) => files.extend(found.into_iter().map(Some)),
            Err(d) => diags.push(d),
        }
    }
    files.dedup();
    let mut changed = Vec::new();
    let mut total = 0;
    for file in &files {
        total += 1;
        match format_one(file.as_deref(), args.check, &mut sources) {
            Ok(Outcome::Unchanged) => {}
            Ok(Outcome::Changed(name)) => changed.push(name),
            Err(mut ds) => diags.append(&mut ds),
        }
    }
    terminal.report(&diags, &sources);
    let errors = diags.iter().any(Diag::is_error);
    if args.check {
        let mut out = std::io::stdout().lock();
        for name in &changed {
            let _ = writeln!(out, "{name}");
        }
        let _ = out.flush();
    }
    if errors {
        return exit::BAD_INPUT;
    }
    if args.check {
        if changed.is_empty() {
            eprintln!("{total} file(s) already formatted");
            exit::OK
        } else {
            eprintln!(
                "{} of {total} file(s) would be reformatted; run `expolicy fmt` on them",
                changed.len()
            );
            exit::FINDINGS
        }
    } else {
        if files.iter().any(Option::is_some) {
            eprintln!("{} of {total} file(s) reformatted", changed.len());
        }
        exit::OK
    }
}

enum Outcome {
    Unchanged,
    Changed(String),
}

fn format_one(
    path: Option<&Path>,
    check: bool,
    sources: &mut SourceMap,
) -> Result<Outcome, Vec<Diag>> {
    let (name, bytes) = match path {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| {
                vec![
                    Diag::error(
                        crate::policy::codes::UNREADABLE,
                        format!("cannot read {}: {e}", p.display()),
                    )
                    .help("check the path and its permissions"),
                ]
            })?;
            (p.to_string_lossy().replace('\\', "/"), bytes)
        }
        None => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).map_err(|e| {
                vec![Diag::error(
                    crate::policy::codes::UNREADABLE,
                    format!("cannot read standard input: {e}"),
                )]
            })?;
            ("<stdin>".to_string(), bytes)
        }
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let file = sources.add(name.clone(), text.as_str());
    let text = crate::syntax::decode_policy(&bytes, file).map_err(|d| vec![d])?;
    let formatted = format_source(text, file)?;
    let mut diags = Vec::new();
    if formatted.verbatim {
        diags.push(
            Diag::warning(
                codes::KEPT_VERBATIM,
                format!("{name}: the canonical layout could not keep every comment in place; the file is left as it is"),
            )
            .help("move comments out of the middle of expressions, or report the file as a formatter bug"),
        );
    }
    let changed = formatted.text != text;
    if path.is_none() && !check {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(formatted.text.as_bytes());
        let _ = out.flush();
    } else if let (Some(p), true, false) = (path, changed, check) {
        write_atomically(p, &formatted.text).map_err(|d| vec![d])?;
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(if changed {
        Outcome::Changed(name)
    } else {
        Outcome::Unchanged
    })
}

/// Writes `text` to a temporary file beside `path` and renames it over `path`, keeping the
/// original file's permissions, so that a crash never leaves a half-written policy.
fn write_atomically(path: &Path, text: &str) -> Result<(), Diag> {
    let unwritable = |e: &dyn std::fmt::Display| {
        Diag::error(
            codes::UNWRITABLE,
            format!("cannot write {}: {e}", path.display()),
        )
        .help("check that the file and its directory are writable")
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".expolicy-fmt")
        .tempfile_in(&dir)
        .map_err(|e| unwritable(&e))?;
    tmp.write_all(text.as_bytes()).map_err(|e| unwritable(&e))?;
    tmp.as_file().sync_all().map_err(|e| unwritable(&e))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = tmp.as_file().set_permissions(meta.permissions());
    }
    tmp.persist(path).map_err(|e| unwritable(&e.error))?;
    Ok(())
}
