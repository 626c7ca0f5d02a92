//! What a compiled expression reads, found once when it is compiled: the workflow
//! variables to bind before evaluating it, the fields of `$states` it names, whether
//! it may draw entropy, and the references AWS refuses when the state machine is
//! created.
//!
//! AWS evaluates an expression with no context item: the input arrives as
//! `$states.input`. A path that starts from the context item (`phone`, not
//! `$states.input.phone`) is refused as `UNSUPPORTED_JSONATA_EXPRESSION: Reference to
//! 'phone' at the top level is not supported.`, and so is `$$`. Only the first step of
//! a path reads the top-level context: names in later steps, predicates, sort terms and
//! group-by patterns read each item and stay legal. A function's body keeps the context
//! of the expression that defines it.

use jsonata_core::ast::{AstNode, PathStep, Stage};
use jsonata_core::value::with_stack;

/// The names of the functions that draw entropy.
const ENTROPY_FUNCTIONS: &[&str] = &["random", "uuid", "shuffle"];

/// What an expression reads and what AWS refuses in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Variables the expression may read (`$name`), without `states`; sorted, unique.
    pub variables: Vec<String>,
    /// It reads `$states`.
    pub reads_states: bool,
    /// The fields of `$states` it names (`input`, `result`, …); sorted, unique.
    pub states_fields: Vec<String>,
    /// It reads `$states` other than through one of its fields (`$states`,
    /// `$keys($states)`): every field must be there.
    pub reads_whole_states: bool,
    /// It may draw entropy (`$random`, `$uuid`, `$shuffle`).
    pub uses_entropy: bool,
    /// The functions it calls by name (`$name(…)`); sorted, unique. With
    /// [`Analysis::variables`] (a function passed as `$name`), what the engine must
    /// provide.
    pub functions: Vec<String>,
    /// References AWS refuses at creation (`UNSUPPORTED_JSONATA_EXPRESSION`), worded as
    /// AWS words them.
    pub unsupported: Vec<String>,
}

impl Analysis {
    /// Analyses a parsed expression.
    pub fn of(ast: &AstNode) -> Analysis {
        let mut analysis = Analysis::default();
        walk(ast, true, &mut analysis);
        analysis.variables.sort();
        analysis.variables.dedup();
        analysis.states_fields.sort();
        analysis.states_fields.dedup();
        analysis.functions.sort();
        analysis.functions.dedup();
        analysis.unsupported.dedup();
        analysis
    }

    /// Whether the expression may use the function `$name`, called or passed.
    pub fn may_use_function(&self, name: &str) -> bool {
        self.functions.iter().any(|f| f == name) || self.variables.iter().any(|v| v == name)
    }

    /// Whether the expression names `$states.<field>`.
    pub fn names_states_field(&self, field: &str) -> bool {
        self.states_fields.iter().any(|f| f == field)
    }
}

fn variable(name: &str, analysis: &mut Analysis) {
    match name {
        // `$`: the context item, which AWS leaves undefined.
        "" => {}
        "states" => {
            analysis.reads_states = true;
            analysis.reads_whole_states = true;
        }
        other => {
            if ENTROPY_FUNCTIONS.contains(&other) {
                analysis.uses_entropy = true;
            }
            analysis.variables.push(other.to_string());
        }
    }
}

/// `top`: the node is evaluated against the top-level context (no context item).
fn walk(node: &AstNode, top: bool, analysis: &mut Analysis) {
    with_stack(|| walk_node(node, top, analysis));
}

