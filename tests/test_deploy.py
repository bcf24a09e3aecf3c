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


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def test_cfn_lint_finds_no_errors_or_warnings() -> None:
    problems = lint(TEMPLATE.read_text(), config=ManualArgs(regions=["eu-west-1"]))
    assert [str(p) for p in problems] == []


def test_sam_translates_to_the_expected_resources(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    cfn = transform(_template(), {"AWS::Region": "eu-west-1"}, _NoManagedPolicies())
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
    assert "models build" in text and "resmem==1.1.6" in text and "rm -rf /tmp/weights" in text
    cmd = re.search(r'^CMD \["([\w.]+)"\]$', text, re.M)
    assert cmd is not None
    module, func = cmd.group(1).rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), func))
