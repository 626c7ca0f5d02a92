//! What the chaos run starts and what each execution must end as: the seed's order
//! workflow down each of its paths, a fan-out (Parallel, then Map), a callback answered
//! by the approver, a Wait, and a Map whose third iteration fails until the execution is
//! redriven (the run redrives it). The target is deterministic, so every outcome is known
//! before the execution starts.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// The state machines the run creates, by name.
pub const MACHINES: [Machine; 7] = [
    Machine::Order,
    Machine::Fanout,
    Machine::Callback,
    Machine::Wait,
    Machine::Redrive,
    Machine::Distributed,
    Machine::Express,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    Order,
    Fanout,
    Callback,
    Wait,
    Redrive,
    /// A Distributed Map over a CSV in S3 (only with moto: `distributed`).
    Distributed,
    /// An EXPRESS machine started asynchronously (`distributed`).
    Express,
}

impl Machine {
    pub fn name(self) -> &'static str {
        match self {
            Machine::Order => "order-processing",
            Machine::Fanout => "fanout",
            Machine::Callback => "callback",
            Machine::Wait => "wait",
            Machine::Redrive => "redrive",
            Machine::Distributed => "distributed",
            Machine::Express => "express",
        }
    }

    /// The definition. The order workflow is the seed's file with its waits shortened
    /// (WaitForInventory 3600 s → 1 s, the payment retry's 5 s interval → 1 s), so that a
    /// run of a minute sees every path end; its states and Retry/Catch are the seed's.
    /// The machine's `type`.
    pub fn kind(self) -> &'static str {
        match self {
            Machine::Express => "EXPRESS",
            _ => "STANDARD",
        }
    }

    pub fn definition(self, seed_dir: &Path, target: &str) -> Result<Value> {
        Ok(match self {
            Machine::Distributed => crate::distributed::map_definition(),
            Machine::Express => crate::distributed::express_definition(),
            Machine::Order => {
                let path = seed_dir.join("order-processing.asl.json");
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!("reading the seed's order workflow {}", path.display())
                })?;
                let mut definition: Value = serde_json::from_str(&text)?;
                let states = &mut definition["States"];
                states["WaitForInventory"]["Seconds"] = json!(1);
                states["ProcessPayment"]["Retry"][0]["IntervalSeconds"] = json!(1);
                definition
            }
            Machine::Fanout => {
                let step = json!({"Type": "Task", "Resource": lambda("step"), "End": true});
                json!({"StartAt": "Fan", "States": {
                    "Fan": {"Type": "Parallel", "ResultPath": "$.branches", "Next": "Each",
                            "Branches": [{"StartAt": "A", "States": {"A": step}},
                                         {"StartAt": "B", "States": {"B": step}}]},
                    "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.mapped",
                             "MaxConcurrency": 2, "End": true,
                             "ItemProcessor": {"StartAt": "Item", "States": {"Item": step}}}
                }})
            }
            Machine::Callback => json!({"StartAt": "Ask", "States": {
                "Ask": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke.waitForTaskToken",
                        "Parameters": {"ApiEndpoint": format!("http://{target}/callback"), "Method": "POST",
                                       "RequestBody": {"token.$": "$$.Task.Token", "id.$": "$.id"}},
                        "TimeoutSeconds": 600, "Next": "Done"},
                "Done": {"Type": "Succeed"}
            }}),
            Machine::Wait => json!({"StartAt": "Nap", "States": {
                "Nap": {"Type": "Wait", "Seconds": 2, "Next": "Done"},
                "Done": {"Type": "Pass", "Result": "rested", "ResultPath": "$.nap", "End": true}
            }}),
            // The Task's Parameters are evaluated each time it is entered, so the
            // redriven iteration sees the redrive count; the target fails item 2 until
            // then. One iteration at a time keeps what runs before the failure known.
            Machine::Redrive => {
                let step = json!({"Type": "Task", "Resource": lambda("step"), "End": true});
                let broken = json!({"Type": "Task", "Resource": lambda("once-broken"),
                    "Parameters": {"item.$": "$", "redrives.$": "$$.Execution.RedriveCount"},
                    "End": true});
                json!({"StartAt": "Fan", "States": {
                    "Fan": {"Type": "Parallel", "ResultPath": "$.branches", "Next": "Each",
                            "Branches": [{"StartAt": "A", "States": {"A": step}},
                                         {"StartAt": "B", "States": {"B": step}}]},
                    "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.mapped",
                             "MaxConcurrency": 1, "End": true,
                             "ItemProcessor": {"StartAt": "Item", "States": {"Item": broken}}}
                }})
            }
        })
    }
}

