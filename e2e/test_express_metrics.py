"""Express executions in the AWS/States metrics, as Standard ones: StartSyncExecution
and StartExecution on an EXPRESS machine count in ExecutionsStarted, the end they reach
(succeeded, failed, timed out) and ExecutionTime, labelled with the machine's ARN."""
import json
import time
import urllib.request

from conftest import ROLE

ENDS = json.dumps({"StartAt": "Choose", "States": {
    "Choose": {"Type": "Choice", "Choices": [
        {"Variable": "$.end", "StringEquals": "fail", "Next": "Fail"},
        {"Variable": "$.end", "StringEquals": "wait", "Next": "Wait"}],
        "Default": "Done"},
    "Done": {"Type": "Succeed"},
    "Fail": {"Type": "Fail", "Error": "Boom"},
    "Wait": {"Type": "Wait", "Seconds": 30, "End": True}},
    "TimeoutSeconds": 1})


def series(server, name, machine):
    with urllib.request.urlopen(f"{server.endpoint}/metrics") as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and f'state_machine_arn="{machine}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def test_express_executions_count_in_the_aws_states_metrics(sfn, server, unique):
    machine = sfn.create_state_machine(name=unique("express-metrics"), roleArn=ROLE,
                                       definition=ENDS, type="EXPRESS")["stateMachineArn"]
    for end in ["done", "done", "fail", "wait"]:
        sfn.start_sync_execution(stateMachineArn=machine, input=json.dumps({"end": end}))
    sfn.start_execution(stateMachineArn=machine, input=json.dumps({"end": "done"}))

    # The asynchronous one is counted when it ends, soon after its start answered.
    deadline = time.monotonic() + 30
    while series(server, "cairn_executions_succeeded_total", machine) != 3.0:
        assert time.monotonic() < deadline, "the asynchronous Express execution was not counted"
        time.sleep(0.1)
    assert series(server, "cairn_executions_started_total", machine) == 5.0
    assert series(server, "cairn_executions_failed_total", machine) == 1.0
    assert series(server, "cairn_executions_timed_out_total", machine) == 1.0
    assert series(server, "cairn_executions_aborted_total", machine) == 0.0
    assert series(server, "cairn_execution_time_seconds_count", machine) == 5.0
