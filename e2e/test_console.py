"""The web console (/console/) in a real browser: headless Chromium driven by
Playwright (e2e/browser.py) against the suite's `cairn server` (or `cairn dev`).

Every page loads without a console error; an execution of the seed's order workflow
shows each state with the status it had; a click on a state shows its input and output;
Stop stops and Redrive runs it again; executions list, filter, search and page; the graphs of the seed's six
workflows have no overlapping boxes (from the elements' geometry). Screenshots at
1440x900 go to target/e2e-screenshots/ (docs/console.md shows some)."""
import json
import urllib.error
import urllib.request
import uuid

import pytest

from browser import FLAGS, VIEWPORT, Page, chromium_path
from conftest import ROLE, SHARED, wait_for_end

sync_api = pytest.importorskip("playwright.sync_api")

WORKFLOWS = SHARED / "seed" / "workflows"
SEED = ["order-processing", "human-approval", "map-batch", "sdk-integrations",
        "express-data-transform", "retry-catch-fragment"]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    p = Page(context.new_page(), server.endpoint)
    yield p
    context.close()


def no_errors(page):
    assert page.errors == [], "\n".join(page.errors)


def suffix():
    return uuid.uuid4().hex[:6]


def seed_definition(name):
    """The seed's workflow as a machine Cairn accepts. Two are changed, and say how: the
    order workflow waits 1 s for stock instead of an hour and retries its payment 1 s
    apart instead of 5 s (so the suite runs in seconds, with the same Retry and Catch);
    `retry-catch-fragment` is one state, not a machine, so it is wrapped in one whose
    other states are Pass states, and its elided Lambda ARN is completed."""
    definition = json.loads((WORKFLOWS / f"{name}.asl.json").read_text())
    if name == "order-processing":
        definition["States"]["WaitForInventory"]["Seconds"] = 1
        definition["States"]["ProcessPayment"]["Retry"][0]["IntervalSeconds"] = 1
    if name == "retry-catch-fragment":
        state = definition["ProcessPayment"]
        state["Resource"] = "arn:aws:lambda:us-east-1:123456789012:function:process-payment"
        states = {"ProcessPayment": state}
        for target in ("HandleDeclinedPayment", "RequestAlternatePayment",
                       "HandleUnexpectedError", "PaymentSuccessful"):
            states[target] = {"Type": "Pass", "End": True}
        definition = {"StartAt": "ProcessPayment", "States": states}
    return definition


def names_in(definition):
    """Every state name, at any depth."""
    names = []
    for name, state in definition.get("States", {}).items():
        names.append(name)
        for branch in state.get("Branches", []):
            names += names_in(branch)
        if "ItemProcessor" in state or "Iterator" in state:
            names += names_in(state.get("ItemProcessor") or state.get("Iterator"))
    return names


def create(sfn, name, definition, kind="STANDARD"):
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE,
                                    type=kind)["stateMachineArn"]


def order(order_id, items=None, card="ok"):
    return {"orderId": order_id, "customer": {"email": f"{order_id}@example.com"},
            "items": items or [{"sku": "BOOK-1", "qty": 2}, {"sku": "PEN-7", "qty": 1}],
            "payment": {"card": card}}


@pytest.fixture(scope="module")
def orders(sfn):
    """The seed's order workflow and one finished execution per path through it."""
    s = suffix()
    machine = create(sfn, f"console-orders-{s}", seed_definition("order-processing"))
    scenarios = {
        "success": order(f"ok-{s}"),
        "invalid": order(f"bad-{s}", items=[{"sku": "BOOK-1", "qty": 0}]),
        "backorder": order(f"bo-{s}", items=[{"sku": "LAMP-3", "qty": 1, "backorder": True}]),
        "flaky": order(f"flaky-{s}", card="flaky"),
        "declined": order(f"declined-{s}", card="declined"),
    }
    arns = {k: sfn.start_execution(stateMachineArn=machine, name=o["orderId"],
                                   input=json.dumps(o))["executionArn"]
            for k, o in scenarios.items()}
    for arn in arns.values():
        wait_for_end(sfn, arn, timeout=90)
    return machine, arns


def open_execution(page, arn):
    p = page.open(f"/console/executions/{arn}")
    p.wait_for_selector("main[data-status]")
    return p


