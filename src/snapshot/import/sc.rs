//! `sc query` / `sc queryex` / `sc qc` transcripts, as the Windows XP/2003 and Windows 10
//! versions of `sc.exe` print them:
//!
//! ```text
//! SERVICE_NAME: MSExchangeSA
//! DISPLAY_NAME: Microsoft Exchange System Attendant
//!         TYPE               : 10  WIN32_OWN_PROCESS
//!         STATE              : 4  RUNNING
//!                                 (STOPPABLE,PAUSABLE,ACCEPTS_SHUTDOWN)
//! ...
//! [SC] GetServiceConfig SUCCESS
//!
//! SERVICE_NAME: MSExchangeSA
//!         START_TYPE         : 2   AUTO_START
//!         DEPENDENCIES       : EventLog
//!                            : RPCSS
//!         SERVICE_START_NAME : LocalSystem
//! ```
//!
//! A file may hold query and qc blocks in any mix; each block becomes one record and the merge
//! puts them together.

use super::{Extract, Input, Located, ServiceRecord, codes};
use crate::diag::Diag;
use crate::snapshot::{ServiceState, StartType};

/// Fields `sc` prints that the snapshot has no place for.
const IGNORED: [&str; 11] = [
    "TYPE",
    "WIN32_EXIT_CODE",
    "SERVICE_EXIT_CODE",
    "CHECKPOINT",
    "WAIT_HINT",
    "PID",
    "FLAGS",
    "ERROR_CONTROL",
    "BINARY_PATH_NAME",
    "LOAD_ORDER_GROUP",
    "TAG",
];

const STATES: [(&str, u8, ServiceState); 7] = [
    ("STOPPED", 1, ServiceState::Stopped),
    ("START_PENDING", 2, ServiceState::StartPending),
    ("STOP_PENDING", 3, ServiceState::StopPending),
    ("RUNNING", 4, ServiceState::Running),
    ("CONTINUE_PENDING", 5, ServiceState::ContinuePending),
    ("PAUSE_PENDING", 6, ServiceState::PausePending),
    ("PAUSED", 7, ServiceState::Paused),
];

const START_TYPES: [(&str, u8, StartType); 5] = [
    ("BOOT_START", 0, StartType::Boot),
    ("SYSTEM_START", 1, StartType::System),
    ("AUTO_START", 2, StartType::Automatic),
    ("DEMAND_START", 3, StartType::Manual),
    ("DISABLED", 4, StartType::Disabled),
];

#[derive(PartialEq)]
enum Last {
    None,
    State,
    Dependencies,
}

struct Parser<'i> {
    input: &'i Input,
    extract: Extract,
    current: Option<ServiceRecord>,
    last: Last,
    /// After `[SC] … FAILED n:`, the explanation line that follows.
    failure_pending: bool,
}

pub fn parse(input: &Input) -> Extract {
    let mut parser = Parser {
        input,
        extract: Extract::default(),
        current: None,
        last: Last::None,
        failure_pending: false,
    };
    for (offset, line) in input.lines() {
        parser.line(offset, line);
    }
    parser.finish();
    parser.extract
}

