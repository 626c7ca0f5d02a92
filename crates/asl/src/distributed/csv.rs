//! Text-delimited files as Step Functions parses them, pushed chunk by chunk.
//!
//! AWS's rules ("How Step Functions parses input CSV files"), which no CSV crate
//! implements as a whole (backslash escapes outside quotes, a backslash before any other
//! character dropped), hence a small state machine of our own:
//! - the delimiter is `CSVDelimiter` (comma by default); a newline (`\n`, `\r\n` or `\r`)
//!   ends a record;
//! - every field is a string; a field in double quotes may hold delimiters and newlines,
//!   and `""` inside it is one `"`;
//! - a backslash escapes a backslash, a double quote or the delimiter; before any other
//!   character it is dropped;
//! - a row with fewer fields than the header gets empty strings for the missing ones; a
//!   row with more has the extra ones dropped.
//!
//! What AWS's recordings pin and this keeps: a trailing newline adds no row, a line of
//! spaces is a row (`"   "` then empty strings), a header such as `H1,` names a field
//! `""`, duplicate `CSVHeaders` fail with "CSV headers cannot contain duplicates.", and an
//! item's keys come in the order AWS's Java map gives them (see [`java_hash_order`]).
//! What Cairn chose where AWS is not pinned: a UTF-8 byte order mark at the start is
//! skipped, an empty line is skipped, a quoted field still open at the end of the object
//! and bytes that are not UTF-8 fail the read.

use serde_json::{Map, Value};

use crate::distributed::config::{CsvFormat, CsvHeaders};
use crate::distributed::{check_item_size, Bom, Decoder, ReadError, MAX_ITEM_BYTES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    FieldStart,
    Unquoted,
    /// A `"` inside an unquoted field: the first of `""`, or a quote kept as text.
    QuoteInUnquoted,
    Quoted,
    /// A `"` inside a quoted field: the end of the quotes, or the first of `""`.
    QuoteInQuoted,
    /// After a backslash, in the state it came from.
    Escaped(Inner),
    /// After a `\r` that ended a record: a `\n` right after it belongs to it.
    AfterCr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Unquoted,
    Quoted,
}

/// Decodes CSV into items: objects of strings keyed by header.
#[derive(Debug)]
pub struct CsvDecoder {
    delimiter: u8,
    state: State,
    bom: Bom,
    field: Vec<u8>,
    row: Vec<String>,
    /// The current record has any byte at all (an empty line is skipped).
    row_started: bool,
    row_bytes: usize,
    /// A field of the current record was not UTF-8.
    row_invalid: bool,
    headers: Option<Headers>,
    /// Items produced so far (for messages).
    produced: u64,
}

/// The header names and the order an item's keys come in.
#[derive(Debug)]
struct Headers {
    names: Vec<String>,
    order: Vec<usize>,
}

impl Headers {
    fn new(names: Vec<String>) -> Result<Headers, ReadError> {
        let mut seen = std::collections::HashSet::new();
        if !names.iter().all(|n| seen.insert(n.as_str())) {
            return Err(ReadError::new("CSV headers cannot contain duplicates."));
        }
        let order = java_hash_order(&names);
        Ok(Headers { names, order })
    }
}

impl CsvDecoder {
    pub fn new(format: &CsvFormat) -> Result<CsvDecoder, ReadError> {
        let headers = match &format.headers {
            CsvHeaders::FirstRow => None,
            CsvHeaders::Given(names) => Some(Headers::new(names.clone())?),
        };
        Ok(CsvDecoder {
            delimiter: format.delimiter.byte(),
            state: State::FieldStart,
            bom: Bom::new(),
            field: Vec::new(),
            row: Vec::new(),
            row_started: false,
            row_bytes: 0,
            row_invalid: false,
            headers,
            produced: 0,
        })
    }

    fn feed(&mut self, bytes: &[u8], items: &mut Vec<Value>) -> Result<(), ReadError> {
        for &b in bytes {
            self.byte(b, items)?;
        }
        Ok(())
    }

