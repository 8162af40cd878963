//! Fleets: many snapshots from files, globs, standard input and NDJSON streams, evaluated in
//! parallel with memory bounded by the work in flight, reported in input order.
//!
//! One thread reads snapshots (lines of a stream go into reused buffers), `jobs` long-lived
//! workers load, evaluate and, for the formats that stream, render each host's part of the
//! report, and the calling thread writes the parts strictly in input order as they come (see
//! [`pool`]; with one job, all of it runs in turn on the calling thread). Whatever the number of threads, the writer sees the same sequence, so reports are
//! byte-identical. At most a few snapshots per worker are in flight, so memory does not grow
//! with the number of hosts. A line of a stream that is not a snapshot is reported (named
//! `file:line`) without stopping the other hosts.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::check::ir::Program;
use crate::diag::Diag;
use crate::eval::Summary;
use crate::report::{self, FailOn, RunInfo, SnapshotReport};
use crate::snapshot::{self, LoadedSnapshot, SnapshotError};
use crate::source::SourceMap;

pub mod codes {
    pub const NO_MATCH: &str = "expolicy::fleet::no_match";
    pub const BAD_GLOB: &str = "expolicy::fleet::bad_glob";
    pub const STDIN_TWICE: &str = "expolicy::usage::stdin_twice";
    pub const LINE_TOO_LONG: &str = "expolicy::fleet::line_too_long";
    pub const UNWRITABLE: &str = "expolicy::io::unwritable";
}

mod pool;

/// The reader waits while the snapshots read and not yet reported hold this many bytes of text.
pub const MAX_IN_FLIGHT_BYTES: usize = 64 * 1024 * 1024;
/// Snapshots read and not yet reported, per worker thread that started: enough that a worker
/// always finds the next one ready while the writer waits for a slower one before it.
pub const IN_FLIGHT_PER_JOB: usize = 4;
/// Workers at most (unless there are more cores), whatever `--jobs` asks: threads beyond the
/// cores only cost memory, and each reserves address space for its stack, which runs out in
/// the tens of thousands of threads.
const MAX_WORKERS: usize = 256;
/// Line buffers up to this capacity are reused; a larger one (a huge host) is freed, so that
/// one outlier does not pin its memory for the rest of the stream.
const MAX_RECYCLED_BUFFER: usize = 4 * 1024 * 1024;

/// Where snapshots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One snapshot in a file.
    File(PathBuf),
    /// One snapshot on standard input.
    Stdin,
    /// One snapshot per line, from a file or (`None`) standard input.
    Stream(Option<PathBuf>),
}

impl Source {
    pub fn name(&self) -> String {
        match self {
            Source::File(p) | Source::Stream(Some(p)) => p.display().to_string(),
            Source::Stdin | Source::Stream(None) => "<stdin>".to_string(),
        }
    }
}

/// Whether a path names an NDJSON stream by its extension.
pub fn is_stream_path(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("ndjson" | "jsonl")
    )
}

/// Turns `--snapshot` arguments into sources: `-` is standard input, a pattern with `*`, `?`
/// or `[` is a glob (expanded, sorted; no match is an error), a `.ndjson`/`.jsonl` file or any
/// file with `--ndjson` is a stream.
pub fn expand(args: &[String], ndjson: bool) -> (Vec<Source>, Vec<Diag>) {
    let mut sources = Vec::new();
    let mut diags = Vec::new();
    let mut stdin_used = false;
    for arg in args {
        if arg == "-" {
            if stdin_used {
                diags.push(
                    Diag::error(codes::STDIN_TWICE, "standard input (`-`) is given twice").help(
                        "standard input can be read once; save one of the snapshots to a file",
                    ),
                );
                continue;
            }
            stdin_used = true;
            sources.push(if ndjson {
                Source::Stream(None)
            } else {
                Source::Stdin
            });
            continue;
        }
        let path = PathBuf::from(arg);
        let is_pattern = arg.contains(['*', '?', '[']) && !path.exists();
        if !is_pattern {
            sources.push(classify(path, ndjson));
            continue;
        }
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        match glob::glob_with(arg, options) {
            Ok(paths) => {
                let mut found: Vec<PathBuf> = paths
                    .filter_map(Result::ok)
                    .filter(|p| p.is_file())
                    .collect();
                found.sort();
                if found.is_empty() {
                    diags.push(
                        Diag::error(codes::NO_MATCH, format!("no snapshot matches `{arg}`"))
                            .help("check the pattern; quote it so that the shell does not expand it first"),
                    );
                }
                sources.extend(found.into_iter().map(|p| classify(p, ndjson)));
            }
            Err(e) => diags.push(
                Diag::error(
                    codes::BAD_GLOB,
                    format!("`{arg}` is not a valid pattern: {}", e.msg),
                )
                .help("use `*`, `?`, `**` and `[abc]`; a literal `[` is written `[[]`"),
            ),
        }
    }
    (sources, diags)
}