def statuses(p):
    return p.eval_on_selector_all(
        "svg.graph [data-state]",
        "els => Object.fromEntries(els.map(e => [e.dataset.state, e.dataset.status]))")


def status_texts(p):
    return p.eval_on_selector_all(
        "svg.graph [data-state]",
        "els => Object.fromEntries(els.map(e => [e.dataset.state, e.querySelector(':scope > .status-text').textContent]))")


ALL_STATES = ["ValidateOrder", "CheckInventory", "ProcessPayment", "FulfillOrder",
              "UpdateInventory", "SendConfirmation", "InitiateShipping", "NotifyBackorder",
              "WaitForInventory", "OrderComplete", "OrderFailed"]
FULFIL = ["FulfillOrder", "UpdateInventory", "SendConfirmation", "InitiateShipping",
          "OrderComplete"]


def expect(succeeded=(), caught=(), failed=()):
    out = {name: "not-reached" for name in ALL_STATES}
    out.update({n: "succeeded" for n in succeeded})
    out.update({n: "caught" for n in caught})
    out.update({n: "failed" for n in failed})
    return out


EXPECTED = {
    "success": expect(succeeded=["ValidateOrder", "CheckInventory", "ProcessPayment", *FULFIL]),
    "invalid": expect(caught=["ValidateOrder"], failed=["OrderFailed"]),
    # CheckInventory ran twice: caught (out of stock), then succeeded; the worse shows.
    "backorder": expect(succeeded=["ValidateOrder", "ProcessPayment", "NotifyBackorder",
                                   "WaitForInventory", *FULFIL], caught=["CheckInventory"]),
    "flaky": expect(succeeded=["ValidateOrder", "CheckInventory", "ProcessPayment", *FULFIL]),
    "declined": expect(succeeded=["ValidateOrder", "CheckInventory"], caught=["ProcessPayment"],
                       failed=["OrderFailed"]),
}
FINAL = {"success": "SUCCEEDED", "invalid": "FAILED", "backorder": "SUCCEEDED",
         "flaky": "SUCCEEDED", "declined": "FAILED"}


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_order_execution_shows_each_state_as_it_went(page, orders, scenario):
    _, arns = orders
    p = open_execution(page, arns[scenario])
    assert p.get_attribute("main", "data-status") == FINAL[scenario]
    assert statuses(p) == EXPECTED[scenario]
    texts = status_texts(p)
    if scenario == "flaky":
        assert texts["ProcessPayment"] == "succeeded · retried 2 times"
    if scenario == "backorder":
        assert texts["CheckInventory"] == "caught · 2×"
    # The Start and End markers: the End is coloured by how the execution ended.
    end = p.get_attribute("svg.graph [data-terminal='(end)']", "class")
    assert ("status-succeeded" if FINAL[scenario] == "SUCCEEDED" else "status-failed") in end
    page.screenshot(f"execution-order-{scenario}")
    no_errors(page)


def test_a_click_on_a_state_shows_its_input_output_and_events(page, orders, sfn):
    _, arns = orders
    p = open_execution(page, arns["declined"])
    p.click("svg.graph [data-state='CheckInventory']")
    panel = p.locator("aside.state-panel")
    panel.locator("h2", has_text="CheckInventory").wait_for()
    blocks = panel.locator("pre.json")
    shown_input = json.loads(blocks.nth(0).inner_text())
    shown_output = json.loads(blocks.nth(1).inner_text())
    history = sfn.get_execution_history(executionArn=arns["declined"], maxResults=1000)["events"]
    entered = next(e for e in history if e["type"] == "TaskStateEntered"
                   and e["stateEnteredEventDetails"]["name"] == "CheckInventory")
    exited = next(e for e in history if e["type"] == "TaskStateExited"
                  and e["stateExitedEventDetails"]["name"] == "CheckInventory")
    assert shown_input == json.loads(entered["stateEnteredEventDetails"]["input"])
    assert shown_output == json.loads(exited["stateExitedEventDetails"]["output"])
    assert shown_output["reserved"] == ["BOOK-1", "PEN-7"]
    assert panel.locator(".state-events li").count() == 5  # entered, scheduled, started, succeeded, exited

    # A caught state shows its error.
    p.click("svg.graph [data-state='ProcessPayment']")
    panel.locator("h2", has_text="ProcessPayment").wait_for()
    assert panel.locator(".error-text").inner_text() == "PaymentDeclined"
    page.screenshot("execution-order-declined-selected")

    # The history table, filtered by type.
    rows = p.locator("table.history tbody tr")
    assert rows.count() == len(history)
    p.select_option("select[aria-label='Event type filter']", "LambdaFunctionFailed")
    assert p.locator("table.history tbody tr:not([hidden])").count() == 1
    # The timeline has a bar per state visit.
    p.click("button[role=tab]:has-text('Timeline')")
    assert p.locator(".timeline-row").count() == sum(
        1 for e in history if e["type"].endswith("StateEntered"))
    page.screenshot("execution-order-declined-timeline")
    no_errors(page)


