//! Located diagnostics for environment files.
//!
//! A [`Diagnostic`] is plain data (code, message, byte span, label, hint);
//! [`Diagnostics::render`] turns a list of them into the text a person reads,
//! with file, line and column, through `codespan-reporting`. Rendering writes
//! into a `String`: no terminal, no I/O.

use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::{Files, SimpleFile};
use codespan_reporting::term::{self, termcolor::NoColor};
use serde::Serialize;

/// One problem found in an environment file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable code, e.g. `E0102`, documented in `chronous explain`-style tables.
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Byte range in the file the problem points at (None: the file as a whole).
    pub span: Option<Range<usize>>,
    /// Short text shown under the offending value.
    pub label: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            label: String::new(),
            hint: None,
        }
    }
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::new(code, message)
        }
    }
    pub fn at(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.span = Some(span);
        self.label = label.into();
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Diagnostics of one file, with the file's text so they can be located.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub file: String,
    pub source: String,
    pub items: Vec<Diagnostic>,
}

/// A diagnostic with its position resolved, for JSON output.
#[derive(Debug, Clone, Serialize)]
pub struct LocatedDiagnostic<'a> {
    pub file: &'a str,
    pub line: Option<usize>,
    pub column: Option<usize>,
    #[serde(flatten)]
    pub diagnostic: &'a Diagnostic,
}

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let file = SimpleFile::new(&self.file, &self.source);
        let offset = offset.min(self.source.len());
        let line = file.line_index((), offset).unwrap_or(0);
        let col = file.column_number((), line, offset).unwrap_or(1);
        (line + 1, col)
    }

    pub fn located(&self) -> Vec<LocatedDiagnostic<'_>> {
        self.items
            .iter()
            .map(|d| {
                let (line, column) = match &d.span {
                    Some(s) => {
                        let (l, c) = self.line_col(s.start);
                        (Some(l), Some(c))
                    }
                    None => (None, None),
                };
                LocatedDiagnostic {
                    file: &self.file,
                    line,
                    column,
                    diagnostic: d,
                }
            })
            .collect()
    }

    /// Render every diagnostic as plain text (no colour), as a person reads it.
    pub fn render(&self) -> String {
        let file = SimpleFile::new(self.file.as_str(), self.source.as_str());
        let mut out = NoColor::new(Vec::new());
        let config = term::Config::default();
        for d in &self.items {
            let base = match d.severity {
                Severity::Error => CsDiagnostic::error(),
                Severity::Warning => CsDiagnostic::warning(),
            };
            let mut cs = base.with_code(d.code).with_message(&d.message);
            if let Some(span) = &d.span {
                let span = span.start.min(self.source.len())..span.end.min(self.source.len());
                cs = cs.with_labels(vec![Label::primary((), span).with_message(&d.label)]);
            } else {
                cs = cs.with_notes(vec![format!("in {}", self.file)]);
            }
            if let Some(h) = &d.hint {
                cs = cs.with_notes(vec![format!("hint: {h}")]);
            }
            // Writing into a Vec cannot fail.
            let _ = term::emit(&mut out, &config, &file, &cs);
        }
        String::from_utf8_lossy(&out.into_inner()).into_owned()
    }
}
