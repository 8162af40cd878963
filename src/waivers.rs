//! Waivers: accepted exceptions, read from a YAML or TOML file.
//!
//! ```yaml
//! waivers:
//!   - rule: exchange2003.msearch-*      # glob over qualified rule ids
//!     host: EXCH0*                       # optional glob over host names (case-insensitive)
//!     reason: Full-text indexing is being retired
//!     expires: 2027-01-31                # last day on which the waiver applies
//!     ticket: CHG-1234                   # optional
//!     approver: j.doe                    # optional
//! ```
//!
//! A waived result keeps its outcome and is reported as waived in every format; it does not
//! count toward the exit status. Expired waivers stop applying and are reported, as are waivers
//! that matched nothing. Expiry is judged against an explicit, reported "now".

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use globset::{GlobBuilder, GlobMatcher};
use serde::Serialize;

use crate::check::ir::Program;
use crate::diag::{Diag, did_you_mean};
use crate::eval::{Outcome, RuleResult};
use crate::inputs::{Document, DocumentKind, load_document};
use crate::source::{SourceMap, Span};

pub mod codes {
    pub const MALFORMED: &str = "expolicy::waivers::malformed";
    pub const EXPIRED: &str = "expolicy::waivers::expired";
    pub const UNUSED: &str = "expolicy::waivers::unused";
    pub const BAD_DATE: &str = "expolicy::waivers::bad_date";
    pub const UNREADABLE: &str = "expolicy::waivers::unreadable";
}

/// A calendar date (proleptic Gregorian), as waivers and `--now` write it: `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Parses `YYYY-MM-DD`, refusing dates that do not exist.
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            let s = text.get(r)?;
            if s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        };
        let year = i32::try_from(digits(0..4)?).ok()?;
        let month = u8::try_from(digits(5..7)?).ok()?;
        let day = u8::try_from(digits(8..10)?).ok()?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// Today's date in UTC, from the system clock.
    pub fn today_utc() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Date::from_days(i64::try_from(secs / 86_400).unwrap_or(0))
    }

    /// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month: u8::try_from(month).unwrap_or(1),
            day: u8::try_from(day).unwrap_or(1),
        }
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where the date that waivers are judged against came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NowSource {
    #[serde(rename = "--now")]
    Flag,
    #[serde(rename = "clock")]
    Clock,
}

/// The date waivers are judged against, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Now {
    pub date: Date,
    pub source: NowSource,
}

impl Now {
    /// `--now YYYY-MM-DD` if given, else the system clock's UTC date.
    pub fn resolve(flag: Option<&str>) -> Result<Now, Diag> {
        match flag {
            Some(text) => match Date::parse(text.trim()) {
                Some(date) => Ok(Now {
                    date,
                    source: NowSource::Flag,
                }),
                None => Err(
                    Diag::error(codes::BAD_DATE, format!("`--now {text}` is not a date"))
                        .help("write the date as YYYY-MM-DD, for example `--now 2026-11-26`"),
                ),
            },
            None => Ok(Now {
                date: Date::today_utc(),
                source: NowSource::Clock,
            }),
        }
    }

    pub fn describe(&self) -> String {
        match self.source {
            NowSource::Flag => format!("{} (from --now)", self.date),
            NowSource::Clock => format!("{} (today, by the system clock, UTC)", self.date),
        }
    }
}

/// What a waived result carries into every report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waived {
    pub reason: String,
    pub expires: Date,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
}

/// One entry of a waivers file.
#[derive(Debug)]
pub struct Waiver {
    pub rule: String,
    pub host: Option<String>,
    pub info: Arc<Waived>,
    /// The entry in the waivers file.
    pub span: Span,
    rule_glob: GlobMatcher,
    host_glob: Option<GlobMatcher>,
    pub expired: bool,
    /// How many results it waived (shared by the evaluation threads).
    matched: AtomicU64,
}

impl Waiver {
    pub fn matched(&self) -> u64 {
        self.matched.load(Ordering::Relaxed)
    }
}

/// The waivers of a run, judged against one date.
#[derive(Debug)]
pub struct Waivers {
    pub file: String,
    pub now: Now,
    pub entries: Vec<Waiver>,
}

/// A waiver's state at the end of a run, for the JSON report.
#[derive(Debug, Serialize)]
pub struct WaiverStatus<'a> {
    pub rule: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<&'a str>,
    pub expires: Date,
    pub status: &'static str,
    pub matched: u64,
    pub line: usize,
}

const FIELDS: [&str; 6] = ["rule", "host", "reason", "expires", "ticket", "approver"];