fn classify(path: PathBuf, ndjson: bool) -> Source {
    if ndjson || is_stream_path(&path) {
        Source::Stream(Some(path))
    } else {
        Source::File(path)
    }
}

/// One snapshot's text, read but not yet parsed.
struct Item {
    /// As reports name it: the file, or `file:line` for a line of a stream.
    source: String,
    bytes: Result<Vec<u8>, Diag>,
}

/// What became of one snapshot.
#[derive(Debug)]
pub enum HostOutcome {
    Report(SnapshotReport),
    /// The snapshot could not be parsed; the text is kept so the diagnostic can show it.
    Invalid {
        source: String,
        error: SnapshotError,
        text: Arc<str>,
    },
    /// The snapshot could not be read at all.
    Unreadable(Diag),
}

impl HostOutcome {
    /// The diagnostic for a snapshot that failed, registering its text for rendering.
    pub fn into_diag(self, sources: &mut SourceMap) -> Result<SnapshotReport, Diag> {
        match self {
            HostOutcome::Report(r) => Ok(r),
            HostOutcome::Invalid {
                source,
                error,
                text,
            } => Err(error.into_diag(&source, text, sources)),
            HostOutcome::Unreadable(d) => Err(d),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Show a progress bar on stderr (only sensible when stderr is a terminal).
    pub progress: bool,
}

impl Options {
    /// `jobs` threads, or one per available core; a progress bar when stderr is a terminal.
    pub fn new(jobs: Option<usize>) -> Options {
        Options {
            jobs: jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1),
            progress: std::io::stderr().is_terminal(),
        }
    }
}

/// Evaluates every snapshot of `sources` with `evaluate`, calling `on_host` for each in input
/// order. At most [`IN_FLIGHT_PER_JOB`] snapshots per worker (and about [`MAX_IN_FLIGHT_BYTES`]
/// of text) are held at a time.
pub fn for_each_host(
    sources: &[Source],
    options: Options,
    evaluate: &(dyn Fn(&LoadedSnapshot) -> SnapshotReport + Sync),
    on_host: impl FnMut(HostOutcome),
) {
    run(sources, options, evaluate, |outcome| outcome, on_host);
}

/// Evaluates every snapshot of `sources` into `writer`, in input order. A snapshot that cannot
/// be read or parsed goes to `on_problem` as a diagnostic instead, its text registered in
/// `source_map`. For the formats that stream (human, JSON, GitHub) each host's part of the
/// report is rendered on the worker that evaluated it, so that the writer only writes.
pub fn write_reports(
    sources: &[Source],
    options: Options,
    evaluate: &(dyn Fn(&LoadedSnapshot) -> SnapshotReport + Sync),
    writer: &mut ReportWriter<'_>,
    source_map: &mut SourceMap,
    mut on_problem: impl FnMut(Diag, &SourceMap),
) {
    // The workers render against a copy of the map as it is now (the files are shared, not
    // copied): results point into policy files, all loaded by now, while the map itself gains
    // the text of each broken snapshot on this thread as its diagnostic is made.
    let renderer = writer.renderer(source_map.clone());
    let finish = |outcome: HostOutcome| match (&renderer, outcome) {
        (Some(renderer), HostOutcome::Report(report)) => Done::Rendered(renderer.render(&report)),
        (_, outcome) => Done::Outcome(outcome),
    };
    run(sources, options, evaluate, finish, |done| match done {
        Done::Rendered(fragment) => writer.fragment(fragment),
        Done::Outcome(outcome) => match outcome.into_diag(source_map) {
            Ok(report) => writer.host(source_map, &report),
            Err(d) => on_problem(d, source_map),
        },
    });
}

/// What a worker hands to the writer in [`write_reports`].
enum Done {
    Rendered(Fragment),
    Outcome(HostOutcome),
}

/// Reads the sources, loads and evaluates each snapshot and applies `finish` to the outcome on
/// the workers, then calls `on_done` on this thread in input order, updating the progress bar.
fn run<T: Send>(
    sources: &[Source],
    options: Options,
    evaluate: &(dyn Fn(&LoadedSnapshot) -> SnapshotReport + Sync),
    finish: impl Fn(HostOutcome) -> T + Sync,
    mut on_done: impl FnMut(T),
) {
    let progress = options.progress.then(|| progress_bar(sources));
    let streams = sources.iter().any(|s| matches!(s, Source::Stream(_)));
    // A list of files needs no more workers than it has files.
    let wanted = if streams {
        options.jobs
    } else {
        options.jobs.min(sources.len())
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limits = pool::Limits {
        workers: wanted.min(MAX_WORKERS.max(cores)).max(1),
        in_flight_per_worker: IN_FLIGHT_PER_JOB,
        max_bytes: MAX_IN_FLIGHT_BYTES,
    };
    // Buffers go back from the workers to the reader once their text has been copied into the
    // loaded snapshot, so that lines are read into warm buffers of the right size instead of a
    // fresh, repeatedly grown `Vec` each.
    let (give_back, take_back) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut reader = Reader::new(sources);
    let produce = move || {
        let buf = take_back.try_recv().unwrap_or_default();
        let item = reader.next(buf)?;
        let bytes = item.bytes.as_ref().map_or(0, Vec::len);
        Some((item, bytes))
    };
    let work = |item: Item| finish(evaluate_one(item, evaluate, &give_back));
    pool::run(limits, produce, work, |done| match &progress {
        Some(bar) => {
            bar.suspend(|| on_done(done));
            bar.inc(1);
        }
        None => on_done(done),
    });
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
}

fn progress_bar(sources: &[Source]) -> indicatif::ProgressBar {
    let streams = sources.iter().any(|s| matches!(s, Source::Stream(_)));
    let bar = if streams {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::new(sources.len() as u64)
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let template = if streams {
        "{spinner} {pos} hosts evaluated ({per_sec})"
    } else {
        "{bar:40} {pos}/{len} hosts ({eta} left)"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

fn evaluate_one(
    item: Item,
    evaluate: &(dyn Fn(&LoadedSnapshot) -> SnapshotReport + Sync),
    give_back: &std::sync::mpsc::Sender<Vec<u8>>,
) -> HostOutcome {
    let mut bytes = match item.bytes {
        Ok(b) => b,
        Err(d) => return HostOutcome::Unreadable(d),
    };
    let loaded = snapshot::load(&item.source, &bytes);
    // The loaded snapshot (or the error) has its own copy of the text.
    if bytes.capacity() <= MAX_RECYCLED_BUFFER {
        bytes.clear();
        // The reader may have finished already; then the buffer is simply freed.
        let _ = give_back.send(bytes);
    }
    match loaded {
        Ok(loaded) => HostOutcome::Report(evaluate(&loaded)),
        Err((error, text)) => HostOutcome::Invalid {
            source: item.source,
            error,
            text,
        },
    }
}

/// Reads items from the sources one at a time.
struct Reader<'s> {
    sources: std::slice::Iter<'s, Source>,
    stream: Option<Stream>,
}

struct Stream {
    name: String,
    reader: Box<dyn BufRead + Send>,
    line: usize,
}

impl<'s> Reader<'s> {
    fn new(sources: &'s [Source]) -> Reader<'s> {
        Reader {
            sources: sources.iter(),
            stream: None,
        }
    }

    /// The next item, read into `buf` (whatever it held is discarded).
    fn next(&mut self, mut buf: Vec<u8>) -> Option<Item> {
        buf.clear();
        loop {
            if let Some(stream) = &mut self.stream {
                match stream.next_line(buf) {
                    Ok(item) => return Some(item),
                    Err(unused) => {
                        buf = unused;
                        self.stream = None;
                    }
                }
            }
            let source = self.sources.next()?;
            match source {
                Source::File(path) => {
                    let name = path.display().to_string();
                    return Some(Item {
                        bytes: read_file(&name, path, buf),
                        source: name,
                    });
                }
                Source::Stdin => {
                    let read = std::io::stdin()
                        .lock()
                        .take(snapshot::MAX_SNAPSHOT_BYTES as u64 + 1)
                        .read_to_end(&mut buf);
                    return Some(Item {
                        source: "<stdin>".to_string(),
                        bytes: match read {
                            Ok(_) => Ok(buf),
                            Err(e) => Err(Diag::error(
                                snapshot::codes::UNREADABLE,
                                format!("cannot read standard input: {e}"),
                            )),
                        },
                    });
                }
                Source::Stream(path) => {
                    let name = source.name();
                    let reader: Box<dyn BufRead + Send> = match path {
                        None => Box::new(BufReader::new(std::io::stdin())),
                        Some(p) => match std::fs::File::open(p) {
                            Ok(f) => Box::new(BufReader::with_capacity(1 << 20, f)),
                            Err(e) => {
                                return Some(Item {
                                    bytes: Err(Diag::error(
                                        snapshot::codes::UNREADABLE,
                                        format!("cannot read snapshot stream {name}: {e}"),
                                    )
                                    .help("check the path; `-` with `--ndjson` reads a stream from standard input")),
                                    source: name,
                                });
                            }
                        },
                    };
                    self.stream = Some(Stream {
                        name,
                        reader,
                        line: 0,
                    });
                }
            }
        }
    }
}

impl Stream {
    /// The next non-blank line as an item, read into `buf` (which must be empty); at the end
    /// of the stream, `buf` comes back unused.
    fn next_line(&mut self, mut buf: Vec<u8>) -> Result<Item, Vec<u8>> {
        loop {
            self.line += 1;
            buf.clear();
            let limit = snapshot::MAX_SNAPSHOT_BYTES as u64 + 1;
            match (&mut self.reader).take(limit).read_until(b'\n', &mut buf) {
                Ok(0) => return Err(buf),
                Ok(_) => {}
                Err(e) => {
                    let source = self.source();
                    // The rest of the stream cannot be trusted to be in step; stop here.
                    self.reader = Box::new(std::io::empty());
                    return Ok(Item {
                        bytes: Err(Diag::error(
                            snapshot::codes::UNREADABLE,
                            format!("cannot read {source}: {e}"),
                        )),
                        source,
                    });
                }
            }
            if buf.len() as u64 >= limit && buf.last() != Some(&b'\n') {
                // Skip the rest of the over-long line a piece at a time, keeping memory bounded.
                loop {
                    buf.clear();
                    match (&mut self.reader).take(1 << 20).read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if buf.last() == Some(&b'\n') => break,
                        Ok(_) => {}
                    }
                }
                let source = self.source();
                return Ok(Item {
                    bytes: Err(Diag::error(
                        codes::LINE_TOO_LONG,
                        format!(
                            "{source}: the line is longer than {} bytes",
                            snapshot::MAX_SNAPSHOT_BYTES
                        ),
                    )
                    .help(
                        "one line holds one host's snapshot; is the stream missing line breaks?",
                    )),
                    source,
                });
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Item {
                source: self.source(),
                bytes: Ok(buf),
            });
        }
    }

    /// `file:line` of the line just read.
    fn source(&self) -> String {
        format!("{}:{}", self.name, self.line)
    }
}

/// Reads a snapshot file into `buf` (which must be empty).
fn read_file(name: &str, path: &Path, mut buf: Vec<u8>) -> Result<Vec<u8>, Diag> {
    let unreadable = |e: std::io::Error| {
        Diag::error(
            snapshot::codes::UNREADABLE,
            format!("cannot read snapshot {name}: {e}"),
        )
        .help("check the path; `-` reads a snapshot from standard input")
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.len() > snapshot::MAX_SNAPSHOT_BYTES as u64 {
        return Err(Diag::error(
            snapshot::codes::TOO_LARGE,
            format!(
                "snapshot {name} is {} bytes; the limit is {}",
                meta.len(),
                snapshot::MAX_SNAPSHOT_BYTES
            ),
        )
        .help("one snapshot describes one host; stream many hosts as NDJSON instead"));
    }
    buf.reserve(usize::try_from(meta.len()).unwrap_or(0));
    // The file may have grown since; never read more than the limit and one byte, which
    // `snapshot::load` then refuses as too large.
    (&mut file)
        .take(snapshot::MAX_SNAPSHOT_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(unreadable)?;
    Ok(buf)
}

// ---------------------------------------------------------------- writing reports

/// The report formats a fleet can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Sarif,
    Junit,
    Github,
    Markdown,
}

enum Kind<'p> {
    Human(crate::diag::RenderOptions),
    Json,
    Github,
    Sarif(report::sarif::SarifBuilder<'p>),
    Junit(report::junit::JunitBuilder<'p>),
    Markdown(report::markdown::MarkdownBuilder<'p>),
}

/// Renders one snapshot's part of a streamed report; shared by the workers of a fleet.
pub struct Renderer<'p> {
    program: &'p Program,
    sources: SourceMap,
    style: Style,
    fail_on: FailOn,
}

#[derive(Clone, Copy)]
enum Style {
    Human(crate::diag::RenderOptions),
    Json,
    Github,
}

impl Renderer<'_> {
    pub fn render(&self, report: &SnapshotReport) -> Fragment {
        let (program, sources) = (self.program, &self.sources);
        let text = match self.style {
            Style::Human(options) => {
                report::human::render(program, sources, std::slice::from_ref(report), options)
            }
            Style::Json => report::json::snapshot(program, sources, report, true),
            Style::Github => report::github::snapshot(program, sources, report),
        };
        Fragment {
            text,
            json: matches!(self.style, Style::Json),
            tally: Tally::of(program, self.fail_on, report),
        }
    }
}

/// One snapshot's part of a streamed report, and what the end of the report counts from it.
pub struct Fragment {
    text: String,
    /// A JSON array element, rendered as the first one.
    json: bool,
    tally: Tally,
}

/// What the writer keeps of each report: the verdict and the counts for the summary.
struct Tally {
    fails: bool,
    summary: Summary,
    waived: usize,
}

impl Tally {
    fn of(program: &Program, fail_on: FailOn, report: &SnapshotReport) -> Tally {
        Tally {
            fails: report.fails(program, fail_on),
            summary: report.summary,
            waived: report.waived_count(),
        }
    }
}

/// Writes a report as snapshots arrive: human, JSON and GitHub output stream out; SARIF,
/// JUnit and Markdown keep only what their document needs (findings, test cases, summaries).
pub struct ReportWriter<'p> {
    program: &'p Program,
    kind: Kind<'p>,
    out: Box<dyn Write>,
    to_file: Option<PathBuf>,
    error: Option<std::io::Error>,
    run: RunInfo,
    fail_on: FailOn,
    count: usize,
    totals: Summary,
    waived: usize,
    failed: bool,
}

impl<'p> ReportWriter<'p> {
    /// Opens the output (`-o FILE` or standard output) and writes the start of the report.
    pub fn open(
        program: &'p Program,
        selected: &[u32],
        format: Format,
        human: crate::diag::RenderOptions,
        output: Option<&Path>,
        run: RunInfo,
        fail_on: FailOn,
    ) -> Result<ReportWriter<'p>, Diag> {
        let out: Box<dyn Write> = match output {
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path).map_err(|e| {
                    Diag::error(
                        codes::UNWRITABLE,
                        format!("cannot write {}: {e}", path.display()),
                    )
                    .help("check that the directory exists and is writable")
                })?,
            )),
            None => Box::new(std::io::BufWriter::new(std::io::stdout())),
        };
        let kind = match format {
            Format::Human => Kind::Human(human),
            Format::Json => Kind::Json,
            Format::Github => Kind::Github,
            Format::Sarif => Kind::Sarif(report::sarif::SarifBuilder::new(program, selected)),
            Format::Junit => Kind::Junit(report::junit::JunitBuilder::new(program)),
            Format::Markdown => Kind::Markdown(report::markdown::MarkdownBuilder::new(program)),
        };
        let mut writer = ReportWriter {
            program,
            kind,
            out,
            to_file: output.map(Path::to_path_buf),
            error: None,
            run,
            fail_on,
            count: 0,
            totals: Summary::default(),
            waived: 0,
            failed: false,
        };
        let head = match &writer.kind {
            Kind::Json => report::json::head(&writer.run),
            Kind::Github => report::github::preamble(&writer.run),
            _ => String::new(),
        };
        writer.write(&head);
        Ok(writer)
    }

