//! The entry point for a definition text: JSON syntax, schema ([`crate::parse`]) and the
//! checks that span states (transition targets, reachability, duplicate names, size).
//!
//! What AWS reports for the cross-state checks, and how this module words it:
//! - a `Next`, `Default`, `Choices[i].Next`, `Catch[i].Next` or `StartAt` naming no state
//!   of its own state list: `MISSING_TRANSITION_TARGET`, `Missing 'Next' target: <name>`
//!   (AWS says `Next` whatever the field), at that field;
//! - a state nothing leads to: `MISSING_TRANSITION_TARGET`, `State "<name>" is not
//!   reachable.`, at the state;
//! - a state list without any terminal state (`End: true`, `Succeed`, `Fail`):
//!   `MISSING_END_STATE`, `Workflow has no terminal state`, without a location; AWS then
//!   skips the reachability walk for that list;
//! - Express machines and `.sync` / `.waitForTaskToken` resources: AWS's exact texts.

use std::collections::{HashMap, HashSet};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::diagnostic::{index, pointer, Diagnostic, DiagnosticCode, Severity};
use crate::model::{StateKind, StateMachine, Transition};
use crate::parse::parse_definition;

pub mod not_built;

/// Options that change what is accepted.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Largest definition text accepted, in bytes (AWS: 1 MiB).
    pub max_definition_bytes: usize,
    /// Express machines refuse `.sync` and `.waitForTaskToken` integrations.
    pub express: bool,
    /// Refuse what Cairn parses but does not run yet (a Distributed Map's `ItemReader`,
    /// `ItemBatcher`, `ResultWriter`: see [`not_built`]), so that no definition is
    /// accepted and then run differently from AWS. Set by every path that accepts a new
    /// definition (CreateStateMachine, UpdateStateMachine, ValidateStateMachineDefinition,
    /// `cairn validate`, `cairn run`); left off where a stored definition is re-read (it
    /// passed when it was created) and for TestState, which mocks an `ItemReader`'s data.
    pub refuse_not_built: bool,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            max_definition_bytes: 1024 * 1024,
            express: false,
            refuse_not_built: false,
        }
    }
}

/// Validates a definition text. `Ok` carries the machine and any warnings; `Err` carries
/// every diagnostic (at least one error). Never panics, whatever the input.
pub fn validate(
    text: &str,
    options: &ValidateOptions,
) -> Result<(StateMachine, Vec<Diagnostic>), Vec<Diagnostic>> {
    if text.len() > options.max_definition_bytes {
        return Err(vec![Diagnostic::error(
            DiagnosticCode::DefinitionTooLarge,
            "",
            format!(
                "The definition is {} bytes long; it must have length less than or equal to {}",
                text.len(),
                options.max_definition_bytes
            ),
        )]);
    }
    if text.trim().is_empty() {
        return Err(vec![Diagnostic::error(
            DiagnosticCode::MissingDescription,
            "",
            "Received a null or empty workflow input.",
        )]);
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Err(vec![Diagnostic::error(
                DiagnosticCode::InvalidJsonDescription,
                "",
                format!("The definition is not valid JSON: {e}"),
            )])
        }
    };
    if !value.is_object() {
        return Err(vec![Diagnostic::error(
            DiagnosticCode::InvalidJsonDescription,
            "/",
            "The definition must be a JSON object",
        )]);
    }

    // A state name written twice in one `States` object: JSON parsing keeps only the
    // last, so the text itself is scanned.
    let mut diagnostics = duplicate_keys_in_states(text);
    let parsed = parse_definition(&value, &mut diagnostics);
    let Some(machine) = parsed.filter(|_| !has_errors(&diagnostics)) else {
        if !has_errors(&diagnostics) {
            diagnostics.push(Diagnostic::schema("/", "The definition is not valid"));
        }
        return Err(diagnostics);
    };

    let mut checker = Checker {
        express: options.express,
        refuse_not_built: options.refuse_not_built,
        diags: &mut diagnostics,
        names: HashMap::new(),
    };
    checker.machine(&machine, &value, "");

    if has_errors(&diagnostics) {
        Err(diagnostics)
    } else {
        Ok((machine, diagnostics))
    }
}

fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(|d| d.severity == Severity::Error)
}

struct Checker<'d> {
    express: bool,
    refuse_not_built: bool,
    diags: &'d mut Vec<Diagnostic>,
    /// Every state name seen so far, machine-wide, with where it was first defined.
    names: HashMap<String, String>,
}