impl Waivers {
    /// Reads a waivers file. Returns the waivers and warnings (expired entries), or every
    /// problem found in the file.
    pub fn load(
        path: &Path,
        now: Now,
        sources: &mut SourceMap,
    ) -> Result<(Waivers, Vec<Diag>), Vec<Diag>> {
        let doc = load_document(path, sources).map_err(|mut d| {
            d.code = if d.code == crate::inputs::codes::UNREADABLE {
                codes::UNREADABLE
            } else {
                codes::MALFORMED
            }
            .into();
            vec![d]
        })?;
        let mut diags = Vec::new();
        let mut warnings = Vec::new();
        let whole = Span::new(doc.file, 0, doc.text.len().min(1));
        let list = match &doc.value {
            serde_json::Value::Object(map) => {
                let unknown: Vec<&String> = map.keys().filter(|k| *k != "waivers").collect();
                for key in unknown {
                    diags.push(
                        Diag::error(
                            codes::MALFORMED,
                            format!("{}: unknown top-level key `{key}`", doc.name),
                        )
                        .label(doc.key_span(key), "not part of a waivers file")
                        .help("a waivers file holds one list, `waivers`"),
                    );
                }
                match map.get("waivers") {
                    Some(serde_json::Value::Array(items)) => items.as_slice(),
                    Some(_) => {
                        diags.push(
                            Diag::error(
                                codes::MALFORMED,
                                format!("{}: `waivers` must be a list", doc.name),
                            )
                            .label(doc.key_span("waivers"), "not a list")
                            .help(list_help(doc.kind)),
                        );
                        &[]
                    }
                    None => &[],
                }
            }
            serde_json::Value::Null => &[],
            _ => {
                diags.push(
                    Diag::error(
                        codes::MALFORMED,
                        format!(
                            "{}: a waivers file is a table with a `waivers` list",
                            doc.name
                        ),
                    )
                    .label(whole, "not a table")
                    .help(list_help(doc.kind)),
                );
                &[]
            }
        };
        let offsets = entry_offsets(&doc, list.len());
        let mut entries = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let span = offsets
                .get(i)
                .map(|&(s, e)| Span::new(doc.file, s, e))
                .unwrap_or_else(|| doc.key_span("waivers"));
            match entry(&doc, i, item, span, now) {
                Ok(w) => {
                    if w.expired {
                        warnings.push(
                            Diag::warning(
                                codes::EXPIRED,
                                format!(
                                    "the waiver for `{}`{} expired on {}; it no longer applies",
                                    w.rule,
                                    w.host
                                        .as_ref()
                                        .map(|h| format!(" on hosts `{h}`"))
                                        .unwrap_or_default(),
                                    w.info.expires
                                ),
                            )
                            .label(span, format!("expired; today is {}", now.describe()))
                            .help("fix what it covers, or renew it with a new `expires` date and a fresh approval"),
                        );
                    }
                    entries.push(w);
                }
                Err(d) => diags.push(d),
            }
        }
        if diags.is_empty() {
            Ok((
                Waivers {
                    file: doc.name,
                    now,
                    entries,
                },
                warnings,
            ))
        } else {
            Err(diags)
        }
    }

    /// For each result, the waiver that applies to it, if any (the first in file order). Only
    /// findings (`fail` and `error` outcomes) are waived; a passing rule needs no waiver.
    pub fn apply(
        &self,
        program: &Program,
        host: &str,
        results: &[RuleResult],
    ) -> Vec<Option<Arc<Waived>>> {
        results
            .iter()
            .map(|r| {
                if !matches!(r.outcome, Outcome::Fail | Outcome::Error) {
                    return None;
                }
                let id = &program.rules[r.rule as usize].id;
                let w = self.entries.iter().find(|w| {
                    !w.expired
                        && w.rule_glob.is_match(id)
                        && w.host_glob.as_ref().is_none_or(|h| h.is_match(host))
                })?;
                w.matched.fetch_add(1, Ordering::Relaxed);
                Some(Arc::clone(&w.info))
            })
            .collect()
    }

    /// Warnings for waivers in force that waived nothing.
    pub fn unused(&self) -> Vec<Diag> {
        self.entries
            .iter()
            .filter(|w| !w.expired && w.matched() == 0)
            .map(|w| {
                Diag::warning(
                    codes::UNUSED,
                    format!(
                        "the waiver for `{}`{} matched no result",
                        w.rule,
                        w.host
                            .as_ref()
                            .map(|h| format!(" on hosts `{h}`"))
                            .unwrap_or_default()
                    ),
                )
                .label(w.span, "waives nothing in this run")
                .help("remove it if the finding is fixed, or correct its `rule` or `host` pattern")
            })
            .collect()
    }

    /// Every waiver's state, for the JSON report.
    pub fn statuses<'a>(&'a self, sources: &SourceMap) -> Vec<WaiverStatus<'a>> {
        self.entries
            .iter()
            .map(|w| WaiverStatus {
                rule: &w.rule,
                host: w.host.as_deref(),
                expires: w.info.expires,
                status: if w.expired {
                    "expired"
                } else if w.matched() == 0 {
                    "unused"
                } else {
                    "applied"
                },
                matched: w.matched(),
                line: sources.location(w.span).line,
            })
            .collect()
    }
}

fn list_help(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Toml => {
            "write each waiver as a `[[waivers]]` table with `rule`, `reason` and `expires`"
        }
        _ => "write `waivers:` followed by a list of entries with `rule`, `reason` and `expires`",
    }
}