def test_map_shows_its_iterations(page, sfn):
    definition = {"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {
            "StartAt": "Double", "States": {"Double": {"Type": "Pass", "End": True}}},
            "End": True}}}
    machine = create(sfn, f"console-map-{suffix()}", definition)
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"items": [1, 2, 3]}))["executionArn"]
    wait_for_end(sfn, arn)
    p = open_execution(page, arn)
    texts = status_texts(p)
    assert texts["Each"] == "succeeded · 3 iterations: 3 ok"
    assert texts["Double"] == "succeeded · 3×"
    no_errors(page)


def test_stop_and_live_updates(page, sfn):
    definition = {"StartAt": "First", "States": {
        "First": {"Type": "Pass", "Next": "Hold"},
        "Hold": {"Type": "Wait", "Seconds": 3600, "Next": "After"},
        "After": {"Type": "Pass", "End": True}}}
    machine = create(sfn, f"console-stop-{suffix()}", definition)
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    p = open_execution(page, arn)
    p.wait_for_selector("svg.graph [data-state='Hold'][data-status='running']")
    assert statuses(p) == {"First": "succeeded", "Hold": "running", "After": "not-reached"}
    page.screenshot("execution-running")
    p.click("button:has-text('Stop execution')")  # the confirm dialog is accepted
    p.wait_for_selector("main[data-status='ABORTED']")
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert statuses(p)["Hold"] == "aborted"
    assert p.locator("button:has-text('Stop execution')").count() == 0
    assert p.locator("button:has-text('Redrive')").count() == 1

    # Redrive: the Wait that was cut short runs again; the page follows it.
    p.click("button:has-text('Redrive')")
    p.wait_for_selector("main[data-status='RUNNING']")
    p.wait_for_selector("svg.graph [data-state='Hold'][data-status='running']")
    assert statuses(p)["First"] == "succeeded"
    described = sfn.describe_execution(executionArn=arn)
    assert (described["status"], described["redriveCount"]) == ("RUNNING", 1)
    assert "Redriven" in p.inner_text("main")
    p.wait_for_selector("table.history tbody tr:has-text('ExecutionRedriven')")
    page.screenshot("execution-redriven")
    sfn.stop_execution(executionArn=arn)

    # Live: a page opened while the execution runs follows it to its end, unreloaded.
    short = create(sfn, f"console-live-{suffix()}", {"StartAt": "Hold", "States": {
        "Hold": {"Type": "Wait", "Seconds": 2, "Next": "After"},
        "After": {"Type": "Pass", "End": True}}})
    arn = sfn.start_execution(stateMachineArn=short, input="{}")["executionArn"]
    p = open_execution(page, arn)
    p.wait_for_selector("main[data-status='SUCCEEDED']", timeout=60_000)
    assert statuses(p) == {"Hold": "succeeded", "After": "succeeded"}
    assert p.locator("table.history tbody tr").count() == len(
        sfn.get_execution_history(executionArn=arn)["events"])
    no_errors(page)


def test_new_execution_from_an_execution_page(page, sfn):
    machine = create(sfn, f"console-new-{suffix()}", {"StartAt": "Echo", "States": {
        "Echo": {"Type": "Pass", "End": True}}})
    first = sfn.start_execution(stateMachineArn=machine, input='{"n": 1}')["executionArn"]
    wait_for_end(sfn, first)
    p = open_execution(page, first)
    p.click("button:has-text('New execution')")
    p.fill("textarea[name=input]", '{"n": 2}')
    p.fill("input[name=name]", "second")
    p.click("button:has-text('Start execution')")
    p.wait_for_url("**/console/executions/**:second")
    arn = first.rsplit(":", 1)[0] + ":second"
    wait_for_end(sfn, arn)
    p.wait_for_selector("main[data-status='SUCCEEDED']")
    assert p.inner_text("main h1").startswith("second")
    assert json.loads(sfn.describe_execution(executionArn=arn)["output"]) == {"n": 2}
    no_errors(page)