    fn write(&mut self, text: &str) {
        if self.error.is_none() && !text.is_empty() {
            if let Err(e) = self.out.write_all(text.as_bytes()) {
                self.error = Some(e);
            }
        }
    }

    /// Adds one snapshot's report.
    pub fn host(&mut self, sources: &SourceMap, report: &SnapshotReport) {
        self.tally(&Tally::of(self.program, self.fail_on, report));
        let text = match &mut self.kind {
            Kind::Human(options) => report::human::render(
                self.program,
                sources,
                std::slice::from_ref(report),
                *options,
            ),
            Kind::Json => report::json::snapshot(self.program, sources, report, self.count == 0),
            Kind::Github => report::github::snapshot(self.program, sources, report),
            Kind::Sarif(b) => {
                b.add(sources, report);
                String::new()
            }
            Kind::Junit(b) => {
                b.add(sources, report, &self.run);
                String::new()
            }
            Kind::Markdown(b) => {
                b.add(sources, report);
                String::new()
            }
        };
        self.count += 1;
        self.write(&text);
    }

    /// What renders one snapshot's part of the report away from the writer, for the formats
    /// whose parts do not depend on each other (human, JSON, GitHub); `None` for the others,
    /// whose documents are built from every report in turn.
    pub fn renderer(&self, sources: SourceMap) -> Option<Renderer<'p>> {
        let style = match &self.kind {
            Kind::Human(options) => Style::Human(*options),
            Kind::Json => Style::Json,
            Kind::Github => Style::Github,
            Kind::Sarif(_) | Kind::Junit(_) | Kind::Markdown(_) => return None,
        };
        Some(Renderer {
            program: self.program,
            sources,
            style,
            fail_on: self.fail_on,
        })
    }

    /// Adds one snapshot's report, rendered by [`Renderer::render`]: the same bytes as
    /// [`ReportWriter::host`] writes for it.
    pub fn fragment(&mut self, fragment: Fragment) {
        self.tally(&fragment.tally);
        if fragment.json && self.count > 0 {
            // The renderer cannot know whether a snapshot came before; `json::snapshot` with
            // `first = false` is the same text after a comma.
            self.write(",");
        }
        self.count += 1;
        self.write(&fragment.text);
    }

    fn tally(&mut self, tally: &Tally) {
        if tally.fails {
            self.failed = true;
        }
        let s = tally.summary;
        self.totals.pass += s.pass;
        self.totals.fail += s.fail;
        self.totals.not_applicable += s.not_applicable;
        self.totals.error += s.error;
        self.waived += tally.waived;
    }

    /// Whether any snapshot had a failing (unwaived) rule at or above `--fail-on`.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Writes the end of the report. `problems` is the number of snapshots that could not be
    /// read; `waivers` the run's waivers, whose states JSON reports.
    pub fn finish(
        mut self,
        problems: usize,
        waivers: Option<&crate::waivers::Waivers>,
        sources: &SourceMap,
    ) -> Result<(), Diag> {
        let kind = std::mem::replace(&mut self.kind, Kind::Github);
        let text = match kind {
            Kind::Human(_) => {
                let mut out = String::new();
                if self.count > 1 {
                    let t = self.totals;
                    out.push_str(&format!(
                        "{} snapshots: {} passed, {} failed, {} not applicable, {} undecided",
                        self.count, t.pass, t.fail, t.not_applicable, t.error
                    ));
                    if self.waived > 0 {
                        out.push_str(&format!(", {} waived", self.waived));
                    }
                    out.push('\n');
                }
                if let Some(now) = &self.run.now {
                    out.push_str(&format!("waivers judged against {}\n", now.describe()));
                }
                out
            }
            Kind::Json => {
                let mut trailing = Vec::new();
                if let Some(w) = waivers {
                    if let Ok(v) = serde_json::to_value(w.statuses(sources)) {
                        trailing.push(("waivers", v));
                    }
                }
                report::json::tail(self.count, &trailing)
            }
            Kind::Github => String::new(),
            Kind::Sarif(b) => b.finish(&self.run, problems == 0),
            Kind::Junit(b) => {
                if let Err(e) = b.finish(&mut self.out) {
                    self.error.get_or_insert(e);
                }
                String::new()
            }
            Kind::Markdown(b) => b.finish(&self.run, problems),
        };
        self.write(&text);
        if self.error.is_none() {
            if let Err(e) = self.out.flush() {
                self.error = Some(e);
            }
        }
        match (self.error, &self.to_file) {
            (Some(e), Some(path)) => Err(Diag::error(
                codes::UNWRITABLE,
                format!("cannot write {}: {e}", path.display()),
            )
            .help("check that the disk has room and the file is writable")),
            // A closed pipe (`| head`) is not an error worth reporting.
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(text: &'static [u8]) -> Stream {
        Stream {
            name: "s.ndjson".to_string(),
            reader: Box::new(std::io::Cursor::new(text)),
            line: 0,
        }
    }

    /// Every item of a stream as `(source, text)`, passing each buffer back in as the reader
    /// does, so that a long line's buffer is reused for the short ones after it.
    fn items(text: &'static [u8]) -> Vec<(String, String)> {
        let mut stream = stream(text);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match stream.next_line(buf) {
                Ok(item) => {
                    let text = match item.bytes {
                        Ok(mut b) => {
                            let text = String::from_utf8_lossy(&b).into_owned();
                            b.clear();
                            buf = b;
                            text
                        }
                        Err(d) => {
                            buf = Vec::new();
                            format!("error: {}", d.message)
                        }
                    };
                    out.push((item.source, text));
                }
                Err(_) => return out,
            }
        }
    }

    #[test]
    fn reused_buffers_hold_only_their_own_line() {
        let got = items(b"{\"a\": \"a long first line\"}\r\n\n  \n{}\n{\"b\": 1}");
        let want = [
            ("s.ndjson:1", "{\"a\": \"a long first line\"}"),
            ("s.ndjson:4", "{}"),
            ("s.ndjson:5", "{\"b\": 1}"),
        ];
        assert_eq!(
            got,
            want.map(|(s, t)| (s.to_string(), t.to_string())).to_vec()
        );
    }

    #[test]
    fn an_empty_stream_has_no_items() {
        assert!(items(b"").is_empty());
        assert!(items(b"\n\r\n \n").is_empty());
    }
}
