//! The PDF narrative (`report.pdf`): rendered from the package's own `evidence.json`, so the
//! narrative cannot disagree with the data (ARCHITECTURE.md, "Renderers decide nothing").
//!
//! The template `templates/report.typ` reads `/evidence.json`, `/files.json` (the package's other
//! files) and `/render.json` (notes from this module) and lays out the whole report; this module
//! validates the input, prepares those files, compiles, and exports PDF/A-2b. The document date,
//! `today()` and the PDF identifier come from the evidence, never the clock, so the same evidence
//! gives the same bytes.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use typst::diag::{Severity, SourceDiagnostic};
use typst::foundations::Smart;
use typst::syntax::Lines;
use typst::{World, WorldExt};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, PdfStandard, PdfStandards, Timestamp};

use super::world::{self, ReportWorld};
use crate::evidence::{Evidence, PackageFile};

/// What stands in for a character no embedded font can show (PDF/A forbids `.notdef` glyphs).
const REPLACEMENT: char = '\u{FFFD}';

/// Why the narrative could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The bytes are not an evidence document of this tool's schema.
    #[error("evidence.json is not a valid evidence document: {0}")]
    Evidence(#[source] serde_json::Error),
    /// `as_of` is not an RFC 3339 time, so the document cannot be dated.
    #[error("evidence.json as_of `{0}` is not an RFC 3339 time")]
    AsOf(String),
    /// The template failed to compile or lay out; `at` is the first error's position.
    #[error("report template {at}: {message}")]
    Template { at: Position, message: String },
    /// The laid-out document could not be exported as PDF/A-2b.
    #[error("pdf export {at}: {message}")]
    Export { at: Position, message: String },
    /// Typst panicked; the render is abandoned rather than taking the process down.
    #[error("the pdf renderer failed unexpectedly: {0}")]
    Internal(String),
}

/// Where a diagnostic points: a file of the report's world, and a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// `/report.typ`, `/evidence.json` or `/files.json`; `None` when typst gave no position.
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line, self.column) {
            (Some(file), Some(line), Some(column)) => {
                write!(f, "{file}, line {line}, column {column}")
            }
            (Some(file), _, _) => write!(f, "{file}"),
            (None, _, _) => write!(f, "(no position)"),
        }
    }
}

/// Renders the narrative from the package's own evidence.json bytes and the list of the package's
/// other files.
pub fn render_report(evidence_json: &[u8], files: &[PackageFile]) -> Result<Vec<u8>, RenderError> {
    render_with_template(world::TEMPLATE, evidence_json, files)
}

/// Renders with another template: for tests of the error path, and for trying template changes
/// without rebuilding. The template sees the same virtual files as the built-in one.
pub fn render_with_template(
    template: &str,
    evidence_json: &[u8],
    files: &[PackageFile],
) -> Result<Vec<u8>, RenderError> {
    let evidence: Evidence =
        serde_json::from_slice(evidence_json).map_err(RenderError::Evidence)?;
    // The document date is the as-of time, parsed once with the evidence: never the clock.
    let timestamp = world::typst_datetime(evidence.as_of)
        .map(Timestamp::new_utc)
        .ok_or_else(|| RenderError::AsOf(crate::time::secs_text(evidence.as_of)))?;

    let mut replaced = 0u64;
    let mut value: serde_json::Value =
        serde_json::from_slice(evidence_json).map_err(RenderError::Evidence)?;
    replace_unshowable(&mut value, &mut replaced);
    let mut files_value = serde_json::to_value(files).map_err(RenderError::Evidence)?;
    replace_unshowable(&mut files_value, &mut replaced);
    let notes = serde_json::json!({ "replaced_characters": replaced });

    let world = ReportWorld::new(
        template,
        to_json(&value)?,
        to_json(&files_value)?,
        to_json(&notes)?,
        evidence.as_of,
    );
    let options = PdfOptions {
        // A hash of the package id identifies the document: stable across renders of one package.
        ident: Smart::Custom(evidence.package_id.clone()),
        creator: Smart::Custom(Some(format!(
            "{} {}",
            evidence.tool.name, evidence.tool.version
        ))),
        timestamp: Some(timestamp),
        standards: PdfStandards::new(&[PdfStandard::A_2b])
            .map_err(|e| RenderError::Internal(e.message().to_string()))?,
        ..PdfOptions::default()
    };

    let result = catch_unwind(AssertUnwindSafe(|| compile_and_export(&world, &options)));
    // Each render is a distinct document: drop comemo's cache so a long run does not grow.
    typst::comemo::evict(0);
    match result {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(RenderError::Internal(message))
        }
    }
}