def test_executions_list_filters_searches_and_pages(page, sfn):
    machine = create(sfn, f"console-list-{suffix()}", {"StartAt": "Go", "States": {
        "Go": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "No"}],
               "Default": "Yes"},
        "Yes": {"Type": "Succeed"}, "No": {"Type": "Fail", "Error": "Asked"}}})
    arns = [sfn.start_execution(stateMachineArn=machine, name=f"run-{i:02d}",
                                input=json.dumps({"fail": i % 10 == 0}))["executionArn"]
            for i in range(30)]
    for arn in arns:
        wait_for_end(sfn, arn)
    p = page.open(f"/console/state-machines/{machine}")
    rows = p.locator("table.executions tbody tr")
    p.wait_for_selector("table.executions tbody tr")
    assert rows.count() == 25
    first_page = set(rows.evaluate_all("rs => rs.map(r => r.dataset.execution)"))
    p.click("button:has-text('Older')")
    sync_api.expect(rows).to_have_count(5)
    second_page = set(rows.evaluate_all("rs => rs.map(r => r.dataset.execution)"))
    assert first_page | second_page == set(arns) and not first_page & second_page
    p.click("button:has-text('Newer')")
    sync_api.expect(rows).to_have_count(25)

    p.select_option("select[aria-label='Status filter']", "FAILED")
    sync_api.expect(rows).to_have_count(3)
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.execution)")) == sorted(
        arns[i] for i in (0, 10, 20))

    p.fill("input[type=search]", "run-17")
    p.press("input[type=search]", "Enter")
    sync_api.expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-execution") == arns[17]
    page.screenshot("machine-executions")
    no_errors(page)


@pytest.mark.parametrize("name", SEED)
def test_seed_workflow_graphs_do_not_overlap(page, sfn, name):
    definition = seed_definition(name)
    kind = "EXPRESS" if name == "express-data-transform" else "STANDARD"
    machine = create(sfn, f"console-{name}-{suffix()}", definition, kind)
    p = page.open(f"/console/state-machines/{machine}")
    p.wait_for_selector("svg.graph")
    drawn = p.eval_on_selector_all("svg.graph [data-state]", "els => els.map(e => e.dataset.state)")
    assert sorted(drawn) == sorted(names_in(definition))
    # The names are text in the page (find, screen readers), not pixels.
    for state in names_in(definition):
        assert p.locator("svg.graph text.name", has_text=state).count() >= 1
    boxes = p.eval_on_selector_all(
        "svg.graph .state > rect.box, svg.graph .edge-label > rect",
        """els => els.map(e => {
            const r = e.getBoundingClientRect();
            const owner = e.parentElement;
            return {name: owner.dataset.state || owner.dataset.terminal || 'label:' + owner.textContent,
                    x: r.x, y: r.y, w: r.width, h: r.height};
        })""")
    assert len(boxes) >= len(drawn) + 2
    overlaps = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if contains(a, b) or contains(b, a):
                continue  # a Parallel or Map holds its states
            if intersect(a, b) > 0.5:
                overlaps.append((a["name"], b["name"]))
    assert overlaps == []
    page.screenshot(f"graph-{name}")
    no_errors(page)


def contains(outer, inner):
    return (outer["x"] <= inner["x"] + 0.5 and outer["y"] <= inner["y"] + 0.5
            and outer["x"] + outer["w"] >= inner["x"] + inner["w"] - 0.5
            and outer["y"] + outer["h"] >= inner["y"] + inner["h"] - 0.5)


def intersect(a, b):
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(w, 0) * max(h, 0)


