"""StartSyncExecution on EXPRESS machines through boto3 (boto3 would send it to
`sync-<host>`; the suite's Config(inject_host_prefix=False) keeps it on the server)."""
import json
import os
import time

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


@pytest.fixture
def second_replica(server):
    """Another `cairn server` on the session server's database: a second replica."""
    from conftest import LOG_DIR, _stop, make_client, start_server
    database = server_database()
    log_path = LOG_DIR / f"second-replica-{os.getpid()}.log"
    log_path.write_text("")
    srv = start_server(database, log_path, {})
    yield make_client(srv.endpoint)
    _stop(srv.process)


def server_database():
    # The session server's database is named after this pytest process (conftest.server).
    return f"cairn_e2e_{os.getpid()}"


def result_of(sfn, machine):
    done = sfn.start_sync_execution(stateMachineArn=machine, input="{}")
    assert done["status"] == "SUCCEEDED", done
    return json.loads(done["output"])


def pass_result(result):
    return json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result,
                                                        "End": True}}})


@pytest.mark.durable
def test_an_update_reaches_the_replica_that_cached_the_machine(sfn, second_replica, unique):
    """Each replica keeps what a start reads of the catalog; an update through one replica
    is run at once by that replica, and by the other as soon as its LISTEN hears of it
    (AWS, too, says executions started right after an update may run the previous
    definition) — and from then on, always."""
    machine = sfn.create_state_machine(name=unique("cached"), definition=pass_result("one"),
                                       roleArn=ROLE, type="EXPRESS")["stateMachineArn"]
    assert result_of(second_replica, machine) == "one"  # now in the second replica's cache
    sfn.update_state_machine(stateMachineArn=machine, definition=pass_result("two"))
    assert result_of(sfn, machine) == "two", "the replica that updated runs the update at once"
    deadline = time.monotonic() + 30
    while result_of(second_replica, machine) != "two":
        assert time.monotonic() < deadline, "the other replica never ran the new definition"
        time.sleep(0.05)
    assert {result_of(second_replica, machine) for _ in range(20)} == {"two"}

    # Versions and aliases: the alias moves, the other replica follows.
    one = sfn.publish_state_machine_version(stateMachineArn=machine)["stateMachineVersionArn"]
    sfn.update_state_machine(stateMachineArn=machine, definition=pass_result("three"))
    three = sfn.publish_state_machine_version(stateMachineArn=machine)["stateMachineVersionArn"]
    alias = sfn.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": one, "weight": 100}]
    )["stateMachineAliasArn"]
    assert result_of(second_replica, alias) == "two"
    sfn.update_state_machine_alias(
        stateMachineAliasArn=alias,
        routingConfiguration=[{"stateMachineVersionArn": three, "weight": 100}])
    deadline = time.monotonic() + 30
    while result_of(second_replica, alias) != "three":
        assert time.monotonic() < deadline, "the other replica never followed the alias"
        time.sleep(0.05)

    # A deleted machine is gone for both.
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias)
    sfn.delete_state_machine(stateMachineArn=machine)
    deadline = time.monotonic() + 30
    while True:
        try:
            second_replica.start_sync_execution(stateMachineArn=machine, input="{}")
        except second_replica.exceptions.StateMachineDoesNotExist:
            break
        assert time.monotonic() < deadline, "the other replica still runs a deleted machine"
        time.sleep(0.05)
