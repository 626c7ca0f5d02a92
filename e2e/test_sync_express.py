"""StartSyncExecution on EXPRESS machines through boto3 (boto3 would send it to
`sync-<host>`; the suite's Config(inject_host_prefix=False) keeps it on the server)."""
import json

import pytest

from conftest import ROLE


def express(sfn, unique, definition):
    return sfn.create_state_machine(name=unique("sync"), definition=json.dumps(definition),
                                    roleArn=ROLE, type="EXPRESS")["stateMachineArn"]


def test_sync_execution_succeeds_with_a_lambda_task(sfn, unique, lambda_fake):
    machine = express(sfn, unique, {
        "StartAt": "Validate",
        "States": {
            "Validate": {"Type": "Task",
                         "Resource": "arn:aws:lambda:us-east-1:123456789012:function:validate-order",
                         "Next": "Shape"},
            "Shape": {"Type": "Pass", "Parameters": {"ok.$": "$.validated", "id.$": "$.orderId"},
                      "End": True},
        },
    })
    order_id = unique("sync-order")
    order = {"orderId": order_id, "items": [{"sku": "A", "qty": 1}]}
    done = sfn.start_sync_execution(stateMachineArn=machine, name="first", input=json.dumps(order))
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"ok": True, "id": order_id}
    assert done["executionArn"].startswith(machine.replace(":stateMachine:", ":express:") + ":first:")
    assert done["stateMachineArn"] == machine
    assert done["stopDate"] >= done["startDate"]
    assert done["billingDetails"]["billedDurationInMilliseconds"] >= 100
    assert len(lambda_fake.calls("validate-order", order_id)) == 1


def test_sync_execution_reports_failure(sfn, unique):
    machine = express(sfn, unique, {
        "StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Nope", "Cause": "by design"}},
    })
    done = sfn.start_sync_execution(stateMachineArn=machine, input="{}")
    assert done["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert done["status"] == "FAILED"
    assert (done["error"], done["cause"]) == ("Nope", "by design")


def test_sync_execution_of_a_standard_machine_is_refused(sfn, pass_machine):
    with pytest.raises(sfn.exceptions.StateMachineTypeNotSupported):
        sfn.start_sync_execution(stateMachineArn=pass_machine, input="{}")