fn entry(
    doc: &Document,
    index: usize,
    item: &serde_json::Value,
    span: Span,
    now: Now,
) -> Result<Waiver, Diag> {
    let n = index + 1;
    let bad = |message: String, help: &str| {
        Diag::error(
            codes::MALFORMED,
            format!("{}: waiver {n}: {message}", doc.name),
        )
        .label(span, "this waiver")
        .help(help.to_string())
    };
    let serde_json::Value::Object(map) = item else {
        return Err(bad(
            "is not a table".to_string(),
            "each waiver has `rule`, `reason` and `expires`, and optionally `host`, `ticket` and `approver`",
        ));
    };
    for key in map.keys() {
        if !FIELDS.contains(&key.as_str()) {
            let help = did_you_mean(key, FIELDS)
                .unwrap_or_else(|| format!("the fields are {}", FIELDS.join(", ")));
            return Err(bad(format!("unknown field `{key}`"), &help));
        }
    }
    let text = |key: &str, required: bool| -> Result<Option<String>, Diag> {
        match map.get(key) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(serde_json::Value::String(_)) => Err(bad(
                format!("`{key}` is empty"),
                "give it a value, or leave it out if it is optional",
            )),
            Some(serde_json::Value::Null) | None if !required => Ok(None),
            None | Some(serde_json::Value::Null) => Err(bad(
                format!("`{key}` is missing"),
                "every waiver says which rule, why (`reason`) and until when (`expires`)",
            )),
            Some(other) => Err(bad(
                format!("`{key}` must be text, not {other}"),
                "quote the value",
            )),
        }
    };
    let rule = text("rule", true)?.unwrap_or_default();
    let host = text("host", false)?;
    let reason = text("reason", true)?.unwrap_or_default();
    let expires_text = text("expires", true)?.unwrap_or_default();
    let ticket = text("ticket", false)?;
    let approver = text("approver", false)?;
    let Some(expires) = Date::parse(&expires_text) else {
        return Err(Diag::error(
            codes::BAD_DATE,
            format!(
                "{}: waiver {n}: `expires: {expires_text}` is not a date",
                doc.name
            ),
        )
        .label(span, "this waiver")
        .help("write the last day the waiver applies as YYYY-MM-DD"));
    };
    let glob = |pattern: &str, case_insensitive: bool| {
        GlobBuilder::new(pattern)
            .case_insensitive(case_insensitive)
            .literal_separator(false)
            .build()
            .map(|g| g.compile_matcher())
            .map_err(|e| {
                bad(
                    format!("`{pattern}` is not a valid glob: {e}"),
                    "use `*`, `?` and `[abc]`",
                )
            })
    };
    let rule_glob = glob(&rule, false)?;
    let host_glob = host.as_deref().map(|h| glob(h, true)).transpose()?;
    Ok(Waiver {
        expired: now.date > expires,
        info: Arc::new(Waived {
            reason,
            expires,
            ticket,
            approver,
        }),
        rule,
        host,
        span,
        rule_glob,
        host_glob,
        matched: AtomicU64::new(0),
    })
}

/// Byte ranges of the entries of the `waivers` list in the text, in order: the lines of
/// `[[waivers]]` headers in TOML, the `- ` items of the block list in YAML. When the count
/// does not match (flow style, JSON), the caller falls back to the `waivers` key.
fn entry_offsets(doc: &Document, expected: usize) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut offset = 0;
    let mut in_list = false;
    let mut indent: Option<usize> = None;
    for line in doc.text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let content = line.trim_end();
        let trimmed = content.trim_start();
        let lead = content.len() - trimmed.len();
        let span = (start + lead, start + content.len());
        match doc.kind {
            DocumentKind::Toml => {
                if trimmed.starts_with("[[")
                    && trimmed
                        .trim_start_matches('[')
                        .trim_start()
                        .starts_with("waivers")
                {
                    found.push(span);
                }
            }
            DocumentKind::Yaml => {
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                if lead == 0 && !trimmed.starts_with('-') {
                    in_list =
                        trimmed.starts_with("waivers:") || trimmed.starts_with("\"waivers\":");
                    continue;
                }
                if in_list && (trimmed == "-" || trimmed.starts_with("- ")) {
                    match indent {
                        None => {
                            indent = Some(lead);
                            found.push(span);
                        }
                        Some(i) if i == lead => found.push(span),
                        _ => {}
                    }
                }
            }
            DocumentKind::Json => {}
        }
    }
    if found.len() == expected {
        found
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_count() {
        assert_eq!(
            Date::parse("2024-02-29"),
            Some(Date {
                year: 2024,
                month: 2,
                day: 29
            })
        );
        assert_eq!(Date::parse("2023-02-29"), None);
        assert_eq!(Date::parse("2023-13-01"), None);
        assert_eq!(Date::parse("2023-1-01"), None);
        assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_days(20_454).to_string(), "2026-01-01");
        assert_eq!(Date::from_days(-1).to_string(), "1969-12-31");
        assert!(Date::parse("2026-11-26") > Date::parse("2026-11-25"));
    }
}
