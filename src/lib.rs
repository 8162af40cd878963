//! expolicy: a policy engine for Windows and Exchange host configuration.
//!
//! source text → [`syntax`] (pest, typed AST with spans) → [`check`] (names resolved, types
//! checked, lowered to an indexed IR) → [`eval`] against a [`snapshot`] → outcomes with
//! evidence → [`report`].

#![allow(
    clippy::result_large_err,
    reason = "a Diag is built only on the error path, where its size costs nothing measurable"
)]

pub mod check;
pub mod cli;
pub mod diag;
pub mod eval;
pub mod explain;
pub mod fleet;
pub mod inputs;
pub mod packtest;
pub mod policy;
pub mod report;
pub mod select;
pub mod snapshot;
pub mod source;
pub mod syntax;
pub mod waivers;
