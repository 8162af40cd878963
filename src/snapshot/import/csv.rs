//! `Export-Csv` output of service objects (`Get-Service`, `Get-CimInstance Win32_Service`),
//! with or without the `#TYPE` line Windows PowerShell 5.1 writes first; quoted fields, `""`
//! escapes and line breaks inside quotes.

use serde_json::Value;

use super::records::{self, Dialect, Notes, Properties};
use super::{Extract, Input, codes};
use crate::diag::Diag;

/// One field of a CSV record and where its text is.
#[derive(Debug, Clone)]
pub struct Cell {
    pub value: String,
    pub start: usize,
    pub end: usize,
}

/// One record and the byte range it covers.
#[derive(Debug, Clone)]
pub struct Row {
    pub cells: Vec<Cell>,
    pub start: usize,
    pub end: usize,
}

/// Splits `text[from..]` into quoted-CSV records; an unterminated quote is `Err(offset)`.
pub fn rows(text: &str, from: usize) -> Result<Vec<Row>, usize> {
    let bytes = text.as_bytes();
    let mut rows = Vec::new();
    let mut pos = from;
    while pos < bytes.len() {
        let row_start = pos;
        let mut cells = Vec::new();
        loop {
            // One field.
            if bytes.get(pos) == Some(&b'"') {
                let quote = pos;
                pos += 1;
                let content_start = pos;
                let mut value = String::new();
                let mut seg = pos;
                loop {
                    match bytes.get(pos) {
                        None => return Err(quote),
                        Some(b'"') if bytes.get(pos + 1) == Some(&b'"') => {
                            value.push_str(&text[seg..=pos]);
                            pos += 2;
                            seg = pos;
                        }
                        Some(b'"') => {
                            value.push_str(&text[seg..pos]);
                            pos += 1;
                            break;
                        }
                        Some(_) => pos += 1,
                    }
                }
                let content_end = pos - 1;
                // Text between the closing quote and the separator is kept, as Excel does.
                let tail_start = pos;
                while !matches!(bytes.get(pos), None | Some(b',' | b'\n' | b'\r')) {
                    pos += 1;
                }
                value.push_str(&text[tail_start..pos]);
                cells.push(Cell {
                    value: value.replace("\r\n", "\n"),
                    start: content_start,
                    end: content_end.max(content_start),
                });
            } else {
                let start = pos;
                while !matches!(bytes.get(pos), None | Some(b',' | b'\n' | b'\r')) {
                    pos += 1;
                }
                cells.push(Cell {
                    value: text[start..pos].to_string(),
                    start,
                    end: pos,
                });
            }
            match bytes.get(pos) {
                Some(b',') => pos += 1,
                _ => break,
            }
        }
        let row_end = pos;
        while matches!(bytes.get(pos), Some(b'\r')) {
            pos += 1;
        }
        if bytes.get(pos) == Some(&b'\n') {
            pos += 1;
        }
        let blank =
            cells.len() == 1 && cells[0].value.trim().is_empty() && cells[0].end == cells[0].start;
        if !blank {
            rows.push(Row {
                cells,
                start: row_start,
                end: row_end,
            });
        }
    }
    Ok(rows)
}

/// Columns by which the two kinds of object are told apart.
pub fn dialect_of(headers: &[String]) -> Option<Dialect> {
    let has = |name: &str| headers.iter().any(|h| h.eq_ignore_ascii_case(name));
    if has("StartMode") || has("State") || has("StartName") {
        Some(Dialect::Win32Service)
    } else if has("Status") || has("StartType") || has("ServiceName") || has("ServicesDependedOn") {
        Some(Dialect::GetService)
    } else {
        None
    }
}

pub fn parse(input: &Input) -> Extract {
    let mut extract = Extract::default();
    let text = &*input.text;
    let mut from = text.len() - text.trim_start_matches('\u{feff}').len();
    let mut type_line = None;
    if text[from..].starts_with("#TYPE") {
        let end = text[from..].find('\n').map_or(text.len(), |i| from + i);
        type_line = Some(text[from..end].trim_end_matches('\r').to_string());
        from = (end + 1).min(text.len());
    }
    let rows = match rows(text, from) {
        Ok(r) => r,
        Err(at) => {
            extract.diags.push(
                Diag::error(
                    codes::UNPARSEABLE,
                    format!("{}: a quoted field is never closed", input.name),
                )
                .label(input.span(at, at + 1), "this quote has no closing quote")
                .help("the file looks cut short; export it again"),
            );
            return extract;
        }
    };
    let Some((header, body)) = rows.split_first() else {
        extract.diags.push(
            Diag::error(
                codes::UNPARSEABLE,
                format!("{}: the CSV has no header row", input.name),
            )
            .help("export with Export-Csv -NoTypeInformation, which writes the column names first"),
        );
        return extract;
    };
    let headers: Vec<String> = header.cells.iter().map(|c| c.value.clone()).collect();
    let Some(dialect) = dialect_of(&headers) else {
        extract.diags.push(
            Diag::error(codes::UNKNOWN_FORMAT, format!("{}: these columns are not those of services", input.name))
                .label(input.span(header.start, header.end), "no Status/StartType or State/StartMode column")
                .help(match type_line {
                    Some(t) => format!("the file says it holds `{}`; export Get-Service or Win32_Service objects", t.trim_start_matches("#TYPE").trim()),
                    None => "export Get-Service or Win32_Service objects, with their Name and Status/StartType or State/StartMode".to_string(),
                }),
        );
        return extract;
    };
    let mut notes = Notes::default();
    for row in body {
        if row.cells.len() != headers.len() {
            extract.diags.push(
                Diag::error(
                    codes::UNPARSEABLE,
                    format!(
                        "{}: a row has {} fields, the header {}",
                        input.name,
                        row.cells.len(),
                        headers.len()
                    ),
                )
                .label(input.span(row.start, row.end), "this row")
                .help("the file was edited or cut short; export it again"),
            );
            continue;
        }
        let mut props = Properties::new();
        for (h, cell) in headers.iter().zip(&row.cells) {
            let value = if cell.value.is_empty() {
                Value::Null
            } else {
                Value::String(cell.value.clone())
            };
            props.insert(
                h.to_ascii_lowercase(),
                (value, input.span(cell.start, cell.end)),
            );
        }
        if let Some(record) = records::service(
            input,
            dialect,
            &props,
            input.span(row.start, row.end),
            &mut notes,
            &mut extract,
        ) {
            extract.services.push(record);
        }
    }
    records::lost_dependencies(input, &notes, &mut extract);
    extract
}
