//! JSONPath as AWS Step Functions applies it (its own dialect: `$.detail-type` is valid).
//!
//! Two kinds of path appear in ASL:
//! - a **Path** (`InputPath`, `OutputPath`, `ItemsPath`, `*Path` fields, `.$` keys) may
//!   select many nodes (wildcards, slices, filters) and then yields an array;
//! - a **Reference Path** (`ResultPath`, Choice `Variable`) must name one node.
//!
//! A path starting with `$$` is evaluated against the context object, not the input.

use serde_json::Value;

/// Why a path text is not a valid path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PathError {
    pub message: String,
}

/// Why a Reference Path could not be written into a value (ResultPath).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SetError {
    pub message: String,
}

/// A parsed path. Cheap to evaluate; parse once at definition time.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    source: String,
}

impl Path {
    /// `$`: the whole input.
    pub fn root() -> Path {
        todo!("path::Path::root")
    }

    /// Parses a Path (wildcards, slices, unions and filters allowed), `$…` or `$$…`.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let _ = text;
        todo!("path::Path::parse")
    }

    /// Parses a Reference Path: one node only (no wildcards, slices, unions or filters).
    pub fn parse_reference(text: &str) -> Result<Path, PathError> {
        let _ = text;
        todo!("path::Path::parse_reference")
    }

    /// The path as written in the definition.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `$` exactly.
    pub fn is_root(&self) -> bool {
        todo!("path::Path::is_root")
    }

    /// Starts with `$$`: evaluated against the context object.
    pub fn is_context(&self) -> bool {
        todo!("path::Path::is_context")
    }

    /// True when the path can select at most one node (no wildcard/slice/union/filter).
    pub fn is_definite(&self) -> bool {
        todo!("path::Path::is_definite")
    }

    /// Evaluates the path against `root` (the caller passes the context object for a
    /// `$$` path). `None` when a definite path matches nothing; an indefinite path
    /// yields the array of what it matched (possibly empty), as AWS does.
    pub fn select(&self, root: &Value) -> Option<Value> {
        let _ = root;
        todo!("path::Path::select")
    }

    /// Writes `value` at this Reference Path inside `target`, creating objects on the
    /// way as ResultPath does; `$` replaces the whole target.
    pub fn set(&self, target: Value, value: Value) -> Result<Value, SetError> {
        let _ = (target, value);
        todo!("path::Path::set")
    }
}
