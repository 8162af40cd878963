//! `wmic service get DisplayName,Name,StartMode,StartName,State /format:csv`: a blank first
//! line, `\r\r\n` line ends, the `Node` column first (the host), columns in alphabetical order,
//! and values never quoted, so that a comma inside a display name splits it.

use serde_json::Value;

use super::records::{self, Dialect, Notes, Properties};
use super::{Extract, Input, codes};
use crate::diag::Diag;

/// Columns whose text may hold commas; when a row has too many fields, the extra ones belong to
/// the one such column the header has.
const FREE_TEXT: [&str; 4] = ["DisplayName", "Description", "PathName", "Caption"];

pub fn parse(input: &Input) -> Extract {
    let mut extract = Extract::default();
    let mut headers: Option<Vec<String>> = None;
    let mut notes = Notes::default();
    for (offset, line) in input.lines() {
        let line_text = line.trim_start_matches('\u{feff}');
        let offset = offset + (line.len() - line_text.len());
        if line_text.trim().is_empty() {
            continue;
        }
        let mut cells = Vec::new();
        let mut start = 0;
        for piece in line_text.split(',') {
            cells.push((
                piece.to_string(),
                offset + start,
                offset + start + piece.len(),
            ));
            start += piece.len() + 1;
        }
        if cells.first().is_some_and(|c| c.0 == "Node") {
            let names: Vec<String> = cells.iter().map(|c| c.0.trim().to_string()).collect();
            if !names.iter().any(|n| n.eq_ignore_ascii_case("Name")) {
                extract.diags.push(
                    Diag::error(codes::UNKNOWN_FORMAT, format!("{}: the wmic output has no Name column", input.name))
                        .label(input.span(offset, offset + line_text.len()), "these columns")
                        .help("run `wmic service get DisplayName,Name,StartMode,StartName,State /format:csv`"),
                );
                return extract;
            }
            headers = Some(names);
            continue;
        }
        let Some(header) = &headers else {
            extract.diags.push(
                Diag::error(codes::UNPARSEABLE, format!("{}: cannot read this line of wmic output", input.name))
                    .label(input.span(offset, offset + line_text.len()), "not a row of wmic CSV")
                    .help("wmic prints `No Instance(s) Available.` or an ERROR block when the query failed; run it again as an administrator with /format:csv"),
            );
            continue;
        };
        let header = header.clone();
        if cells.len() > header.len() {
            let free: Vec<usize> = header
                .iter()
                .enumerate()
                .filter(|(_, h)| FREE_TEXT.iter().any(|f| f.eq_ignore_ascii_case(h)))
                .map(|(i, _)| i)
                .collect();
            let [column] = free[..] else {
                extract.diags.push(
                    Diag::error(codes::UNPARSEABLE, format!("{}: a row has {} fields, the header {}, and it cannot be told which value holds the commas", input.name, cells.len(), header.len()))
                        .label(input.span(offset, offset + line_text.len()), "this row")
                        .help("select at most one free-text column (DisplayName) in the wmic command"),
                );
                continue;
            };
            let extra = cells.len() - header.len();
            let joined: Vec<(String, usize, usize)> =
                cells.drain(column..=column + extra).collect();
            let value = joined
                .iter()
                .map(|c| c.0.as_str())
                .collect::<Vec<_>>()
                .join(",");
            let (s, e) = (
                joined.first().map_or(offset, |c| c.1),
                joined.last().map_or(offset, |c| c.2),
            );
            cells.insert(column, (value, s, e));
        }
        if cells.len() == 1 {
            extract.diags.push(
                Diag::error(codes::UNPARSEABLE, format!("{}: wmic printed a message instead of a row", input.name))
                    .label(input.span(offset, offset + line_text.len()), "not a row")
                    .help("`No Instance(s) Available.` or an ERROR block means the query failed; run it again as an administrator"),
            );
            continue;
        }
        if cells.len() < header.len() {
            extract.diags.push(
                Diag::error(
                    codes::UNPARSEABLE,
                    format!(
                        "{}: a row has {} fields, the header {}",
                        input.name,
                        cells.len(),
                        header.len()
                    ),
                )
                .label(input.span(offset, offset + line_text.len()), "this row")
                .help("the file looks cut short; collect it again"),
            );
            continue;
        }
        let mut props = Properties::new();
        for (h, (value, s, e)) in header.iter().zip(cells) {
            let key = if h == "Node" {
                "systemname".to_string()
            } else {
                h.to_ascii_lowercase()
            };
            let value = if value.is_empty() {
                Value::Null
            } else {
                Value::String(value)
            };
            props.insert(key, (value, input.span(s, e)));
        }
        if let Some(record) = records::service(
            input,
            Dialect::Win32Service,
            &props,
            input.span(offset, offset + line_text.len()),
            &mut notes,
            &mut extract,
        ) {
            extract.services.push(record);
        }
    }
    if headers.is_none() && extract.diags.is_empty() {
        extract.diags.push(
            Diag::error(
                codes::UNPARSEABLE,
                format!("{}: no `Node,…` header line", input.name),
            )
            .help("run wmic with /format:csv"),
        );
    }
    extract
}
