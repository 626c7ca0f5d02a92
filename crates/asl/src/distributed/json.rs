//! JSON files (one top-level array) and JSON Lines, pushed chunk by chunk.
//!
//! A JSON array is split into its elements by a small scanner that follows strings,
//! escapes and nesting; each element is then parsed on its own, so only one element is
//! ever held. AWS pins one message: a file whose top-level value is not an array fails
//! with "Attempting to map over non-iterable node.". Other malformed files fail with a
//! message that says where.

use serde_json::Value;

use crate::distributed::{check_item_size, Bom, Decoder, ReadError, MAX_ITEM_BYTES};

const NOT_ITERABLE: &str = "Attempting to map over non-iterable node.";

/// Raw element text longer than this cannot be an item under the limit; stop holding it.
const MAX_RAW_BYTES: usize = MAX_ITEM_BYTES * 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the `[` (whitespace and a byte order mark allowed).
    Start,
    /// After `[` or `,`: a value, or (after `[` only) the `]`.
    ExpectValue { first: bool },
    /// Inside an element.
    Value {
        depth: u32,
        in_string: bool,
        escaped: bool,
    },
    /// After the closing `]`: whitespace only.
    End,
}

/// Decodes a JSON file holding one array into its elements.
#[derive(Debug)]
pub struct JsonArrayDecoder {
    state: State,
    element: Vec<u8>,
    offset: u64,
    produced: u64,
    bom: Bom,
}

impl Default for JsonArrayDecoder {
    fn default() -> Self {
        JsonArrayDecoder {
            bom: Bom::new(),
            state: State::Start,
            element: Vec::new(),
            offset: 0,
            produced: 0,
        }
    }
}

impl JsonArrayDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn malformed(&self, what: &str) -> ReadError {
        ReadError::new(format!(
            "The JSON file is not valid JSON at byte {}: {what}",
            self.offset
        ))
    }

    fn end_element(&mut self, items: &mut Vec<Value>) -> Result<(), ReadError> {
        let raw = std::mem::take(&mut self.element);
        let index = self.produced;
        items.push(parse_item(&raw, index, || {
            format!("The JSON file is not valid JSON: item {index}")
        })?);
        self.produced += 1;
        Ok(())
    }

    fn byte(&mut self, b: u8, items: &mut Vec<Value>) -> Result<(), ReadError> {
        let ws = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        match self.state {
            State::Start => {
                if ws {
                } else if b == b'[' {
                    self.state = State::ExpectValue { first: true };
                } else if matches!(b, b'{' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') {
                    return Err(ReadError::new(NOT_ITERABLE));
                } else {
                    return Err(self.malformed("expected '['"));
                }
            }
            State::ExpectValue { first } => {
                if ws {
                } else if b == b']' && first {
                    self.state = State::End;
                } else if b == b']' || b == b',' {
                    return Err(self.malformed("expected a value"));
                } else {
                    self.state = State::Value {
                        depth: 0,
                        in_string: false,
                        escaped: false,
                    };
                    return self.byte(b, items);
                }
            }
            State::Value {
                depth,
                in_string,
                escaped,
            } => {
                if in_string {
                    self.element.push(b);
                    self.state = State::Value {
                        depth,
                        in_string: b != b'"' || escaped,
                        escaped: b == b'\\' && !escaped,
                    };
                } else if depth == 0 && (b == b',' || b == b']') {
                    self.end_element(items)?;
                    self.state = if b == b',' {
                        State::ExpectValue { first: false }
                    } else {
                        State::End
                    };
                } else {
                    let depth = match b {
                        b'[' | b'{' => depth + 1,
                        b']' | b'}' => match depth.checked_sub(1) {
                            Some(d) => d,
                            None => return Err(self.malformed("unbalanced brackets")),
                        },
                        _ => depth,
                    };
                    self.element.push(b);
                    self.state = State::Value {
                        depth,
                        in_string: b == b'"',
                        escaped: false,
                    };
                }
                if self.element.len() > MAX_RAW_BYTES {
                    return Err(ReadError::new(format!(
                        "Item at index {} is over the limit of {MAX_ITEM_BYTES} bytes for one item.",
                        self.produced
                    )));
                }
            }
            State::End => {
                if !ws {
                    return Err(self.malformed("unexpected text after the array"));
                }
            }
        }
        Ok(())
    }
}

impl Decoder for JsonArrayDecoder {
    fn push(&mut self, chunk: &[u8], items: &mut Vec<Value>) -> Result<(), ReadError> {
        let bytes = self.bom.strip(chunk);
        for &b in bytes.iter() {
            self.byte(b, items)?;
            self.offset += 1;
        }
        Ok(())
    }

    fn finish(&mut self, items: &mut Vec<Value>) -> Result<(), ReadError> {
        for b in self.bom.rest() {
            self.byte(b, items)?;
            self.offset += 1;
        }
        match self.state {
            State::End => Ok(()),
            State::Start => Err(self.malformed("the file is empty")),
            _ => Err(self.malformed("the array is not closed")),
        }
    }
}

/// Decodes JSON Lines: one value a line; blank lines are skipped.
#[derive(Debug)]
pub struct JsonlDecoder {
    line: Vec<u8>,
    line_number: u64,
    produced: u64,
    bom: Bom,
}

impl Default for JsonlDecoder {
    fn default() -> Self {
        JsonlDecoder {
            line: Vec::new(),
            line_number: 0,
            produced: 0,
            bom: Bom::new(),
        }
    }
}

impl JsonlDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn end_line(&mut self, items: &mut Vec<Value>) -> Result<(), ReadError> {
        self.line_number += 1;
        let raw = std::mem::take(&mut self.line);
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let line = self.line_number;
        items.push(parse_item(&raw, self.produced, || {
            format!("The JSON Lines file is not valid: line {line}")
        })?);
        self.produced += 1;
        Ok(())
    }
}

impl Decoder for JsonlDecoder {
    fn push(&mut self, chunk: &[u8], items: &mut Vec<Value>) -> Result<(), ReadError> {
        let bytes = self.bom.strip(chunk);
        let mut rest: &[u8] = &bytes;
        while let Some(at) = rest.iter().position(|b| *b == b'\n') {
            self.line.extend_from_slice(&rest[..at]);
            self.end_line(items)?;
            rest = &rest[at + 1..];
        }
        self.line.extend_from_slice(rest);
        if self.line.len() > MAX_RAW_BYTES {
            return Err(ReadError::new(format!(
                "Item at index {} is over the limit of {MAX_ITEM_BYTES} bytes for one item.",
                self.produced
            )));
        }
        Ok(())
    }

    fn finish(&mut self, items: &mut Vec<Value>) -> Result<(), ReadError> {
        let rest = self.bom.rest();
        self.line.extend_from_slice(&rest);
        if !self.line.is_empty() {
            self.end_line(items)?;
        }
        Ok(())
    }
}

/// One item's JSON text parsed, and checked against the item size limit (as compact
/// JSON: raw text at most the limit long cannot be over it).
fn parse_item(raw: &[u8], index: u64, what: impl Fn() -> String) -> Result<Value, ReadError> {
    let value: Value =
        serde_json::from_slice(raw).map_err(|e| ReadError::new(format!("{}: {e}", what())))?;
    if raw.len() > MAX_ITEM_BYTES {
        let compact = serde_json::to_vec(&value).map_or(usize::MAX, |v| v.len());
        check_item_size(compact, index)?;
    }
    Ok(value)
}
