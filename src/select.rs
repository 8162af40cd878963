//! Which rules a run evaluates: `--rule GLOB`, `--tag TAG`, `--control ID`.

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::check::ir::Program;
use crate::diag::Diag;

pub mod codes {
    pub const BAD_GLOB: &str = "expolicy::usage::bad_glob";
    pub const NOTHING_SELECTED: &str = "expolicy::usage::nothing_selected";
}

#[derive(Debug, Default, Clone)]
pub struct Selection {
    pub rules: Vec<String>,
    pub tags: Vec<String>,
    pub controls: Vec<String>,
}

impl Selection {
    /// Indices of the selected rules, in program order. A rule is selected when it matches one
    /// of the globs (against its qualified id or its bare name), one of the tags and one of the
    /// controls, each filter applying only when given.
    pub fn apply(&self, program: &Program) -> Result<Vec<u32>, Diag> {
        let globs = self.glob_set()?;
        let selected: Vec<u32> = program
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| {
                let bare = rule.id.split_once('.').map_or(rule.id.as_str(), |(_, b)| b);
                (self.rules.is_empty() || globs.is_match(&rule.id) || globs.is_match(bare))
                    && (self.tags.is_empty() || rule.tags.iter().any(|t| self.tags.contains(t)))
                    && (self.controls.is_empty()
                        || rule.controls.iter().any(|c| self.controls.contains(c)))
            })
            .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        if selected.is_empty() && !program.rules.is_empty() {
            let mut filters = Vec::new();
            filters.extend(self.rules.iter().map(|r| format!("--rule {r}")));
            filters.extend(self.tags.iter().map(|t| format!("--tag {t}")));
            filters.extend(self.controls.iter().map(|c| format!("--control {c}")));
            let ids: Vec<&str> = program.rules.iter().map(|r| r.id.as_str()).collect();
            let hint = crate::diag::did_you_mean(
                self.rules.first().map_or("", String::as_str),
                ids.iter().copied(),
            );
            return Err(Diag::error(
                codes::NOTHING_SELECTED,
                format!("no rule matches {}", filters.join(" ")),
            )
            .help(hint.unwrap_or_else(|| format!("the rules are: {}", preview(&ids)))));
        }
        Ok(selected)
    }

    fn glob_set(&self) -> Result<GlobSet, Diag> {
        let mut builder = GlobSetBuilder::new();
        for pattern in &self.rules {
            let glob = Glob::new(pattern).map_err(|e| {
                Diag::error(
                    codes::BAD_GLOB,
                    format!("`--rule {pattern}` is not a valid glob: {e}"),
                )
                .help("use `*` for any characters, such as `--rule 'exchange2003.msearch-*'`")
            })?;
            builder.add(glob);
        }
        builder
            .build()
            .map_err(|e| Diag::error(codes::BAD_GLOB, format!("invalid --rule globs: {e}")))
    }
}

fn preview(ids: &[&str]) -> String {
    let mut shown: Vec<&str> = ids.iter().take(8).copied().collect();
    if ids.len() > shown.len() {
        shown.push("…");
    }
    shown.join(", ")
}
