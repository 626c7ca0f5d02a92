//! The state under test: a lone state (the definition is one state) or the state
//! `stateName` names in a whole machine, at any depth (inside a Parallel branch or a
//! Map's item processor).
//!
//! A lone state is checked as AWS checks a state of a machine: it is placed in a machine
//! of its own, under the name `StateName` (what `$$.State.Name` shows in a test), beside
//! a `Succeed` stand-in for every state it names (`Next`, `Default`, a rule's or a
//! catcher's `Next`), which a test never enters. Diagnostics then point into the state
//! itself (`/Parameters`, not `/States/StateName/Parameters`).

use serde_json::Value;

use crate::diagnostic::{invalid_definition_message, Diagnostic};
use crate::model::{State, StateKind, StateMachine};
use crate::validate::{validate, ValidateOptions};

use super::RequestError;

/// The name a lone state is tested under, and the name `$$.State.Name` shows.
pub(super) const LONE_STATE_NAME: &str = "StateName";

/// The state to test, and the names of the states inside it (its branches' or its
/// item processor's, at any depth).
#[derive(Debug, Clone)]
pub(super) struct Located {
    pub name: String,
    pub state: State,
    pub inner_states: Vec<String>,
}

/// Finds the state to test in `definition` (see the module's documentation).
pub(super) fn locate(definition: &str, state_name: Option<&str>) -> Result<Located, RequestError> {
    let machine = match state_name {
        Some(_) => validate(definition, &ValidateOptions::default())
            .map(|(machine, _warnings)| machine)
            .map_err(refused)?,
        None => lone_state_machine(definition)?,
    };
    let name = state_name.unwrap_or(LONE_STATE_NAME);
    let state = find(&machine, name)
        .cloned()
        .ok_or_else(|| RequestError::Validation("State not found in definition".to_string()))?;
    let mut inner_states = Vec::new();
    for machine in children(&state) {
        collect_names(machine, &mut inner_states);
    }
    Ok(Located {
        name: name.to_string(),
        state,
        inner_states,
    })
}

fn refused(diagnostics: Vec<Diagnostic>) -> RequestError {
    RequestError::InvalidDefinition(invalid_definition_message(&diagnostics))
}

/// The lone state in a machine of its own, checked.
fn lone_state_machine(definition: &str) -> Result<StateMachine, RequestError> {
    let value: Value = match serde_json::from_str(definition) {
        Ok(value) => value,
        // The machine check words it as AWS does.
        Err(_) => {
            return validate(definition, &ValidateOptions::default())
                .map(|(machine, _)| machine)
                .map_err(refused)
        }
    };
    let Value::Object(state) = &value else {
        return Err(RequestError::InvalidDefinition(invalid_definition_message(
            &[Diagnostic::schema(
                "/",
                "The state definition must be a JSON object",
            )],
        )));
    };
    let mut targets: Vec<&str> = Vec::new();
    let mut named = vec![state.get("Next"), state.get("Default")];
    for list in ["Choices", "Catch"] {
        if let Some(Value::Array(items)) = state.get(list) {
            named.extend(items.iter().map(|item| item.get("Next")));
        }
    }
    for name in named.into_iter().flatten().filter_map(Value::as_str) {
        if name != LONE_STATE_NAME && !targets.contains(&name) {
            targets.push(name);
        }
    }
    // The state's own text goes in as written: the machine check also reads the text
    // (a key written twice is an error that parsed JSON no longer shows).
    let mut text =
        format!("{{\"StartAt\":\"{LONE_STATE_NAME}\",\"States\":{{\"{LONE_STATE_NAME}\":");
    text.push_str(definition);
    for name in &targets {
        text.push(',');
        text.push_str(&Value::String((*name).to_string()).to_string());
        text.push_str(":{\"Type\":\"Succeed\"}");
    }
    text.push_str("}}");
    validate(&text, &ValidateOptions::default())
        .map(|(machine, _)| machine)
        .map_err(|diagnostics| {
            let prefix = format!("/States/{LONE_STATE_NAME}");
            let inside = diagnostics
                .into_iter()
                .map(|mut d| {
                    if let Some(rest) = d.location.strip_prefix(&prefix) {
                        d.location = if rest.is_empty() {
                            "/".to_string()
                        } else {
                            rest.to_string()
                        };
                    }
                    d
                })
                .collect();
            refused(inside)
        })
}

/// The machines a state holds: a Parallel state's branches, a Map's item processor.
fn children(state: &State) -> Vec<&StateMachine> {
    match &state.kind {
        StateKind::Parallel(parallel) => parallel.branches.iter().collect(),
        StateKind::Map(map) => vec![map.item_processor.as_ref()],
        _ => Vec::new(),
    }
}

/// The state named `name` in `machine`, at any depth (state names are unique
/// machine-wide).
fn find<'m>(machine: &'m StateMachine, name: &str) -> Option<&'m State> {
    if let Some(state) = machine.state(name) {
        return Some(state);
    }
    machine
        .states
        .values()
        .flat_map(children)
        .find_map(|inner| find(inner, name))
}

fn collect_names(machine: &StateMachine, names: &mut Vec<String>) {
    for (name, state) in &machine.states {
        names.push(name.clone());
        for inner in children(state) {
            collect_names(inner, names);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_state_may_name_states_it_does_not_define() {
        let located = locate(
            r#"{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Catch":[{"ErrorEquals":["States.ALL"],"Next":"Handle"}],"Next":"After"}"#,
            None,
        )
        .unwrap();
        assert_eq!(located.name, "StateName");
        assert_eq!(located.state.type_name(), "Task");
    }

    #[test]
    fn a_lone_state_is_checked_where_it_is() {
        let Err(RequestError::InvalidDefinition(message)) =
            locate(r#"{"Type":"Pass","End":true,"Bogus":1}"#, None)
        else {
            panic!("an unknown field is refused");
        };
        assert!(
            message.contains("'Bogus' is not supported at /'"),
            "{message}"
        );
        assert!(!message.contains("/States/"), "{message}");
        assert!(matches!(
            locate("{not json", None),
            Err(RequestError::InvalidDefinition(_))
        ));
        assert!(matches!(
            locate("[1]", None),
            Err(RequestError::InvalidDefinition(_))
        ));
    }

    #[test]
    fn state_name_finds_nested_states_and_refuses_missing_ones() {
        let machine = r#"{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"Inner","States":{"Inner":{"Type":"Pass","End":true}}},"End":true}}}"#;
        let map = locate(machine, Some("M")).unwrap();
        assert_eq!(map.inner_states, vec!["Inner".to_string()]);
        assert_eq!(
            locate(machine, Some("Inner")).unwrap().state.type_name(),
            "Pass"
        );
        assert_eq!(
            locate(machine, Some("dne")).unwrap_err(),
            RequestError::Validation("State not found in definition".to_string())
        );
    }
}
