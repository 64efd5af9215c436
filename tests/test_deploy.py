"""The deployment files agree with the repository: the GPU image's substitution is exact."""

from __future__ import annotations

import re
from pathlib import Path

from serving.launcher import DEFAULT_MODEL_REPOSITORY

ROOT = Path(__file__).resolve().parents[1]


def test_every_model_has_exactly_one_cpu_instance_group_for_the_image_to_turn_into_gpu() -> None:
    configs = sorted(DEFAULT_MODEL_REPOSITORY.glob("*/config.pbtxt"))
    assert {c.parent.name for c in configs} == {"recommender", "summarizer"}
    for config in configs:
        text = re.sub(r"#[^\n]*", "", config.read_text())
        assert len(re.findall(r"kind:\s*KIND_\w+", text)) == 1, config
        assert "kind: KIND_CPU" in text, f"{config}: the local repository runs on the CPU"


def test_the_triton_image_builds_gpu_instance_groups_by_default() -> None:
    dockerfile = (ROOT / "deploy" / "docker" / "triton.Dockerfile").read_text()
    assert re.search(r"^ARG TRITON_INSTANCE_KIND=KIND_GPU$", dockerfile, re.MULTILINE)
    assert "s/kind: KIND_CPU/kind: ${TRITON_INSTANCE_KIND}/" in dockerfile
    assert 'grep -q "kind: ${TRITON_INSTANCE_KIND}"' in dockerfile, "the build must fail if nothing changed"


def test_the_gpu_deployment_asks_for_a_gpu_and_cuda_in_bf16() -> None:
    triton = (ROOT / "deploy" / "k8s" / "triton.yaml").read_text()
    assert "nvidia.com/gpu: 1" in triton
    configmap = (ROOT / "deploy" / "k8s" / "configmap.yaml").read_text()
    assert 'STREAMREC_DEVICE: "auto"' in configmap and 'STREAMREC_PRECISION: "auto"' in configmap
