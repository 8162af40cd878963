//! `expolicy test PACK`: run a pack's own cases and report mismatches and rule coverage.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{Terminal, exit, write_output};
use crate::check::ir::Program;
use crate::diag::Diag;
use crate::packtest::{self, PackResult};
use crate::source::SourceMap;

#[derive(Debug, Args)]
#[command(after_help = "\
Cases live in PACK/tests/: <case>.snapshot.json is a host snapshot and <case>.expect.json beside \
it is {\"description\": \"…\", \"outcomes\": {\"<rule>\": \"pass\" | \"fail\" | \"not_applicable\" \
| \"error\"}}. Every rule runs on every case; the rules a case names are checked.

Coverage: a rule is exercised when some case names it, and vacuous when its `when` held in no \
case; covered rules are exercised and not vacuous.

Exit status: 0 every case passed (and coverage is at least --min-coverage); 1 a mismatch, too \
little coverage, or no case at all; 2 the pack or a case could not be read or checked.")]
pub struct TestArgs {
    /// The pack directory (its cases are in PACK/tests/).
    #[arg(value_name = "PACK")]
    pub pack: PathBuf,
    /// Fail when fewer than this percentage of the pack's rules are covered.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    pub min_coverage: Option<f64>,
    /// Report format.
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Junit,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let n: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{s}` is not a percentage"))?;
    if (0.0..=100.0).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{s} is not between 0 and 100"))
    }
}

pub fn run(args: TestArgs, terminal: &Terminal) -> i32 {
    let mut sources = SourceMap::new();
    let loaded = crate::policy::load(std::slice::from_ref(&args.pack), &mut sources);
    terminal.report(&loaded.diags, &sources);
    let Some(program) = loaded.program else {
        return exit::BAD_INPUT;
    };
    let (files, mut diags) = packtest::discover(&args.pack);
    if files.is_empty() && diags.is_empty() {
        let d = Diag::error(
            packtest::codes::NO_CASES,
            format!(
                "{} has no test cases, so nothing was tested",
                args.pack.join("tests").display()
            ),
        )
        .help("add <case>.snapshot.json and <case>.expect.json to the pack's tests/ directory");
        terminal.report(&[d], &sources);
        return exit::FINDINGS;
    }
    let mut cases = Vec::new();
    for f in &files {
        match packtest::load_case(f, &program, &mut sources) {
            Ok(c) => cases.push(c),
            Err(mut ds) => diags.append(&mut ds),
        }
    }
    if !diags.is_empty() {
        terminal.report(&diags, &sources);
        return exit::BAD_INPUT;
    }
    let result = packtest::run(&program, &cases);
    let coverage_ok = args
        .min_coverage
        .is_none_or(|min| result.coverage_percent() + 1e-9 >= min);
    let text = match args.format {
        Format::Human => human(&program, &result, args.min_coverage),
        Format::Junit => junit(&program, &result, args.min_coverage),
    };
    if let Err(d) = write_output(args.output.as_ref(), &text) {
        terminal.report(&[d], &sources);
        return exit::BAD_INPUT;
    }
    if result.failed_cases() > 0 || !coverage_ok {
        exit::FINDINGS
    } else {
        exit::OK
    }
}

fn rule_name(program: &Program, rule: u32) -> &str {
    let r = &program.rules[rule as usize];
    packtest::bare_name(program, r.pack, &r.id)
}

fn coverage_lines(program: &Program, result: &PackResult, min: Option<f64>) -> String {
    let mut out = String::new();
    let total = result.coverage.len();
    let covered = result
        .coverage
        .iter()
        .filter(|c| c.exercised && !c.vacuous)
        .count();
    let _ = write!(
        out,
        "coverage: {covered} of {total} rule(s) covered ({:.1}%)",
        result.coverage_percent()
    );
    if let Some(min) = min {
        let verdict = if result.coverage_percent() + 1e-9 >= min {
            "meets"
        } else {
            "is below"
        };
        let _ = write!(out, ", which {verdict} --min-coverage {min}%");
    }
    out.push('\n');
    let unexercised: Vec<&str> = result
        .coverage
        .iter()
        .filter(|c| !c.exercised)
        .map(|c| rule_name(program, c.rule))
        .collect();
    if !unexercised.is_empty() {
        let _ = writeln!(
            out,
            "  never exercised (no case names them): {}",
            unexercised.join(", ")
        );
    }
    let vacuous: Vec<&str> = result
        .coverage
        .iter()
        .filter(|c| c.vacuous)
        .map(|c| rule_name(program, c.rule))
        .collect();
    if !vacuous.is_empty() {
        let _ = writeln!(
            out,
            "  vacuous (`when` held in no case): {}",
            vacuous.join(", ")
        );
    }
    out
}

fn human(program: &Program, result: &PackResult, min: Option<f64>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "running {} case(s)", result.cases.len());
    for case in &result.cases {
        let verdict = if case.passed() { "ok" } else { "FAILED" };
        let _ = writeln!(out, "case {} ... {verdict}", case.name);
    }
    let failed: Vec<_> = result.cases.iter().filter(|c| !c.passed()).collect();
    if !failed.is_empty() {
        out.push_str("\nmismatches:\n");
        for case in &failed {
            let _ = write!(out, "\n---- {} ({})", case.name, case.host);
            if let Some(d) = &case.description {
                let _ = write!(out, ": {d}");
            }
            out.push('\n');
            for m in &case.mismatches {
                let _ = writeln!(
                    out,
                    "  {}: expected {}, got {}",
                    rule_name(program, m.rule),
                    m.expected.as_str(),
                    m.actual.as_str()
                );
                if let Some(message) = &m.message {
                    let _ = writeln!(out, "    message: {message}");
                }
            }
        }
    }
    out.push('\n');
    out.push_str(&coverage_lines(program, result, min));
    let passed = result.cases.len() - failed.len();
    let _ = writeln!(
        out,
        "\ntest result: {}. {passed} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len()
    );
    out
}

fn junit(program: &Program, result: &PackResult, min: Option<f64>) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let pack = program
        .packs
        .first()
        .map_or("pack", |p| p.name.as_str())
        .to_string();
    let mut suite = TestSuite::new(pack.clone());
    for case in &result.cases {
        let status = if case.passed() {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(format!(
                "{} of {} outcome(s) differ",
                case.mismatches.len(),
                case.checked
            ));
            status.set_type("outcome mismatch");
            let mut description = String::new();
            for m in &case.mismatches {
                let _ = writeln!(
                    description,
                    "{}: expected {}, got {}",
                    rule_name(program, m.rule),
                    m.expected.as_str(),
                    m.actual.as_str()
                );
                if let Some(message) = &m.message {
                    let _ = writeln!(description, "  message: {message}");
                }
            }
            status.set_description(description);
            status
        };
        let mut tc = TestCase::new(case.name.clone(), status);
        tc.set_classname(pack.clone());
        tc.set_assertions(case.checked);
        if let Some(d) = &case.description {
            tc.set_system_out(d.clone());
        }
        suite.add_test_case(tc);
    }
    if let Some(min) = min {
        let status = if result.coverage_percent() + 1e-9 >= min {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(format!(
                "coverage {:.1}% is below {min}%",
                result.coverage_percent()
            ));
            status.set_type("coverage");
            status
        };
        let mut tc = TestCase::new("coverage", status);
        tc.set_classname(pack.clone());
        suite.add_test_case(tc);
    }
    suite.set_system_out(coverage_lines(program, result, min));
    let mut report = Report::new("expolicy test");
    report.add_test_suite(suite);
    let mut out = report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot write JUnit XML: {e} -->"));
    out.push('\n');
    out
}
