"""The suite covers every operation Cairn supports: each name in SUPPORTED
(crates/api/src/operations/mod.rs) must be called through boto3 somewhere in e2e/. A new
operation fails this test until a module here exercises it."""
import re
from pathlib import Path

from botocore import xform_name

from conftest import REPO

OPERATIONS = REPO / "crates" / "api" / "src" / "operations" / "mod.rs"


def supported_operations():
    text = OPERATIONS.read_text()
    block = re.search(r"pub const SUPPORTED: &\[&str\] = &\[(.*?)\];", text, re.S)
    assert block, f"no SUPPORTED list in {OPERATIONS}"
    return re.findall(r'"(\w+)"', block.group(1))


def test_every_supported_operation_is_exercised():
    sources = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py")
                        if p.name != Path(__file__).name)
    operations = supported_operations()
    assert len(operations) >= 19
    missing = [op for op in operations
               if f".{xform_name(op)}(" not in sources
               and f'get_paginator("{xform_name(op)}")' not in sources]
    assert not missing, f"no end-to-end test calls {missing} through boto3"


SCHEDULER = REPO / "crates" / "api" / "src" / "scheduler" / "mod.rs"


def test_every_scheduler_operation_is_in_botocore_and_exercised():
    """The same for EventBridge Scheduler (crates/api/src/scheduler/mod.rs), whose names
    must also be operations of botocore's `scheduler` model."""
    import boto3
    block = re.search(r"pub const SUPPORTED: &\[&str\] = &\[(.*?)\];", SCHEDULER.read_text(), re.S)
    assert block, f"no SUPPORTED list in {SCHEDULER}"
    operations = re.findall(r'"(\w+)"', block.group(1))
    model = boto3.session.Session().client("scheduler", region_name="us-east-1").meta.service_model
    assert set(operations) <= set(model.operation_names), set(operations) - set(model.operation_names)
    source = (Path(__file__).parent / "test_scheduler.py").read_text()
    missing = [op for op in operations if f".{xform_name(op)}(" not in source]
    assert not missing, f"e2e/test_scheduler.py calls none of {missing}"
