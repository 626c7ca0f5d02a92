//! CreateStateMachineAlias, DescribeStateMachineAlias, UpdateStateMachineAlias,
//! DeleteStateMachineAlias, ListStateMachineAliases — with AWS's validation of a routing
//! configuration: one or two distinct versions of one machine, weights 0–100 summing to
//! 100.

use cairn_store::versions::{AliasChanges, AliasOutcome, AliasRecord, AliasSpec, Route};
use cairn_store::Store;
use serde_json::{json, Map, Value};

use super::page;
use super::versions::{read_description, unqualified};
use crate::arn::{self, Qualifier};
use crate::error::ApiError;
use crate::input::{check_length, Input};
use crate::{epoch, page as token, ApiState};

/// Picks one of `routes` by weight (a weight of 0 is never picked).
pub(crate) fn choose(routes: &[Route]) -> Option<String> {
    let roll = (uuid::Uuid::new_v4().as_u128() % 100) as i64;
    let mut below = 0;
    for route in routes {
        below += route.weight;
        if roll < below {
            return Some(route.version_arn.clone());
        }
    }
    routes
        .iter()
        .rev()
        .find(|r| r.weight > 0)
        .map(|r| r.version_arn.clone())
}

/// Reads `routingConfiguration` as AWS checks it; the routes and the machine their
/// versions belong to.
fn read_routes(input: &Input) -> Result<Option<(String, Vec<Route>)>, ApiError> {
    let Some(items) = input.array("routingConfiguration")? else {
        return Ok(None);
    };
    let mut routes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(object) = item.as_object() else {
            return Err(ApiError::Serialization(
                "Member 'routingConfiguration' has the wrong type: expected a list of objects"
                    .to_string(),
            ));
        };
        let version_arn = match object.get("stateMachineVersionArn") {
            Some(Value::String(arn)) => arn.clone(),
            None | Some(Value::Null) => {
                return Err(ApiError::missing(&format!(
                    "routingConfiguration.{}.member.stateMachineVersionArn",
                    i + 1
                )))
            }
            Some(_) => {
                return Err(ApiError::Serialization(
                    "Member 'stateMachineVersionArn' has the wrong type: expected a string"
                        .to_string(),
                ))
            }
        };
        check_length(
            &format!(
                "routingConfiguration.{}.member.stateMachineVersionArn",
                i + 1
            ),
            &version_arn,
            1,
            2048,
            false,
        )?;
        let weight = match object.get("weight") {
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
                ApiError::Serialization("Member 'weight' has the wrong type".to_string())
            })?,
            None | Some(Value::Null) => {
                return Err(ApiError::missing(&format!(
                    "routingConfiguration.{}.member.weight",
                    i + 1
                )))
            }
            Some(_) => {
                return Err(ApiError::Serialization(
                    "Member 'weight' has the wrong type: expected an integer".to_string(),
                ))
            }
        };
        let field = format!("routingConfiguration.{}.member.weight", i + 1);
        if weight > 100 {
            return Err(ApiError::constraint(
                &field,
                Some(&weight.to_string()),
                "Member must have value less than or equal to 100",
            ));
        }
        if weight < 0 {
            return Err(ApiError::constraint(
                &field,
                Some(&weight.to_string()),
                "Member must have value greater than or equal to 0",
            ));
        }
        routes.push(Route {
            version_arn,
            weight,
        });
    }
    let shown = |routes: &[Route]| {
        routes
            .iter()
            .map(|r| {
                format!(
                    "RoutingConfigurationListItem(stateMachineVersionArn={}, weight={})",
                    r.version_arn, r.weight
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if routes.is_empty() {
        return Err(ApiError::constraint(
            "routingConfiguration",
            Some("[]"),
            "Member must have length greater than or equal to 1",
        ));
    }
    if routes.len() > 2 {
        return Err(ApiError::constraint(
            "routingConfiguration",
            Some(&format!("[{}]", shown(&routes))),
            "Member must have length less than or equal to 2",
        ));
    }
    let arns = || {
        routes
            .iter()
            .map(|r| r.version_arn.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut machine = None;
    for route in &routes {
        let parsed = arn::check_machine("stateMachineVersionArn", &route.version_arn).ok();
        let Some(parsed) = parsed.filter(|p| matches!(p.qualifier, Some(Qualifier::Version(_))))
        else {
            return Err(ApiError::Validation(format!(
                "Routing configuration must contain state machine version ARNs. Received: [{}]",
                arns()
            )));
        };
        match &machine {
            None => machine = Some(parsed.machine),
            Some(m) if *m == parsed.machine => {}
            Some(_) => {
                return Err(ApiError::Validation(format!(
                "Routing configuration must contain versions of one state machine. Received: [{}]",
                arns()
            )))
            }
        }
    }
    if routes.len() == 2 && routes[0].version_arn == routes[1].version_arn {
        return Err(ApiError::Validation(format!(
            "Routing configuration must contain distinct state machine version ARNs. Received: [{}]",
            arns()
        )));
    }
    if routes.iter().map(|r| r.weight).sum::<i64>() != 100 {
        let weights: Vec<String> = routes.iter().map(|r| r.weight.to_string()).collect();
        return Err(ApiError::Validation(format!(
            "Sum of routing configuration weights must equal 100. Received: [{}]",
            weights.join(", ")
        )));
    }
    let machine = machine.unwrap_or_default();
    Ok(Some((machine, routes)))
}

fn read_name(input: &Input) -> Result<&str, ApiError> {
    let name = input.required_string("name")?;
    check_length("name", name, 1, 80, false)?;
    if !arn::alias_name_is_valid(name) {
        return Err(ApiError::constraint(
            "name",
            Some(name),
            "Member must satisfy regular expression pattern: ^(?=.*[a-zA-Z_\\-\\.])[a-zA-Z0-9_\\-\\.]+$",
        ));
    }
    Ok(name)
}

/// The alias an `stateMachineAliasArn` member names (its ARN as given).
fn read_alias_arn(input: &Input) -> Result<&str, ApiError> {
    let alias_arn = input.required_string("stateMachineAliasArn")?;
    let parsed = arn::check_machine("stateMachineAliasArn", alias_arn)?;
    if !matches!(parsed.qualifier, Some(Qualifier::Alias(_))) {
        return Err(ApiError::InvalidArn(format!(
            "Invalid Arn: expected a state machine alias ARN: '{alias_arn}'"
        )));
    }
    Ok(alias_arn)
}

/// An outcome that did not create or update, as AWS answers it.
fn refused(outcome: AliasOutcome, machine_arn: &str) -> ApiError {
    match outcome {
        AliasOutcome::Conflict => ApiError::Conflict(
            "Failed to create alias because an alias with the same name and a different routing configuration already exists."
                .to_string(),
        ),
        AliasOutcome::NotFound | AliasOutcome::NoSuchVersion(_) => ApiError::no_such_alias(),
        AliasOutcome::Deleting => ApiError::StateMachineDeleting(machine_arn.to_string()),
        AliasOutcome::TooMany => ApiError::ServiceQuotaExceeded(format!(
            "The state machine '{machine_arn}' has reached the limit of {} aliases",
            cairn_store::versions::MAX_ALIASES
        )),
        AliasOutcome::Done(_) | AliasOutcome::Existing(_) => {
            ApiError::Internal("an alias write reported no refusal".to_string())
        }
    }
}

pub async fn create<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let name = read_name(input)?;
    let description = read_description(input, "description")?;
    let Some((machine_arn, routes)) = read_routes(input)? else {
        return Err(ApiError::missing("routingConfiguration"));
    };
    let spec = AliasSpec {
        machine_arn: machine_arn.clone(),
        name: name.to_string(),
        description: description.map(str::to_string),
        routes,
    };
    match state.store().create_alias(&spec).await? {
        AliasOutcome::Done(alias) | AliasOutcome::Existing(alias) => Ok(json!({
            "stateMachineAliasArn": alias.arn,
            "creationDate": epoch(alias.created_at),
        })),
        AliasOutcome::NotFound => Err(ApiError::StateMachineDoesNotExist(machine_arn)),
        other => Err(refused(other, &machine_arn)),
    }
}

fn alias_json(alias: &AliasRecord) -> Value {
    let mut out = Map::new();
    out.insert("stateMachineAliasArn".into(), json!(alias.arn));
    out.insert("name".into(), json!(alias.name));
    if let Some(description) = &alias.description {
        out.insert("description".into(), json!(description));
    }
    let routes: Vec<Value> = alias
        .routes
        .iter()
        .map(|r| json!({"stateMachineVersionArn": r.version_arn, "weight": r.weight}))
        .collect();
    out.insert("routingConfiguration".into(), Value::Array(routes));
    out.insert("creationDate".into(), epoch(alias.created_at));
    out.insert("updateDate".into(), epoch(alias.updated_at));
    Value::Object(out)
}

pub async fn describe<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let alias_arn = read_alias_arn(input)?;
    let alias = state
        .store()
        .alias(alias_arn)
        .await?
        .ok_or_else(ApiError::no_such_alias)?;
    Ok(alias_json(&alias))
}

pub async fn update<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let alias_arn = read_alias_arn(input)?;
    let description = read_description(input, "description")?;
    let routes = read_routes(input)?;
    if description.is_none() && routes.is_none() {
        return Err(ApiError::Validation(
            "Either the description or the routingConfiguration must be specified".to_string(),
        ));
    }
    let machine_arn = arn::check_machine("stateMachineAliasArn", alias_arn)?.machine;
    if let Some((routed, _)) = &routes {
        if *routed != machine_arn {
            return Err(ApiError::Validation(format!(
                "Routing configuration must contain versions of the alias's state machine '{machine_arn}'"
            )));
        }
    }
    let changes = AliasChanges {
        description: description.map(str::to_string),
        routes: routes.map(|(_, routes)| routes),
    };
    match state.store().update_alias(alias_arn, &changes).await? {
        AliasOutcome::Done(alias) | AliasOutcome::Existing(alias) => {
            Ok(json!({ "updateDate": epoch(alias.updated_at) }))
        }
        other => Err(refused(other, &machine_arn)),
    }
}

pub async fn delete<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let alias_arn = read_alias_arn(input)?;
    // AWS answers success for an alias that does not exist.
    state.store().delete_alias(alias_arn).await?;
    Ok(json!({}))
}

pub async fn list<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let machine_arn = input.required_string("stateMachineArn")?;
    let machine = unqualified("stateMachineArn", machine_arn)?;
    let limit = input.page_size("maxResults", 100, 1000)?;
    let after = match input.string("nextToken")? {
        Some(t) => Some(token::decode("ListStateMachineAliases", t, 1024)?),
        None => None,
    };
    let mut aliases = state
        .store()
        .list_aliases(&machine.machine, after.as_deref(), limit + 1)
        .await?
        .ok_or_else(|| ApiError::StateMachineDoesNotExist(machine.machine.clone()))?;
    let next = if aliases.len() as i64 > limit {
        aliases.truncate(limit as usize);
        aliases
            .last()
            .map(|a| token::encode("ListStateMachineAliases", &a.arn))
    } else {
        None
    };
    let items = aliases
        .iter()
        .map(|a| {
            json!({
                "stateMachineAliasArn": a.arn,
                "creationDate": epoch(a.created_at),
            })
        })
        .collect();
    Ok(page("stateMachineAliases", items, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_pick_routes_in_proportion() {
        let routes = [
            Route {
                version_arn: "v1".into(),
                weight: 90,
            },
            Route {
                version_arn: "v2".into(),
                weight: 10,
            },
        ];
        let picks: Vec<String> = (0..2000).filter_map(|_| choose(&routes)).collect();
        let v2 = picks.iter().filter(|p| *p == "v2").count();
        assert_eq!(picks.len(), 2000);
        assert!(
            (100..=320).contains(&v2),
            "{v2} of 2000 went to the 10 % version"
        );
        let only = [Route {
            version_arn: "v1".into(),
            weight: 100,
        }];
        assert!((0..100).all(|_| choose(&only).as_deref() == Some("v1")));
        let never = [
            Route {
                version_arn: "v1".into(),
                weight: 0,
            },
            Route {
                version_arn: "v2".into(),
                weight: 100,
            },
        ];
        assert!((0..200).all(|_| choose(&never).as_deref() == Some("v2")));
    }
}
