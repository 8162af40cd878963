//! `expolicy schema`: the JSON Schema of snapshot v1, generated from the Rust types.

use std::path::PathBuf;

use clap::Args;

use super::{Terminal, exit, write_output};
use crate::snapshot::Snapshot;
use crate::source::SourceMap;

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Write the schema to this file instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The schema as pretty JSON with a final newline (what `docs/snapshot-v1.schema.json` holds).
pub fn schema_text() -> String {
    let schema = schemars::schema_for!(Snapshot);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

pub fn run(args: SchemaArgs, terminal: &Terminal) -> i32 {
    match write_output(args.output.as_ref(), &schema_text()) {
        Ok(()) => exit::OK,
        Err(d) => {
            terminal.report(&[d], &SourceMap::new());
            exit::BAD_INPUT
        }
    }
}
