//! Reading policies from disk: a file is a pack of one file; a directory is a pack of every
//! `.xpol` file beneath it, in path order.

use std::path::{Path, PathBuf};

use crate::check::{self, ParsedPack, ir::Program};
use crate::diag::Diag;
use crate::source::SourceMap;
use crate::syntax;

pub const EXTENSION: &str = "xpol";

pub mod codes {
    pub const UNREADABLE: &str = "expolicy::io::unreadable";
    pub const EMPTY_PACK: &str = "expolicy::io::empty_pack";
    pub const OUTSIDE_PACK: &str = "expolicy::io::outside_pack";
}

/// The result of loading and checking policies: the program if there were no errors, and
/// every diagnostic, warnings included.
pub struct Loaded {
    pub program: Option<Program>,
    pub diags: Vec<Diag>,
}

/// The policy files of one pack path, sorted, or a diagnostic.
pub fn pack_files(path: &Path) -> Result<Vec<PathBuf>, Diag> {
    let meta = std::fs::metadata(path).map_err(|e| unreadable(path, &e))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let root = std::fs::canonicalize(path).map_err(|e| unreadable(path, &e))?;
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| unreadable(&dir, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| unreadable(&dir, &e))?;
            let p = entry.path();
            let file_type = entry.file_type().map_err(|e| unreadable(&p, &e))?;
            let is_policy = p.extension().is_some_and(|e| e == EXTENSION);
            if file_type.is_dir() {
                pending.push(p);
            } else if file_type.is_symlink() && is_policy {
                // A pack reads only its own files: a link may point within the pack, never out
                // of it. Linked directories are not followed (they could loop).
                let target = std::fs::canonicalize(&p).map_err(|e| unreadable(&p, &e))?;
                if !target.starts_with(&root) {
                    return Err(Diag::error(
                        codes::OUTSIDE_PACK,
                        format!("{} links to {}, outside the pack directory", p.display(), target.display()),
                    )
                    .help("a pack reads only the files inside its directory; copy the file into the pack instead of linking it"));
                }
                files.push(p);
            } else if is_policy {
                files.push(p);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Diag::error(
            codes::EMPTY_PACK,
            format!("{} holds no .{EXTENSION} policy files", path.display()),
        )
        .help("a pack is a directory of `.xpol` files; pass a file or a pack directory"));
    }
    Ok(files)
}

fn unreadable(path: &Path, e: &std::io::Error) -> Diag {
    Diag::error(
        codes::UNREADABLE,
        format!("cannot read {}: {e}", path.display()),
    )
    .help("check the path and its permissions")
}

/// Parses one file's bytes, registering it in `sources`.
pub fn parse_source(
    name: &str,
    bytes: &[u8],
    sources: &mut SourceMap,
) -> Result<syntax::ast::File, Vec<Diag>> {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let file = sources.add(name, text);
    let text = sources.get(file).text.clone();
    if bytes.len() > syntax::MAX_POLICY_BYTES || std::str::from_utf8(bytes).is_err() {
        return Err(vec![
            syntax::decode_policy(bytes, file).err().unwrap_or_else(|| {
                Diag::error(syntax::codes::INVALID_UTF8, "policy file cannot be read")
            }),
        ]);
    }
    syntax::parse_file(&text, file)
}

/// Loads and checks policy paths (files or pack directories).
pub fn load(paths: &[PathBuf], sources: &mut SourceMap) -> Loaded {
    let mut diags = Vec::new();
    let mut packs = Vec::new();
    for path in paths {
        let files = match pack_files(path) {
            Ok(f) => f,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let mut pack = Vec::new();
        for file in files {
            match std::fs::read(&file) {
                Ok(bytes) => pack.push((file.to_string_lossy().replace('\\', "/"), bytes)),
                Err(e) => diags.push(unreadable(&file, &e)),
            }
        }
        packs.push(pack);
    }
    let mut loaded = load_bytes(&packs, sources);
    diags.append(&mut loaded.diags);
    if diags.iter().any(Diag::is_error) {
        loaded.program = None;
    }
    loaded.diags = diags;
    loaded
}

/// Parses and checks packs given as `(file name, contents)`, one group per pack.
pub fn load_bytes<N: AsRef<str>, B: AsRef<[u8]>>(
    packs: &[Vec<(N, B)>],
    sources: &mut SourceMap,
) -> Loaded {
    let mut diags = Vec::new();
    let mut parsed_packs = Vec::new();
    for pack in packs {
        let mut parsed = Vec::new();
        let mut syntax_errors = false;
        for (name, bytes) in pack {
            match parse_source(name.as_ref(), bytes.as_ref(), sources) {
                Ok(f) => parsed.push(f),
                Err(mut es) => {
                    syntax_errors = true;
                    diags.append(&mut es);
                }
            }
        }
        // A pack with a file that did not parse cannot be checked as a whole (its names may
        // live in that file); the other packs are still checked, so every problem shows.
        if !syntax_errors {
            parsed_packs.push(ParsedPack { files: parsed });
        }
    }
    let parse_failed = diags.iter().any(Diag::is_error);
    let (program, mut check_diags) = check::check(&parsed_packs, sources);
    diags.append(&mut check_diags);
    Loaded {
        program: if parse_failed { None } else { program },
        diags,
    }
}