def test_pages_load_without_errors_and_say_the_console_is_open(page, orders):
    machine, arns = orders
    for path, title in (("/console/", "State machines"), (f"/console/state-machines/{machine}", None),
                        (f"/console/executions/{arns['success']}", None)):
        p = page.open(path)
        p.wait_for_selector("main h1")
        if title:
            assert p.inner_text("main h1") == title
        assert "no sign-in" in p.inner_text(".open-notice")
    page.open("/console/")
    page.page.wait_for_selector("table.list a")
    page.screenshot("state-machines")
    p = page.open(f"/console/state-machines/{machine}")
    p.wait_for_selector("table.executions tbody tr")
    page.screenshot("machine-order-processing")
    no_errors(page)


def console_call(server, operation, body=b"{}", headers=None):
    request = urllib.request.Request(f"{server.endpoint}/console/api/{operation}", data=body,
                                     method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_console_calls_refuse_what_a_cross_site_page_can_send(server, sfn):
    ok = {"Content-Type": "application/json", "X-Cairn-Console": "1"}
    status, _ = console_call(server, "ListStateMachines", headers=ok)
    assert status == 200
    refused = [
        {"Content-Type": "application/json"},                          # no custom header
        {"Content-Type": "text/plain", "X-Cairn-Console": "1"},         # a form's type
        {"Content-Type": "application/x-www-form-urlencoded", "X-Cairn-Console": "1"},
        {**ok, "Origin": "http://attacker.example"},
        {**ok, "Sec-Fetch-Site": "cross-site"},
    ]
    machine = create(sfn, f"console-csrf-{suffix()}", {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3600, "End": True}}})
    for headers in refused:
        status, body = console_call(server, "StartExecution",
                                    json.dumps({"stateMachineArn": machine}).encode(), headers)
        assert status == 403, headers
        assert body["__type"].endswith("#AccessDeniedException"), body
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
    # An operation the console does not use is not reachable through it.
    status, body = console_call(server, "DeleteStateMachine",
                                json.dumps({"stateMachineArn": machine}).encode(), ok)
    assert status == 400 and body["__type"].endswith("#UnknownOperationException")
    assert sfn.describe_state_machine(stateMachineArn=machine)["status"] == "ACTIVE"
    # The page itself: no framing, nothing from elsewhere.
    with urllib.request.urlopen(f"{server.endpoint}/console/", timeout=10) as r:
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"


# The console's sign-in: a server whose API requires signatures.
SIGNED_KEYS = {"CONSOLEFULL": "console-full-secret-0123456789",
               "CONSOLEREADER": "console-reader-secret-0123456789"}


@pytest.fixture(scope="module")
def signed_server():
    import os
    from conftest import LOG_DIR, _stop, drop_database, start_server
    database = f"cairn_e2e_console_signed_{os.getpid()}"
    drop_database(database)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"console-signed-{os.getpid()}.log"
    log_path.write_text("")
    srv = start_server(database, log_path, {
        "CAIRN_API_CREDENTIALS": ",".join(f"{k}:{v}" for k, v in SIGNED_KEYS.items()),
        "CAIRN_API_POLICIES": json.dumps({"CONSOLEREADER": "read-only"}),
    })
    yield srv
    _stop(srv.process)
    drop_database(database)


@pytest.fixture
def signed_page(browser, signed_server):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    p = Page(context.new_page(), signed_server.endpoint)
    p.context = context
    yield p
    context.close()


def signed_sfn(server, key):
    from conftest import REGION
    import boto3
    from botocore.config import Config
    return boto3.session.Session().client(
        "stepfunctions", endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=key, aws_secret_access_key=SIGNED_KEYS[key],
        config=Config(retries={"max_attempts": 1}))


def sign_in(page, key, secret):
    p = page.open("/console/")
    p.wait_for_selector("form.sign-in")
    p.fill("#access-key-id", key)
    p.fill("#secret-access-key", secret)
    p.click("form.sign-in button[type=submit]")
    return p


def test_with_api_credentials_the_console_asks_for_sign_in(signed_page, signed_server):
    p = signed_page.open("/console/")
    p.wait_for_selector("form.sign-in")
    assert p.is_hidden(".open-notice")
    signed_page.screenshot("sign-in")
    # Without a session the console's calls are refused, whatever the page.
    ok = {"Content-Type": "application/json", "X-Cairn-Console": "1"}
    status, body = console_call(signed_server, "ListStateMachines", headers=ok)
    assert status == 403 and "sign in first" in body["message"], body
    # A wrong secret: refused, no cookie, still the form.
    sign_in(signed_page, "CONSOLEFULL", "not-the-secret")
    p.wait_for_selector("#alerts .alert")
    assert "not right" in p.inner_text("#alerts")
    assert signed_page.context.cookies() == []
    assert p.is_visible("form.sign-in")
    no_errors_but_refusals(signed_page)


