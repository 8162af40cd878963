//! Source text to typed AST. Only this module (and its children) knows about pest.

pub mod ast;
mod build;
pub mod fmt;
mod lower;
mod quick;

use crate::diag::Diag;
use crate::source::{FileId, Span};

pub use lower::{parse_file, parse_template_expr};

/// Brackets may nest this deep in a policy; deeper input is refused before pest sees it.
pub const MAX_NESTING: usize = 64;
/// An expression tree may be this deep (for example a long chain of `+`).
pub const MAX_EXPR_DEPTH: u32 = 256;
/// Largest policy file accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 4 * 1024 * 1024;

pub mod codes {
    pub const SYNTAX: &str = "expolicy::parse::syntax";
    pub const TOO_DEEP: &str = "expolicy::parse::too_deep";
    pub const TOO_LARGE: &str = "expolicy::parse::too_large";
    pub const INVALID_UTF8: &str = "expolicy::parse::invalid_utf8";
    pub const BAD_ESCAPE: &str = "expolicy::parse::bad_escape";
    pub const BAD_TEMPLATE: &str = "expolicy::parse::bad_template";
    pub const INT_RANGE: &str = "expolicy::parse::integer_out_of_range";
    pub const CHAINED_OPERATOR: &str = "expolicy::parse::chained_operator";
    /// Every code above, for tests that check each one is exercised.
    pub const ALL: &[&str] = &[
        SYNTAX,
        TOO_DEEP,
        TOO_LARGE,
        INVALID_UTF8,
        BAD_ESCAPE,
        BAD_TEMPLATE,
        INT_RANGE,
        CHAINED_OPERATOR,
    ];
}

/// Refuses bracket nesting deeper than [`MAX_NESTING`] with a diagnostic at the bracket that
/// went too deep. Strings and comments are skipped as the grammar defines them.
pub fn check_nesting(text: &str, file: FileId) -> Result<(), Diag> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Diag::error(
                        codes::TOO_DEEP,
                        format!("brackets nest more than {MAX_NESTING} levels deep"),
                    )
                    .label(Span::new(file, i, i + 1), "this bracket is too deep")
                    .help("split the expression into named `let` definitions"));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Decodes a policy file, refusing what is not UTF-8 or is too large.
pub fn decode_policy(bytes: &[u8], file: FileId) -> Result<&str, Diag> {
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(Diag::error(
            codes::TOO_LARGE,
            format!(
                "policy file is {} bytes; the limit is {MAX_POLICY_BYTES}",
                bytes.len()
            ),
        )
        .help("split the pack into several files"));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        Diag::error(codes::INVALID_UTF8, "policy file is not valid UTF-8")
            .label(Span::new(file, at, at), "invalid byte here")
            .help("save the file as UTF-8")
    })
}
