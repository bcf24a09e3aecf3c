"""The long-video state machine, executed: the ASL in deploy/statemachine runs on moto's Step
Functions interpreter (``execute_state_machine``), whose Lambda invocations are routed in this
process to the real step handlers (pipeline/sfn.py) on moto's DynamoDB and S3.

The job runner starts it exactly as in AWS (an execution named after the job); the timeline
it records equals the local runner's on the same video.
"""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.awslambda.models import LambdaFunction
from moto.core.exceptions import JsonRESTError

from impactlens.accounts import Principal
from impactlens.api.uploads import ValidationSlots, accept
from impactlens.jobs import lambda_runner
from impactlens.jobs.analysis import model_version, results_prefix
from impactlens.pipeline import sfn
from impactlens.pipeline.local import VideoRunner
from impactlens.pipeline.video import video_payload
from impactlens.services import Services, aws_services
from impactlens.settings import get_settings
from impactlens.storage.local import LocalBlobStore
from tests.aws import client, use_aws_backend
from tests.video_cases import write_video

ROOT = Path(__file__).resolve().parents[1]
ASL = ROOT / "deploy" / "statemachine" / "video.asl.json"
SCHEDULE = json.loads((ROOT / "tests" / "events" / "eventbridge_schedule.json").read_text())
_names = itertools.count()


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class Throttled(JsonRESTError):
    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate exceeded")


Hook = Callable[[str, dict[str, Any]], None]


