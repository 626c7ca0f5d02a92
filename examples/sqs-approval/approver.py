"""The approver of examples/sqs-approval: reads approval requests from the SQS queue the
workflow's WaitForApproval state writes to, and answers each with its task token:
SendTaskSuccess `{"approved": true, "approver": …}` to approve, SendTaskFailure with
error `Rejected` to reject. A handled message is deleted from the queue.

    python approver.py --approve [--request TEXT] [--count N]
    python approver.py --reject  [--request TEXT]

`--request` answers only the requests whose `request` field is TEXT (others stay in the
queue for someone else); `--count` is how many to answer before exiting (default 1).
"""
import argparse
import json
import sys
import time

import boto3

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/approval-queue"
REGION = "us-east-1"


def client(service, endpoint):
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test")


def requests(sqs, queue_url, request=None, timeout=60):
    """Yields (message, body) for each request in the queue that matches `request`;
    a message that does not match is made visible again at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                     WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            body = json.loads(message["Body"])
            if request is None or body.get("request") == request:
                yield message, body
            else:
                sqs.change_message_visibility(QueueUrl=queue_url, VisibilityTimeout=0,
                                              ReceiptHandle=message["ReceiptHandle"])


def answer(sfn, sqs, queue_url, approve, request=None, count=1, approver="approver.py",
           timeout=60):
    """Answers `count` matching requests; returns their bodies."""
    answered = []
    for message, body in requests(sqs, queue_url, request, timeout):
        token = body["taskToken"]
        if approve:
            sfn.send_task_success(taskToken=token,
                                  output=json.dumps({"approved": True, "approver": approver}))
        else:
            sfn.send_task_failure(taskToken=token, error="Rejected",
                                  cause=f"Rejected by {approver}")
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        answered.append(body)
        if len(answered) == count:
            break
    return answered


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    decision = parser.add_mutually_exclusive_group(required=True)
    decision.add_argument("--approve", action="store_true")
    decision.add_argument("--reject", action="store_true")
    parser.add_argument("--request")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--queue-url", default=QUEUE_URL)
    parser.add_argument("--sfn-endpoint", default="http://127.0.0.1:8083")
    parser.add_argument("--aws-endpoint", default="http://127.0.0.1:5000")
    args = parser.parse_args()
    answered = answer(client("stepfunctions", args.sfn_endpoint),
                      client("sqs", args.aws_endpoint), args.queue_url, args.approve,
                      args.request, args.count)
    for body in answered:
        print(f"{'approved' if args.approve else 'rejected'}: {body['request']} "
              f"(for {body['approverEmail']})")
    return 0 if len(answered) == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