fn lambda(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

/// One kind of execution: which machine, with what input, and how it must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    OrderOk,
    OrderInvalid,
    OrderBackorder,
    OrderFlakyPayment,
    OrderDeclined,
    Fanout,
    Callback,
    Wait,
    /// Fails, is redriven by the run, then succeeds.
    Redriven,
    /// A Distributed Map of STANDARD children (not in [`MIX`]: its own, slower stream).
    Distributed,
}

/// The mix, in the order the stream cycles through it.
pub const MIX: [Kind; 11] = [
    Kind::OrderOk,
    Kind::Callback,
    Kind::OrderBackorder,
    Kind::Fanout,
    Kind::OrderFlakyPayment,
    Kind::Wait,
    Kind::OrderInvalid,
    Kind::OrderOk,
    Kind::OrderDeclined,
    Kind::Callback,
    Kind::Redriven,
];

/// How an execution must end.
pub struct Expected {
    pub status: &'static str,
    pub error: Option<&'static str>,
    /// The output, when it succeeds.
    pub output: Option<Value>,
    /// Every state entered (branches' and iterations' too), by name, with how many times.
    pub entered: Vec<(&'static str, usize)>,
    /// Task attempts scheduled in all (retries included).
    pub scheduled: usize,
    /// Items of its Map, if it has one.
    pub map_items: Option<usize>,
    /// How many times the run redrives it.
    pub redrives: usize,
}

/// Items of the fan-out's Map.
const FANOUT_ITEMS: usize = 4;

impl Kind {
    pub fn machine(self) -> Machine {
        match self {
            Kind::Fanout => Machine::Fanout,
            Kind::Callback => Machine::Callback,
            Kind::Wait => Machine::Wait,
            Kind::Redriven => Machine::Redrive,
            Kind::Distributed => Machine::Distributed,
            _ => Machine::Order,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::OrderOk => "order ok",
            Kind::OrderInvalid => "order invalid",
            Kind::OrderBackorder => "order backorder",
            Kind::OrderFlakyPayment => "order payment retried",
            Kind::OrderDeclined => "order declined",
            Kind::Fanout => "fanout",
            Kind::Callback => "callback",
            Kind::Wait => "wait",
            Kind::Redriven => "redriven",
            Kind::Distributed => "distributed map",
        }
    }

    pub fn input(self, id: u64) -> Value {
        let order = |extra: Value| {
            let mut order = json!({"orderId": format!("o-{id}"),
                                   "items": [{"sku": "BOOK-1", "qty": 1}]});
            if let (Some(order), Value::Object(extra)) = (order.as_object_mut(), extra) {
                order.extend(extra);
            }
            order
        };
        match self {
            Kind::OrderOk => order(json!({})),
            Kind::OrderInvalid => order(json!({"items": [{"sku": "BOOK-1", "qty": 0}]})),
            Kind::OrderBackorder => order(json!({"backorder": true})),
            Kind::OrderFlakyPayment => order(json!({"flaky": true})),
            Kind::OrderDeclined => order(json!({"declined": true})),
            Kind::Fanout | Kind::Redriven => {
                json!({"id": id, "items": (0..FANOUT_ITEMS).collect::<Vec<_>>()})
            }
            Kind::Callback | Kind::Wait => json!({"id": id}),
            Kind::Distributed => crate::distributed::map_input(id),
        }
    }