fn walk_node(node: &AstNode, top: bool, analysis: &mut Analysis) {
    match node {
        AstNode::String(_)
        | AstNode::Number(_)
        | AstNode::Boolean(_)
        | AstNode::Null
        | AstNode::Undefined
        | AstNode::Placeholder
        | AstNode::Regex { .. }
        | AstNode::Wildcard
        | AstNode::Descendant
        | AstNode::Parent(_) => {}
        AstNode::Name(name) => {
            if top {
                refuse_name(name, analysis);
            }
        }
        AstNode::Variable(name) => variable(name, analysis),
        AstNode::ParentVariable(_) => analysis
            .unsupported
            .push("Reference to '$$' is not supported.".to_string()),
        AstNode::Path { steps } => path(steps, top, analysis),
        AstNode::Binary { lhs, rhs, .. } => {
            walk(lhs, top, analysis);
            walk(rhs, top, analysis);
        }
        AstNode::Unary { operand, .. } => walk(operand, top, analysis),
        AstNode::Function { name, args, .. } => {
            if ENTROPY_FUNCTIONS.contains(&name.as_str()) {
                analysis.uses_entropy = true;
            }
            analysis.functions.push(name.clone());
            for arg in args {
                walk(arg, top, analysis);
            }
        }
        AstNode::Call { procedure, args } => {
            walk(procedure, top, analysis);
            for arg in args {
                walk(arg, top, analysis);
            }
        }
        AstNode::Lambda { body, .. } => walk(body, top, analysis),
        AstNode::Array(items) | AstNode::ArrayGroup(items) | AstNode::Block(items) => {
            for item in items {
                walk(item, top, analysis);
            }
        }
        AstNode::Object(pairs) => {
            for (key, value) in pairs {
                walk(key, top, analysis);
                walk(value, top, analysis);
            }
        }
        AstNode::ObjectTransform { input, pattern } => {
            walk(input, top, analysis);
            for (key, value) in pattern {
                walk(key, false, analysis);
                walk(value, false, analysis);
            }
        }
        AstNode::Conditional {
            condition,
            then_branch,
            else_branch,
        } => {
            walk(condition, top, analysis);
            walk(then_branch, top, analysis);
            if let Some(other) = else_branch {
                walk(other, top, analysis);
            }
        }
        AstNode::FunctionApplication(inner) => walk(inner, top, analysis),
        AstNode::Sort { input, terms } => {
            walk(input, top, analysis);
            for (term, _) in terms {
                walk(term, false, analysis);
            }
        }
        AstNode::Transform {
            location,
            update,
            delete,
        } => {
            walk(location, false, analysis);
            walk(update, false, analysis);
            if let Some(delete) = delete {
                walk(delete, false, analysis);
            }
        }
    }
}

fn path(steps: &[PathStep], top: bool, analysis: &mut Analysis) {
    for (i, step) in steps.iter().enumerate() {
        let step_top = top && i == 0;
        match &step.node {
            AstNode::Name(name) if step_top => refuse_name(name, analysis),
            AstNode::Variable(name) if name == "states" && i == 0 => {
                analysis.reads_states = true;
                match steps.get(1).map(|s| &s.node) {
                    Some(AstNode::Name(field)) if step.stages.is_empty() => {
                        analysis.states_fields.push(field.clone())
                    }
                    _ => analysis.reads_whole_states = true,
                }
            }
            other => walk(other, step_top, analysis),
        }
        for stage in &step.stages {
            if let Stage::Filter(predicate) = stage {
                walk(predicate, false, analysis);
            }
        }
    }
}

fn refuse_name(name: &str, analysis: &mut Analysis) {
    analysis.unsupported.push(format!(
        "Reference to '{name}' at the top level is not supported."
    ));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn of(source: &str) -> Analysis {
        Analysis::of(&jsonata_core::parser::parse(source).unwrap())
    }

    #[test]
    fn variables_and_states_fields_are_collected() {
        let a = of("$sum($states.input.values) + $x + $y.z + $x");
        assert_eq!(a.variables, ["x", "y"]);
        assert!(a.reads_states);
        assert_eq!(a.states_fields, ["input"]);
        assert!(!a.uses_entropy);
        assert!(a.unsupported.is_empty());
        let a = of("$states.result.Payload & $states.errorOutput.Cause");
        assert_eq!(a.states_fields, ["errorOutput", "result"]);
        assert!(!a.reads_whole_states);
        assert!(of("$keys($states)").reads_whole_states);
        assert!(of("$states[0]").reads_whole_states);
        assert!(of("$uuid()").uses_entropy);
        assert!(of("$map([1,2], $random)").uses_entropy);
    }

    #[test]
    fn top_level_names_and_dollar_dollar_are_refused() {
        assert_eq!(
            of("phone").unsupported,
            ["Reference to 'phone' at the top level is not supported."]
        );
        assert_eq!(
            of("{'v': phone.number}").unsupported,
            ["Reference to 'phone' at the top level is not supported."]
        );
        assert_eq!(
            of("$$").unsupported,
            ["Reference to '$$' is not supported."]
        );
        // Later steps, predicates, sort terms and group-by patterns read items.
        for ok in [
            "$states.input.items[value > 3]",
            "$states.input.items^(price).name",
            "$states.input.items{type: $sum(price)}",
            "$states.input.a.(b + c)",
        ] {
            assert!(
                of(ok).unsupported.is_empty(),
                "{ok}: {:?}",
                of(ok).unsupported
            );
        }
        // A function body keeps its definer's context.
        assert!(!of("$map($states.input.a, function($x){ b })")
            .unsupported
            .is_empty());
    }
}