fn at(base: &str, key: &str) -> String {
    pointer(base, key)
}

impl Checker<'_> {
    fn missing_target(&mut self, location: String, target: &str) {
        self.diags.push(Diagnostic::error(
            DiagnosticCode::MissingTransitionTarget,
            location,
            format!("Missing 'Next' target: {target}"),
        ));
    }

    /// Checks one state list (`loc` is where its object is: "" for the top level,
    /// `/States/P/Branches[0]`, `/States/M/ItemProcessor`), then the lists nested in it.
    /// `raw` is the same object as JSON, to name nested lists as the definition does.
    fn machine(&mut self, m: &StateMachine, raw: &Value, loc: &str) {
        let states_loc = at(loc, "States");

        // Transition targets, in definition order; StartAt first.
        if !m.states.contains_key(&m.start_at) {
            let start_loc = at(loc, "StartAt");
            self.missing_target(start_loc, &m.start_at);
        }
        for (name, state) in &m.states {
            let sloc = at(&states_loc, name);
            for (target, target_loc) in targets(&state.kind, &sloc) {
                if !m.states.contains_key(target) {
                    self.missing_target(target_loc, target);
                }
            }
        }

        // Terminal states, then reachability (AWS skips the latter without the former).
        let has_terminal = m.states.values().any(|s| match &s.kind {
            StateKind::Succeed | StateKind::Fail(_) => true,
            StateKind::Choice(_) => false,
            StateKind::Pass(p) => p.next == Transition::End,
            StateKind::Task(t) => t.next == Transition::End,
            StateKind::Wait(w) => w.next == Transition::End,
            StateKind::Parallel(p) => p.next == Transition::End,
            StateKind::Map(mp) => mp.next == Transition::End,
        });
        if !has_terminal {
            self.diags.push(Diagnostic::error(
                DiagnosticCode::MissingEndState,
                "",
                "Workflow has no terminal state",
            ));
        } else {
            let reached = reachable(m);
            for name in m.states.keys() {
                if !reached.contains(name.as_str()) {
                    self.diags.push(Diagnostic::error(
                        DiagnosticCode::MissingTransitionTarget,
                        at(&states_loc, name),
                        format!("State \"{name}\" is not reachable."),
                    ));
                }
            }
        }

        // Names are unique across the whole machine; Express refusals; nested lists.
        let raw_states = raw.get("States");
        for name in m.states.keys() {
            let sloc = at(&states_loc, name);
            if let Some(first) = self.names.get(name) {
                // AWS: "Duplicate State name: …" (its exact continuation is not recorded).
                let message = format!("Duplicate State name: {name} (first defined at {first})");
                self.diags.push(Diagnostic::error(
                    DiagnosticCode::DuplicateStateName,
                    sloc,
                    message,
                ));
            } else {
                self.names.insert(name.clone(), sloc);
            }
        }
        for (name, state) in &m.states {
            let sloc = at(&states_loc, name);
            let raw_state = raw_states.and_then(|s| s.get(name));
            match &state.kind {
                StateKind::Task(task) if self.express => {
                    self.express_resource(&task.resource, &at(&sloc, "Resource"));
                }
                StateKind::Parallel(p) => {
                    let raw_branches = raw_state.and_then(|s| s.get("Branches"));
                    for (i, branch) in p.branches.iter().enumerate() {
                        let raw_branch =
                            raw_branches.and_then(|b| b.get(i)).unwrap_or(&Value::Null);
                        self.machine(branch, raw_branch, &index(&at(&sloc, "Branches"), i));
                    }
                }
                StateKind::Map(map) => {
                    let key = match raw_state {
                        Some(s)
                            if s.get("ItemProcessor").is_none() && s.get("Iterator").is_some() =>
                        {
                            "Iterator"
                        }
                        _ => "ItemProcessor",
                    };
                    if self.refuse_not_built {
                        not_built::map(map, state.query_language, &sloc, self.diags);
                    }
                    let raw_processor = raw_state.and_then(|s| s.get(key)).unwrap_or(&Value::Null);
                    self.machine(&map.item_processor, raw_processor, &at(&sloc, key));
                }
                _ => {}
            }
        }
    }

    fn express_resource(&mut self, resource: &str, loc: &str) {
        let Some(rest) = resource.strip_prefix("arn:") else {
            return;
        };
        // `arn:aws:states:::service:action.sync[:2]`, `….waitForTaskToken`
        let suffix = rest.rsplit_once(':').map(|(_, last)| last).unwrap_or(rest);
        let sync =
            resource.ends_with(".sync") || resource.contains(".sync:") || suffix.ends_with(".sync");
        if sync {
            self.diags.push(Diagnostic::schema(
                loc,
                "Express state machine does not support '.sync' service integration",
            ));
        } else if resource.contains(".waitForTaskToken") {
            // AWS's text ends with a space: its message reads "… integration  at /…".
            self.diags.push(Diagnostic::schema(
                loc,
                "Express state machine does not support '.waitForTaskToken' service \
                 integration ",
            ));
        }
    }
}