def no_errors_but_refusals(page):
    """The browser logs a refused fetch (HTTP 403) as a console error; nothing else may fail."""
    others = [e for e in page.errors if "403" not in e]
    assert others == [], "\n".join(others)


def test_a_session_cookie_acts_within_its_key_policy(signed_page, signed_server):
    full = signed_sfn(signed_server, "CONSOLEFULL")
    machine = create(full, f"console-signed-{suffix()}", {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3600, "End": True}}})
    p = sign_in(signed_page, "CONSOLEREADER", SIGNED_KEYS["CONSOLEREADER"])
    p.wait_for_selector("table.list a")
    assert "Signed in as CONSOLEREADER" in p.inner_text(".session")
    assert p.is_hidden(".open-notice")
    [cookie] = signed_page.context.cookies()
    assert cookie["name"] == "cairn_console_session"
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"
    assert SIGNED_KEYS["CONSOLEREADER"] not in cookie["value"]
    assert p.evaluate("document.cookie") == "", "scripts cannot read the session"
    signed_page.screenshot("signed-in")
    session = {"Content-Type": "application/json", "X-Cairn-Console": "1",
               "Cookie": f"{cookie['name']}={cookie['value']}"}
    status, body = console_call(signed_server, "ListStateMachines", headers=session)
    assert status == 200 and any(m["stateMachineArn"] == machine for m in body["stateMachines"])
    # The read-only key's session may not start an execution: its policy applies.
    status, body = console_call(signed_server, "StartExecution",
                                json.dumps({"stateMachineArn": machine}).encode(), session)
    assert status == 400 and body["__type"].endswith("#AccessDeniedException"), body
    assert "user/CONSOLEREADER is not authorized to perform: states:StartExecution" in body["message"]
    # Another site cannot use the cookie: the guard refuses before the session counts.
    status, body = console_call(signed_server, "StopExecution", b"{}",
                                {**session, "Origin": "http://attacker.example"})
    assert status == 403 and "another" in body["message"] or "Origin" in body["message"], body
    status, _ = console_call(signed_server, "ListStateMachines", b"{}",
                             {**session, "Cookie": session["Cookie"][:-2] + "00"})
    assert status == 403, "a forged cookie"
    assert full.list_executions(stateMachineArn=machine)["executions"] == []
    # Signing out clears the cookie and shows the form again.
    p.click(".session .sign-out")
    p.wait_for_selector("form.sign-in")
    assert signed_page.context.cookies() == []
    no_errors_but_refusals(signed_page)


def test_a_full_key_session_starts_executions_and_sign_in_refuses_cross_site(signed_page,
                                                                            signed_server):
    full = signed_sfn(signed_server, "CONSOLEFULL")
    machine = create(full, f"console-signed-start-{suffix()}", {"StartAt": "P", "States": {
        "P": {"Type": "Pass", "End": True}}})
    p = sign_in(signed_page, "CONSOLEFULL", SIGNED_KEYS["CONSOLEFULL"])
    p.wait_for_selector("table.list a")
    [cookie] = signed_page.context.cookies()
    session = {"Content-Type": "application/json", "X-Cairn-Console": "1",
               "Cookie": f"{cookie['name']}={cookie['value']}"}
    status, body = console_call(signed_server, "StartExecution",
                                json.dumps({"stateMachineArn": machine}).encode(), session)
    assert status == 200, body
    assert len(full.list_executions(stateMachineArn=machine)["executions"]) == 1
    # The sign-in itself is guarded: a form on another site cannot sign a visitor in.
    request = urllib.request.Request(
        f"{signed_server.endpoint}/console/auth/sign-in", method="POST",
        data=json.dumps({"accessKeyId": "CONSOLEFULL",
                         "secretAccessKey": SIGNED_KEYS["CONSOLEFULL"]}).encode(),
        headers={"Content-Type": "text/plain"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 403
    assert "Set-Cookie" not in error.value.headers
    no_errors_but_refusals(signed_page)