    fn byte(&mut self, b: u8, items: &mut Vec<Value>) -> Result<(), ReadError> {
        let delimiter = self.delimiter;
        if self.state == State::AfterCr {
            self.state = State::FieldStart;
            if b == b'\n' {
                return Ok(());
            }
        }
        if b != b'\n' && b != b'\r' {
            self.row_started = true;
        }
        self.row_bytes += 1;
        if self.row_bytes > MAX_ITEM_BYTES * 2 {
            // A row this long cannot make an item under the limit (its fields become
            // at least as many bytes of JSON); stop before holding more of it.
            return Err(ReadError::new(format!(
                "The CSV row for item {} is longer than {} bytes.",
                self.produced,
                MAX_ITEM_BYTES * 2
            )));
        }
        match self.state {
            State::FieldStart | State::Unquoted => {
                let at_start = self.state == State::FieldStart;
                match b {
                    b'"' if at_start => self.state = State::Quoted,
                    b'"' => self.state = State::QuoteInUnquoted,
                    b'\\' => self.state = State::Escaped(Inner::Unquoted),
                    b'\n' => self.end_record(items)?,
                    b'\r' => {
                        self.end_record(items)?;
                        self.state = State::AfterCr;
                    }
                    _ if b == delimiter => self.end_field(),
                    _ => {
                        self.field.push(b);
                        self.state = State::Unquoted;
                    }
                }
            }
            State::QuoteInUnquoted => {
                // "You can preserve double quotes by repeating them", quoted or not.
                self.field.push(b'"');
                self.state = State::Unquoted;
                if b != b'"' {
                    return self.byte(b, items);
                }
            }
            State::Quoted => match b {
                b'"' => self.state = State::QuoteInQuoted,
                b'\\' => self.state = State::Escaped(Inner::Quoted),
                _ => self.field.push(b),
            },
            State::QuoteInQuoted => match b {
                b'"' => {
                    self.field.push(b'"');
                    self.state = State::Quoted;
                }
                b'\n' => self.end_record(items)?,
                b'\r' => {
                    self.end_record(items)?;
                    self.state = State::AfterCr;
                }
                _ if b == delimiter => self.end_field(),
                // Text after the closing quote is kept, as lenient parsers do.
                b'\\' => self.state = State::Escaped(Inner::Unquoted),
                _ => {
                    self.field.push(b);
                    self.state = State::Unquoted;
                }
            },
            State::Escaped(inner) => {
                // A backslash, a quote or the delimiter is kept as text; before any
                // other character the backslash alone is dropped ("silently removed").
                self.field.push(b);
                self.state = match inner {
                    Inner::Unquoted => State::Unquoted,
                    Inner::Quoted => State::Quoted,
                };
            }
            // Resolved at the top of this function.
            State::AfterCr => {}
        }
        Ok(())
    }

    fn end_field(&mut self) {
        if self.state == State::QuoteInUnquoted {
            self.field.push(b'"');
        }
        let bytes = std::mem::take(&mut self.field);
        match String::from_utf8(bytes) {
            Ok(text) => self.row.push(text),
            Err(_) => {
                // Refused when the record ends, with the item's index.
                self.row_invalid = true;
                self.row.push(String::new());
            }
        }
        self.state = State::FieldStart;
    }

    fn end_record(&mut self, items: &mut Vec<Value>) -> Result<(), ReadError> {
        let started = self.row_started;
        self.end_field();
        let fields = std::mem::take(&mut self.row);
        self.row_started = false;
        self.row_bytes = 0;
        if !started {
            // An empty line: no record.
            return Ok(());
        }
        if std::mem::take(&mut self.row_invalid) {
            return Err(ReadError::new(format!(
                "The CSV row for item {} is not valid UTF-8.",
                self.produced
            )));
        }
        let Some(headers) = &self.headers else {
            self.headers = Some(Headers::new(fields)?);
            return Ok(());
        };
        let mut item = Map::new();
        let mut size = 2;
        for &i in &headers.order {
            let value = fields.get(i).cloned().unwrap_or_default();
            size += headers.names[i].len() + value.len() + 6;
            item.insert(headers.names[i].clone(), Value::String(value));
        }
        if size > MAX_ITEM_BYTES {
            let exact = serde_json::to_vec(&item).map(|v| v.len()).unwrap_or(size);
            check_item_size(exact, self.produced)?;
        }
        self.produced += 1;
        items.push(Value::Object(item));
        Ok(())
    }
}

impl Decoder for CsvDecoder {
    fn push(&mut self, chunk: &[u8], items: &mut Vec<Value>) -> Result<(), ReadError> {
        let bytes = self.bom.strip(chunk);
        self.feed(&bytes, items)
    }

    fn finish(&mut self, items: &mut Vec<Value>) -> Result<(), ReadError> {
        let rest = self.bom.rest();
        self.feed(&rest, items)?;
        match self.state {
            State::Quoted | State::Escaped(Inner::Quoted) => Err(ReadError::new(format!(
                "The CSV file ends inside a quoted field (item {}).",
                self.produced
            ))),
            _ => {
                if self.row_started {
                    self.end_record(items)?;
                }
                Ok(())
            }
        }
    }
}

/// The order in which Java's `HashMap` iterates `keys` inserted in this order: by bucket
/// (`hash ^ (hash >>> 16)` masked to the table size, which starts at 16 and doubles past
/// three quarters full), then by insertion. AWS's recordings show CSV items with their
/// keys in exactly this order (`{"0","{}","True"}` for a header `0,True,{}`, `{"","H1"}`
/// for `H1,`), so Cairn gives the same JSON text. Not modelled: the red-black trees Java
/// builds for a bucket of eight or more keys in a table of 64 or more.
pub fn java_hash_order(keys: &[String]) -> Vec<usize> {
    let mut capacity: usize = 16;
    while keys.len() > capacity / 4 * 3 {
        capacity *= 2;
    }
    let bucket = |key: &str| {
        let mut h: i32 = 0;
        for unit in key.encode_utf16() {
            h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
        }
        let h = h as u32;
        ((h ^ (h >> 16)) as usize) & (capacity - 1)
    };
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| bucket(&keys[i]));
    order
}