impl Parser<'_> {
    fn finish(&mut self) {
        if let Some(record) = self.current.take() {
            self.extract.services.push(record);
        }
        self.last = Last::None;
    }

    fn error(&mut self, start: usize, end: usize, message: String, label: &str, help: &str) {
        let diag = Diag::error(
            codes::UNPARSEABLE,
            format!("{}: {message}", self.input.name),
        )
        .label(self.input.span(start, end), label)
        .help(help);
        self.extract.diags.push(diag);
    }

    fn line(&mut self, offset: usize, line: &str) {
        let end = offset + line.len();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            if self.last == Last::Dependencies {
                self.last = Last::None;
            }
            return;
        }
        let indent = line.len() - line.trim_start().len();
        let start = offset + indent;
        if trimmed.starts_with("[SC]") {
            self.finish();
            self.sc_line(start, end, trimmed);
            return;
        }
        if indent == 0 {
            if let Some(name) = trimmed.strip_prefix("SERVICE_NAME:") {
                self.finish();
                self.failure_pending = false;
                let value = name.trim();
                if value.is_empty() {
                    self.error(
                        start,
                        end,
                        "SERVICE_NAME without a name".into(),
                        "no name here",
                        "collect the transcript again",
                    );
                    return;
                }
                let at = offset + line.find(value).unwrap_or(0);
                self.current = Some(ServiceRecord::new(
                    value.to_string(),
                    self.input.span(at, at + value.len()),
                ));
                return;
            }
            if trimmed.starts_with("DISPLAY_NAME:") {
                self.field(offset, line);
                return;
            }
            if self.failure_pending {
                // The sentence explaining a failure, already reported with the failure.
                self.failure_pending = false;
                return;
            }
            self.error(
                start,
                end,
                format!("cannot read line {}", crate::source::line_col(&self.input.text, offset).0),
                "not part of an sc transcript",
                "an sc transcript holds SERVICE_NAME blocks and [SC] status lines only; remove other text (was `@echo off` missing from the batch file?)",
            );
            return;
        }
        if trimmed.starts_with('(') && self.last == Last::State {
            // The accepted-controls flags under STATE.
            return;
        }
        if trimmed.starts_with(':') && self.last == Last::Dependencies {
            let colon = line.find(':').unwrap_or(0);
            let rest = &line[colon + 1..];
            let at = offset + colon + 1 + (rest.len() - rest.trim_start().len());
            self.dependency(rest.trim(), at);
            return;
        }
        self.field(offset, line);
    }

    fn sc_line(&mut self, start: usize, end: usize, trimmed: &str) {
        if trimmed.contains("more data") {
            self.extract.diags.push(
                Diag::error(
                    codes::INCOMPLETE,
                    format!("{}: sc listed only part of the services", self.input.name),
                )
                .label(self.input.span(start, end), "sc ran out of buffer here")
                .help(
                    "run `sc query state= all bufsize= 65536` so that one call lists every service",
                ),
            );
        } else if trimmed.contains("FAILED") {
            self.failure_pending = true;
            self.extract.diags.push(
                Diag::warning(
                    codes::NOT_COLLECTED,
                    format!("{}: an sc command failed; what it would have said is missing", self.input.name),
                )
                .label(self.input.span(start, end), "this call failed")
                .help("1060 means the service does not exist (it was removed while collecting); 5 means access was denied (run the collection as an administrator); 122 needs a larger bufsize="),
            );
        } else if !trimmed.contains("SUCCESS") {
            self.error(
                start,
                end,
                "unrecognised [SC] line".into(),
                "neither SUCCESS nor FAILED",
                "collect the transcript again",
            );
        }
    }

    fn field(&mut self, offset: usize, line: &str) {
        let end = offset + line.len();
        let indent = line.len() - line.trim_start().len();
        let start = offset + indent;
        let Some(colon) = line.find(':') else {
            self.error(
                start,
                end,
                "a line without `KEY : value`".into(),
                "cannot read this line",
                "collect the transcript again",
            );
            return;
        };
        let key = line[..colon].trim();
        let raw_value = &line[colon + 1..];
        let value = raw_value.trim();
        let value_start = offset + colon + 1 + (raw_value.len() - raw_value.trim_start().len());
        let value_span = self.input.span(value_start, value_start + value.len());
        let key_span = self.input.span(start, offset + colon);
        if !key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            || key.is_empty()
        {
            self.error(
                start,
                end,
                format!(
                    "cannot read line {}",
                    crate::source::line_col(&self.input.text, offset).0
                ),
                "not a `KEY : value` line of sc",
                "an sc transcript holds SERVICE_NAME blocks and [SC] status lines only",
            );
            return;
        }
        let Some(record) = self.current.as_mut() else {
            self.error(
                start,
                end,
                format!("`{key}` outside a SERVICE_NAME block"),
                "no SERVICE_NAME before this",
                "the transcript was cut at the top; collect it again",
            );
            return;
        };
        self.last = Last::None;
        match key {
            "DISPLAY_NAME" => {
                record.display_name = Some(Located::new(value.to_string(), value_span));
            }
            "STATE" => {
                self.last = Last::State;
                match code_and_word(value, &STATES) {
                    Ok(state) => record.state = Some(Located::new(state, value_span)),
                    Err(()) => self.unknown(value_span, "state", value, &STATES.map(|s| s.0)),
                }
            }
            "START_TYPE" => {
                let (main, delayed) = match value.strip_suffix("(DELAYED)") {
                    Some(rest) => (rest.trim(), true),
                    None => (value, false),
                };
                match code_and_word(main, &START_TYPES) {
                    Ok(StartType::Automatic) if delayed => {
                        record.start_type =
                            Some(Located::new(StartType::AutomaticDelayed, value_span));
                    }
                    Ok(start_type) => {
                        record.start_type = Some(Located::new(start_type, value_span))
                    }
                    Err(()) => {
                        self.unknown(value_span, "start type", value, &START_TYPES.map(|s| s.0))
                    }
                }
            }
            "SERVICE_START_NAME" => {
                if !value.is_empty() {
                    record.account = Some(Located::new(value.to_string(), value_span));
                }
            }
            "DEPENDENCIES" => {
                record.depends_on = Some(Located::new(Vec::new(), value_span));
                self.last = Last::Dependencies;
                if !value.is_empty() {
                    self.dependency(value, value_start);
                }
            }
            k if IGNORED.contains(&k) => {}
            _ => {
                self.extract.diags.push(
                    Diag::error(codes::UNKNOWN_VALUE, format!("{}: unknown sc field `{key}`", self.input.name))
                        .label(key_span, "not a field sc query or sc qc prints")
                        .help(format!("known fields: DISPLAY_NAME, STATE, START_TYPE, SERVICE_START_NAME, DEPENDENCIES, {}", IGNORED.join(", "))),
                );
            }
        }
    }

    fn dependency(&mut self, name: &str, at: usize) {
        let span = self.input.span(at, at + name.len());
        if name.is_empty() {
            return;
        }
        let Some(record) = self.current.as_mut() else {
            return;
        };
        if let Some(group) = name.strip_prefix('+') {
            let service = record.name.value.clone();
            self.extract.diags.push(
                Diag::warning(
                    codes::NOT_COLLECTED,
                    format!("{}: service `{service}` depends on the load-order group `{}`, which is not a service; left out of its dependencies", self.input.name, group),
                )
                .label(span, "a group dependency")
                .help("snapshot v1 records dependencies on services only"),
            );
            return;
        }
        if let Some(deps) = record.depends_on.as_mut() {
            deps.value.push(name.to_string());
            deps.span = deps.span.to(span);
        }
    }

    fn unknown(&mut self, span: crate::source::Span, what: &str, value: &str, known: &[&str]) {
        self.extract.diags.push(
            Diag::error(
                codes::UNKNOWN_VALUE,
                format!("{}: unknown service {what} `{value}`", self.input.name),
            )
            .label(span, format!("not a {what} sc prints"))
            .help(format!("sc prints one of: {}", known.join(", "))),
        );
    }
}

/// `4  RUNNING` → the value whose word (and, if both are there, code) matches.
fn code_and_word<T: Copy>(value: &str, table: &[(&str, u8, T)]) -> Result<T, ()> {
    let mut parts = value.split_whitespace();
    let first = parts.next().ok_or(())?;
    let (code, word) = match first.parse::<u8>() {
        Ok(code) => (Some(code), parts.next().ok_or(())?),
        Err(_) => (None, first),
    };
    if parts.next().is_some() {
        return Err(());
    }
    table
        .iter()
        .find(|(w, c, _)| *w == word && code.is_none_or(|code| code == *c))
        .map(|(_, _, v)| *v)
        .ok_or(())
}
