//! What a definition may say that Cairn parses but does not run yet, refused when
//! [`super::ValidateOptions::refuse_not_built`] is set so that nothing is accepted and
//! then ignored.
//!
//! Today that is `ItemReader`, `ItemBatcher` and `ResultWriter` outside a Distributed
//! Map (only a Distributed Map reads, batches and exports its items). Each field is first checked as AWS checks it
//! (the `distributed::config` parsers), so a mistake in it is reported as AWS reports it,
//! then refused with a diagnostic that names the field. Relax an entry here when the Map
//! state runs it, and update `docs/asl-support.md` with it.

use serde_json::Value;

use crate::diagnostic::{pointer, Diagnostic};
use crate::distributed::config::{ItemBatcherSpec, ItemReaderSpec, Language, ResultWriterSpec};
use crate::model::{Map, ProcessorMode, QueryLanguage};

/// Checks and refuses the fields of `map` (at `loc`, the state's location) that the Map
/// state does not run yet.
pub(super) fn map(
    map: &Map,
    language: QueryLanguage,
    loc: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let language = match language {
        QueryLanguage::JsonPath => Language::JsonPath,
        QueryLanguage::JsonAta => Language::JsonAta,
    };
    // ItemReader and ItemBatcher run (module `interpreter::item_source`) in a
    // Distributed Map; AWS allows them nowhere else, and an inline Map would ignore them.
    let inline = map.mode != ProcessorMode::Distributed;
    let fields: [Field<'_>; 3] = [
        (
            "ItemReader",
            map.item_reader.as_ref().map(|v| (v, inline)),
            |v, l, lang, d| ItemReaderSpec::parse(v, l, lang, d).is_some(),
            "an inline Map's items would not be read from S3; use ProcessorMode DISTRIBUTED",
        ),
        (
            "ItemBatcher",
            map.item_batcher.as_ref().map(|v| (v, inline)),
            |v, l, lang, d| ItemBatcherSpec::parse(v, l, lang, d).is_some(),
            "an inline Map's iterations would not receive batches; use ProcessorMode DISTRIBUTED",
        ),
        (
            "ResultWriter",
            map.result_writer.as_ref().map(|v| (v, inline)),
            |v, l, lang, d| ResultWriterSpec::parse(v, l, lang, d).is_some(),
            "an inline Map's results would not be written to S3; use ProcessorMode DISTRIBUTED",
        ),
    ];
    for (field, value, check, consequence) in fields {
        let Some((value, refused)) = value else {
            continue;
        };
        let field_loc = pointer(loc, field);
        // AWS's own checks first: a mistake in the field is reported as AWS words it.
        check(value, &field_loc, language, diagnostics);
        if !refused {
            continue;
        }
        diagnostics.push(Diagnostic::schema(
            field_loc,
            format!(
                "Cairn does not support a Map's '{field}' yet: {consequence} \
                 (see docs/asl-support.md, \"Map (distributed)\")"
            ),
        ));
    }
}

/// A field: its name, its value and whether it is refused, its check, and what
/// accepting it would do.
type Field<'a> = (&'a str, Option<(&'a Value, bool)>, Check, &'a str);

/// One of the `distributed::config` parsers, its result reduced to "valid".
type Check = fn(&Value, &str, Language, &mut Vec<Diagnostic>) -> bool;