class Router:
    """Stands in for Lambda's runtime: runs the function's real handler in this process.

    ``hook(function, event)`` runs first and may raise ``Throttled`` (a Lambda service error)
    or change the world the handler sees; a handler exception becomes Lambda's unhandled-error
    payload, named after the exception's class, as the Python runtime reports it.
    """

    def __init__(self) -> None:
        self.hook: Hook = lambda fn, event: None
        self.calls: Counter[tuple[str, Any]] = Counter()
        self.in_flight = 0
        self._lock = threading.Lock()

    def invoke(self, fn: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body)
        chunk = event.get("payload", {}).get("chunk", {}).get("index")
        with self._lock:
            self.calls[(event.get("step"), chunk)] += 1
            self.in_flight += 1
        try:
            self.hook(fn.function_name, event)
            result = sfn.handler(event, None)
        except Throttled:
            raise
        except Exception as exc:  # noqa: BLE001 - what the Lambda runtime does with it
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        finally:
            with self._lock:
                self.in_flight -= 1
        return json.dumps(result).encode()

    def settle(self, timeout_s: float = 60.0) -> None:
        """Waits for invocations still running: when one chunk fails, Step Functions stops the
        Map, but chunks already running finish (as in AWS)."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[Router]:
    r = Router()
    monkeypatch.setattr(LambdaFunction, "invoke", lambda self, body, req, resp: r.invoke(self, body, req, resp))
    yield r
    r.settle()  # nothing of this test keeps running into the next


def _moto_config(endpoint: str, execute: bool) -> None:
    body = json.dumps({"stepfunctions": {"execute_state_machine": execute}}).encode()
    req = urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=10):  # noqa: S310 - the emulator on loopback
        pass


def _state_machine(endpoint: str) -> str:
    """Deploys the ASL as CloudFormation would: the functions, then DefinitionSubstitutions."""
    role = client("iam", endpoint).create_role(
        RoleName=f"video-{next(_names)}", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "")  # never run: the router runs impactlens.pipeline.sfn.handler
    lam, arns = client("lambda", endpoint), {}
    for key, name in (("VideoStepsFunctionArn", "video-steps"), ("ChunkFunctionArn", "chunk")):
        arns[key] = lam.create_function(
            FunctionName=f"{name}-{next(_names)}",
            Runtime="python3.11",
            Role=role,
            Handler="impactlens.pipeline.sfn.handler",
            Code={"ZipFile": buf.getvalue()},
        )["FunctionArn"]
    definition = ASL.read_text()
    for key, arn in arns.items():
        definition = definition.replace("${" + key + "}", arn)
    sm = client("stepfunctions", endpoint).create_state_machine(
        name=f"video-{next(_names)}", definition=definition, roleArn=role, type="STANDARD"
    )
    return str(sm["stateMachineArn"])


@pytest.fixture
def services(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, router: Router) -> Iterator[Services]:
    monkeypatch.setenv("MOTO_PORT", aws_endpoint.rsplit(":", 1)[1])  # where the interpreter calls Lambda
    _moto_config(aws_endpoint, True)
    name = f"impactlens-sfn-{next(_names)}"
    use_aws_backend(monkeypatch, aws_endpoint, name)
    monkeypatch.setenv("IMPACTLENS_STATE_MACHINE_ARN", _state_machine(aws_endpoint))
    monkeypatch.setenv("IMPACTLENS_SFN_MIN_VIDEO_SECONDS", "2")
    monkeypatch.setenv("IMPACTLENS_SFN_CHUNK_SECONDS", "1")  # three chunks from three seconds
    for cached in (get_settings, lambda_runner._worker, lambda_runner._sfn_client, sfn._services):
        cached.cache_clear()
    s = aws_services(get_settings())
    s.accounts.create_org("o", "O", "pro")
    s.repo.create_brand("o", "b", "B")
    s.repo.create_campaign("o", "b", "c", "C")
    yield s
    _moto_config(aws_endpoint, False)
    for cached in (get_settings, lambda_runner._worker, lambda_runner._sfn_client, sfn._services):
        cached.cache_clear()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("sfn") / "v.mp4", seconds=3.0, size=(320, 240))


def _run_video_job(
    services: Services, video: Path, plan_limit_s: float | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Uploads, lets the job runner start the execution, waits for it; (asset, execution).
    ``plan_limit_s`` replaces the plan's length limit recorded at upload."""
    asset = services.repo.create_asset("o", "b", "c", "unknown", name="v", status="awaiting_upload", aois=[])
    who = Principal(org="o", role="Admin", kind="key", plan="pro")
    accept(services, who, asset, str(video), video.stat().st_size, ValidationSlots(1))
    if plan_limit_s is not None:
        services.repo.update_asset("o", asset["asset"], {"max_video_s": plan_limit_s})
    assert lambda_runner.handler(SCHEDULE, Context()) == {"jobs_run": 1}
    job = services.repo.get_asset("o", asset["asset"])["job"]
    held = services.repo.get_job(job)
    assert held["status"] == "running" and held["worker"] == f"sfn:{job}"  # handed over
    sfn_client = client("stepfunctions", services.settings.aws_endpoint_url)
    deadline = time.monotonic() + 180
    while True:
        execution = sfn_client.describe_execution(executionArn=held["execution"])
        if execution["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert execution["name"] == job
    return services.repo.get_asset("o", asset["asset"]), execution


def _local_timeline(services: Services, video: Path, tmp_path: Path) -> list[dict[str, Any]]:
    s = services.settings
    blobs = LocalBlobStore(tmp_path / "local", b"k" * 32)
    with VideoRunner(s, blobs, workers=0) as runner:
        result = runner.run(video_payload("ref", {"path": str(video)}, "v", [], s))["result"]
    timeline: list[dict[str, Any]] = result["timeline"]
    return timeline


def test_a_long_video_runs_through_the_state_machine_with_the_local_runners_timeline(
    services: Services, video: Path, router: Router, tmp_path: Path
) -> None:
    asset, execution = _run_video_job(services, video)
    assert execution["status"] == "SUCCEEDED"
    assert asset["status"] == "done" and 0 <= asset["scores"]["memorability"] <= 1
    assert services.repo.get_job(asset["job"])["status"] == "done"
    stored = json.loads(services.repo.get_result("o", asset["asset"], asset["result_version"])["analysis"])
    assert [c["index"] for c in stored["chunks"]] == [0, 1, 2]
    local = _local_timeline(services, video, tmp_path)
    assert len(stored["timeline"]) == len(local) == 6
    for got, want in zip(stored["timeline"], local, strict=True):
        assert got == pytest.approx(want, abs=1e-6)  # same frames, same models, chunked elsewhere
    assert {step for step, _ in router.calls} == {"probe", "prepare", "analyse_chunk", "merge", "cleanup"}
    assert list(services.blobs.list("work/")) == []
    prefix = results_prefix("o", asset["asset"], model_version(services.settings))
    assert any(b.key.endswith("heatmap.mp4") for b in services.blobs.list(prefix + "/"))


def test_the_plan_length_limit_recorded_at_upload_holds_on_the_state_machine_path(
    services: Services, video: Path, router: Router
) -> None:
    # As if decoding found more than the upload's packet scan did (a lying header): the
    # execution's steps decode only up to the plan's limit, as the in-process job does.
    asset, execution = _run_video_job(services, video, plan_limit_s=2.0)
    assert execution["status"] == "FAILED"
    assert asset["status"] == "failed" and asset["error"]["code"] == "video_too_long", asset.get("error")
    assert services.repo.get_job(asset["job"])["status"] == "failed"
    assert router.calls[("analyse_chunk", 0)] == 0  # stopped before any chunk was analysed


def test_a_chunk_throttled_once_is_retried_and_the_video_succeeds(
    services: Services, video: Path, router: Router
) -> None:
    throttled: list[int] = []

    def throttle_chunk_1_once(fn: str, event: dict[str, Any]) -> None:
        if event["step"] == "analyse_chunk" and event["payload"]["chunk"]["index"] == 1 and not throttled:
            throttled.append(1)
            raise Throttled

    router.hook = throttle_chunk_1_once
    asset, execution = _run_video_job(services, video)
    assert execution["status"] == "SUCCEEDED" and asset["status"] == "done"
    assert router.calls[("analyse_chunk", 1)] == 2 and router.calls[("analyse_chunk", 0)] == 1
    assert router.calls[("fail_asset", None)] == 0


def test_a_chunk_that_always_fails_fails_the_asset_naming_step_and_time_range(
    services: Services, video: Path, router: Router
) -> None:
    def corrupt_chunk_1(fn: str, event: dict[str, Any]) -> None:
        if event["step"] == "analyse_chunk" and event["payload"]["chunk"]["index"] == 1:
            services.blobs.put(event["payload"]["chunk"]["key"], b"not a chunk", "application/octet-stream")

    router.hook = corrupt_chunk_1
    asset, execution = _run_video_job(services, video)
    assert execution["status"] == "FAILED"
    assert asset["status"] == "failed"
    assert asset["error"]["code"] == "corrupt_chunk"
    assert asset["error"]["message"].startswith("analyse: chunk 1 (1.0-2.0 s): ")
    assert services.repo.get_job(asset["job"])["status"] == "failed"
    assert router.calls[("analyse_chunk", 1)] == 1  # a step's own error is not retried
    prefix = results_prefix("o", asset["asset"], model_version(services.settings))
    assert list(services.blobs.list(prefix + "/")) == []
    router.settle()
    # A chunk still running when the Map failed may finish after FailAsset's cleanup; only
    # its own intermediate files can remain, and the bucket's work/ lifecycle expires them.
    left = [b.key for b in services.blobs.list("work/")]
    assert all("/results/" in k or "/segments/" in k for k in left), left


def test_a_timed_out_chunk_is_named_by_the_first_chunk_without_a_result(tmp_path: Path) -> None:
    """A Lambda timeout carries no chunk: FailAsset finds the one still running (saved event)."""
    from impactlens.services import embedded_services
    from impactlens.settings import Settings

    event = json.loads((ROOT / "tests" / "events" / "stepfunctions_fail_asset_timeout.json").read_text())
    payload = event["payload"]
    s = embedded_services(Settings(data_dir=tmp_path))
    s.blobs.put(f"{payload['work_prefix']}/results/00000.npz", b"done", "application/octet-stream")
    code, message = sfn._failure_message(payload, s)
    assert code == "step_timeout"
    assert message == "analyse: chunk 1 (30.0-60.0 s): States.Timeout: Task timed out after 330.00 seconds"
    with pytest.raises(ValueError):
        sfn.handler({**event, "step": "no_such_step"}, None)