/// The states a state can go to, with where each is named.
fn targets<'m>(kind: &'m StateKind, sloc: &str) -> Vec<(&'m str, String)> {
    let mut out = Vec::new();
    let push_next = |t: &'m Transition, out: &mut Vec<(&'m str, String)>| {
        if let Transition::Next(n) = t {
            out.push((n.as_str(), at(sloc, "Next")));
        }
    };
    match kind {
        StateKind::Pass(p) => push_next(&p.next, &mut out),
        StateKind::Wait(w) => push_next(&w.next, &mut out),
        StateKind::Task(t) => {
            push_next(&t.next, &mut out);
            for (i, c) in t.catch.iter().enumerate() {
                out.push((c.next.as_str(), at(&index(&at(sloc, "Catch"), i), "Next")));
            }
        }
        StateKind::Parallel(p) => {
            push_next(&p.next, &mut out);
            for (i, c) in p.catch.iter().enumerate() {
                out.push((c.next.as_str(), at(&index(&at(sloc, "Catch"), i), "Next")));
            }
        }
        StateKind::Map(m) => {
            push_next(&m.next, &mut out);
            for (i, c) in m.catch.iter().enumerate() {
                out.push((c.next.as_str(), at(&index(&at(sloc, "Catch"), i), "Next")));
            }
        }
        StateKind::Choice(c) => {
            for (i, b) in c.choices.iter().enumerate() {
                out.push((b.next.as_str(), at(&index(&at(sloc, "Choices"), i), "Next")));
            }
            if let Some(d) = &c.default {
                out.push((d.as_str(), at(sloc, "Default")));
            }
        }
        StateKind::Succeed | StateKind::Fail(_) => {}
    }
    out
}

/// The names AWS counts as reachable within one state list: `StartAt` and every name
/// some transition of the list targets. AWS does not walk the graph: a state that only
/// an unreachable state leads to is not reported (recorded: `StartAt` naming no state,
/// `Pass One → Success`, reports `Pass One` only).
fn reachable(m: &StateMachine) -> HashSet<&str> {
    let mut referenced: HashSet<&str> = HashSet::new();
    referenced.insert(m.start_at.as_str());
    for state in m.states.values() {
        for (target, _) in targets(&state.kind, "") {
            referenced.insert(target);
        }
    }
    referenced
}

/// `DUPLICATE_STATE_NAME` for every state name repeated inside one `States` object of
/// the text (at any depth: branches and item processors included).
fn duplicate_keys_in_states(text: &str) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let scan = KeyScan {
        loc: String::new(),
        is_states: false,
        found: &mut found,
    };
    // The text already parsed as JSON; an error here can only repeat that finding.
    let _ = scan.deserialize(&mut deserializer);
    found
        .into_iter()
        .map(|(loc, name)| {
            Diagnostic::error(
                DiagnosticCode::DuplicateStateName,
                loc,
                format!("Duplicate State name: {name}"),
            )
        })
        .collect()
}

/// Walks a JSON text without building it, noting repeated keys of `States` objects.
struct KeyScan<'f> {
    loc: String,
    /// This value is the value of a `States` key.
    is_states: bool,
    found: &'f mut Vec<(String, String)>,
}

impl<'de> DeserializeSeed<'de> for KeyScan<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyScan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let item = KeyScan {
                loc: index(&self.loc, i),
                is_states: false,
                found: &mut *self.found,
            };
            if seq.next_element_seed(item)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = at(&self.loc, &key);
            if self.is_states && seen.contains(&key) {
                self.found.push((child.clone(), key.clone()));
            }
            let value = KeyScan {
                loc: child,
                is_states: key == "States",
                found: &mut *self.found,
            };
            map.next_value_seed(value)?;
            if self.is_states {
                seen.insert(key);
            }
        }
        Ok(())
    }
}