    pub fn expected(self, id: u64) -> Expected {
        let input = self.input(id);
        let fulfilled = json!([
            {"done": "update-inventory", "orderId": input["orderId"]},
            {"done": "send-confirmation", "orderId": input["orderId"]},
            {"done": "initiate-shipping", "orderId": input["orderId"]}
        ]);
        let fulfil = [
            ("FulfillOrder", 1),
            ("UpdateInventory", 1),
            ("SendConfirmation", 1),
            ("InitiateShipping", 1),
            ("OrderComplete", 1),
        ];
        let failed = |entered: Vec<(&'static str, usize)>, scheduled| Expected {
            status: "FAILED",
            error: Some("OrderProcessingFailed"),
            output: None,
            entered,
            scheduled,
            map_items: None,
            redrives: 0,
        };
        let succeeded = |output, entered: Vec<(&'static str, usize)>, scheduled| Expected {
            status: "SUCCEEDED",
            error: None,
            output: Some(output),
            entered,
            scheduled,
            map_items: None,
            redrives: 0,
        };
        match self {
            Kind::OrderOk | Kind::OrderFlakyPayment => {
                let mut entered = vec![
                    ("ValidateOrder", 1),
                    ("CheckInventory", 1),
                    ("ProcessPayment", 1),
                ];
                entered.extend(fulfil);
                // The flaky payment fails twice and is retried: two more attempts.
                let scheduled = if self == Kind::OrderOk { 6 } else { 8 };
                succeeded(fulfilled, entered, scheduled)
            }
            Kind::OrderInvalid => failed(vec![("ValidateOrder", 1), ("OrderFailed", 1)], 1),
            Kind::OrderBackorder => {
                let mut entered = vec![
                    ("ValidateOrder", 1),
                    ("CheckInventory", 2),
                    ("NotifyBackorder", 1),
                    ("WaitForInventory", 1),
                    ("ProcessPayment", 1),
                ];
                entered.extend(fulfil);
                succeeded(fulfilled, entered, 8)
            }
            Kind::OrderDeclined => failed(
                vec![
                    ("ValidateOrder", 1),
                    ("CheckInventory", 1),
                    ("ProcessPayment", 1),
                    ("OrderFailed", 1),
                ],
                3,
            ),
            Kind::Fanout => {
                let mut output = input.clone();
                output["branches"] = json!([{"stepped": input}, {"stepped": input}]);
                output["mapped"] = json!((0..FANOUT_ITEMS)
                    .map(|i| json!({"stepped": i}))
                    .collect::<Vec<_>>());
                let mut expected = succeeded(
                    output,
                    vec![
                        ("Fan", 1),
                        ("A", 1),
                        ("B", 1),
                        ("Each", 1),
                        ("Item", FANOUT_ITEMS),
                    ],
                    2 + FANOUT_ITEMS,
                );
                expected.map_items = Some(FANOUT_ITEMS);
                expected
            }
            Kind::Redriven => {
                let mut output = input.clone();
                output["branches"] = json!([{"stepped": input}, {"stepped": input}]);
                output["mapped"] = json!((0..FANOUT_ITEMS)
                    .map(|i| json!({"stepped": i}))
                    .collect::<Vec<_>>());
                // Items 0 and 1 succeed, 2 fails; after the redrive 2 runs again, then 3.
                let mut expected = succeeded(
                    output,
                    vec![("Fan", 1), ("A", 1), ("B", 1), ("Each", 1), ("Item", 5)],
                    2 + 5,
                );
                expected.map_items = Some(FANOUT_ITEMS);
                expected.redrives = 1;
                expected
            }
            Kind::Callback => succeeded(json!({"approved": id}), vec![("Ask", 1), ("Done", 1)], 1),
            Kind::Distributed => crate::distributed::map_parent_expected(),
            Kind::Wait => {
                let mut output = input;
                output["nap"] = json!("rested");
                succeeded(output, vec![("Nap", 1), ("Done", 1)], 0)
            }
        }
    }
}
