//! Diagnostics as data: every phase reports [`Diag`]s (a stable code, a message, labelled
//! spans, help), and one adapter turns them into miette reports with their whole source file.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, SourceSpan};

use crate::source::{SourceMap, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    Advice,
}

#[derive(Debug, Clone)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One problem found in a policy, a snapshot or the command line.
#[derive(Debug, Clone)]
pub struct Diag {
    /// Stable, documented code such as `expolicy::check::unknown_name`.
    pub code: Cow<'static, str>,
    pub level: Level,
    pub message: String,
    /// The first label is the primary one; labels may point into different files.
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// Further diagnostics shown beneath this one (for example, evidence in another file).
    pub related: Vec<Diag>,
}

impl Diag {
    pub fn error(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Diag {
        Diag {
            code: code.into(),
            level: Level::Error,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            related: Vec::new(),
        }
    }

    pub fn warning(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Diag {
        Diag {
            level: Level::Warning,
            ..Diag::error(code, message)
        }
    }

    pub fn advice(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Diag {
        Diag {
            level: Level::Advice,
            ..Diag::error(code, message)
        }
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Diag {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diag {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Diag {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn with_related(mut self, related: Diag) -> Diag {
        self.related.push(related);
        self
    }

    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }

    pub fn primary_span(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }

    /// Turns this diagnostic into something miette can render, attaching the source file of
    /// the primary label. Labels in other files become related diagnostics of their own.
    pub fn to_miette(&self, sources: &SourceMap) -> RenderedDiag {
        let file = self.primary_span().map(|s| s.file);
        let drawable = self.labels.iter().all(|l| {
            Some(l.span.file) != file
                || column_bytes(&sources.get(l.span.file).text, l.span.start as usize)
                    < MAX_DRAWN_COLUMN
        });
        if !drawable {
            // Too far along one line to draw under it: say where instead.
            let mut plain = Diag {
                labels: Vec::new(),
                ..self.clone()
            };
            for label in &self.labels {
                let at = sources.location(label.span);
                plain.message.push_str(&format!(
                    "\n  at {}:{}:{}: {}",
                    at.file, at.line, at.column, label.text
                ));
            }
            return plain.to_miette(sources);
        }
        let mut labels = Vec::new();
        let mut related: Vec<RenderedDiag> = Vec::new();
        for (i, label) in self.labels.iter().enumerate() {
            if Some(label.span.file) == file {
                let span = SourceSpan::new((label.span.start as usize).into(), label.span.len());
                let text = (!label.text.is_empty()).then(|| label.text.clone());
                labels.push(if i == 0 {
                    LabeledSpan::new_primary_with_span(text, span)
                } else {
                    LabeledSpan::new_with_span(text, span)
                });
            } else {
                let elsewhere =
                    Diag::advice(self.code.clone(), label.text.clone()).label(label.span, "");
                related.push(elsewhere.to_miette(sources));
            }
        }
        related.extend(self.related.iter().map(|r| r.to_miette(sources)));
        let source = file.map(|f| {
            let file = sources.get(f);
            NamedSource::new(file.name.clone(), Arc::clone(&file.text))
        });
        RenderedDiag {
            code: self.code.clone(),
            level: self.level,
            message: self.message.clone(),
            help: self.help.clone(),
            labels,
            source,
            related,
        }
    }
}

/// Labels that start this many bytes into a line are not drawn under it but given as a
/// location: miette pads with format widths, which stop at 65,535 columns (a tab counts as
/// four), and nobody reads such a drawing anyway.
const MAX_DRAWN_COLUMN: usize = 8 * 1024;

/// How many bytes into its line `offset` is.
fn column_bytes(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    let line_start = text.as_bytes()[..end]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    end - line_start
}

/// A [`Diag`] bound to its source text, ready for miette.
#[derive(Debug)]
pub struct RenderedDiag {
    code: Cow<'static, str>,
    level: Level,
    message: String,
    help: Option<String>,
    labels: Vec<LabeledSpan>,
    source: Option<NamedSource<Arc<str>>>,
    related: Vec<RenderedDiag>,
}

impl fmt::Display for RenderedDiag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RenderedDiag {}

impl miette::Diagnostic for RenderedDiag {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.level {
            Level::Error => miette::Severity::Error,
            Level::Warning => miette::Severity::Warning,
            Level::Advice => miette::Severity::Advice,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}

/// How to draw diagnostics: colour for terminals, plain at a fixed width for files and tests.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub color: bool,
    pub width: usize,
}

impl RenderOptions {
    pub const PLAIN: RenderOptions = RenderOptions {
        color: false,
        width: 100,
    };
}

/// Renders one diagnostic to text.
pub fn render(diag: &Diag, sources: &SourceMap, options: RenderOptions) -> String {
    let theme = if options.color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(options.width)
        .with_links(false)
        .with_context_lines(1);
    let mut out = String::new();
    let rendered = diag.to_miette(sources);
    if handler.render_report(&mut out, &rendered).is_err() {
        // The handler only fails when writing to `out` fails, which a String never does; keep
        // the message rather than lose it.
        out = format!("{}: {}\n", diag.code, diag.message);
    }
    out
}

/// Renders many diagnostics, one after another.
pub fn render_all(diags: &[Diag], sources: &SourceMap, options: RenderOptions) -> String {
    diags
        .iter()
        .map(|d| render(d, sources, options))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Names within `max_distance` edits of `wanted`, best first: the "did you mean" of every
/// unknown-name diagnostic.
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let wanted_lower = wanted.to_ascii_lowercase();
    let limit = (wanted.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = strsim::damerau_levenshtein(&wanted_lower, &candidate.to_ascii_lowercase());
        if distance <= limit && best.is_none_or(|(d, c)| (distance, candidate) < (d, c)) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, name)| format!("did you mean `{name}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_prefers_the_closest_name() {
        let names = ["running", "stopped", "paused"];
        assert_eq!(
            did_you_mean("runing", names).as_deref(),
            Some("did you mean `running`?")
        );
        assert_eq!(did_you_mean("xyzzy", names), None);
    }
}