fn compile_and_export(world: &ReportWorld, options: &PdfOptions) -> Result<Vec<u8>, RenderError> {
    let warned = typst::compile::<PagedDocument>(world);
    for warning in &warned.warnings {
        let at = position(world, warning);
        tracing::debug!(%at, message = %warning.message, "report template warning");
    }
    let document = warned.output.map_err(|errors| {
        let (at, message) = describe(world, &errors);
        RenderError::Template { at, message }
    })?;
    typst_pdf::pdf(&document, options).map_err(|errors| {
        let (at, message) = describe(world, &errors);
        RenderError::Export { at, message }
    })
}

fn to_json(value: &serde_json::Value) -> Result<Vec<u8>, RenderError> {
    serde_json::to_vec(value).map_err(RenderError::Evidence)
}

/// Replaces, in every string of `value`, the characters no embedded font has a glyph for.
///
/// Names in any script reach the report; the fonts cover Latin, Greek, Cyrillic, Arabic and
/// Hebrew, not CJK or emoji. The exact text stays in evidence.json and the CSVs.
fn replace_unshowable(value: &mut serde_json::Value, replaced: &mut u64) {
    match value {
        serde_json::Value::String(s) => {
            if s.chars().all(showable) {
                return;
            }
            *s = s
                .chars()
                .map(|c| {
                    if showable(c) {
                        c
                    } else {
                        *replaced += 1;
                        REPLACEMENT
                    }
                })
                .collect();
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .for_each(|v| replace_unshowable(v, replaced)),
        serde_json::Value::Object(map) => map
            .values_mut()
            .for_each(|v| replace_unshowable(v, replaced)),
        _ => {}
    }
}

/// Whether `c` can be set without a `.notdef` glyph: a font covers it, or shaping drops it
/// (white space and the invisible format characters that shaping hides).
fn showable(c: char) -> bool {
    // Control characters (U+0000, U+0007, ...) have no glyph and are not allowed in PDF/A text.
    (c.is_ascii() && (!c.is_ascii_control() || c == '\n'))
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}')
        || world::font_covers(c)
}

/// The first error's position, and every error's message (with hints) in one line.
fn describe(world: &ReportWorld, errors: &[SourceDiagnostic]) -> (Position, String) {
    let errors: Vec<&SourceDiagnostic> = errors
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    let at = errors
        .first()
        .map(|d| position(world, d))
        .unwrap_or(Position {
            file: None,
            line: None,
            column: None,
        });
    let message = errors
        .iter()
        .map(|d| {
            let mut text = d.message.to_string();
            for hint in &d.hints {
                text.push_str(" (hint: ");
                text.push_str(&hint.v);
                text.push(')');
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ");
    (at, message)
}

fn position(world: &ReportWorld, diagnostic: &SourceDiagnostic) -> Position {
    let span = diagnostic.span;
    let file = span.id();
    let range = world.range(span);
    let (line, column) = match (file, range) {
        (Some(id), Some(range)) => {
            let lines = if id == world.main() {
                Some(world.main_source().lines().clone())
            } else {
                world
                    .file(id)
                    .ok()
                    .and_then(|bytes| std::str::from_utf8(&bytes).ok().map(str::to_owned))
                    .map(Lines::new)
            };
            match lines.and_then(|l| l.byte_to_line_column(range.start)) {
                Some((line, column)) => (Some(line + 1), Some(column + 1)),
                None => (None, None),
            }
        }
        _ => (None, None),
    };
    Position {
        file: file.map(|id| id.get().vpath().get_with_slash().to_owned()),
        line,
        column,
    }
}
