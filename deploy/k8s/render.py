"""Render every overlay with `kubectl kustomize`, offline, for checks (not for deploying).

    python deploy/k8s/render.py [OUT_DIR]          # OUT_DIR/<overlay>.yaml, default build/k8s

The Secrets are generated from env files that are never committed, so the overlays are copied
to a temporary directory and each missing file is filled from its committed example first:
what comes out has the examples' placeholder values, never real ones. `make k8s-validate`
and `make policy` check the result; tests/unit/test_k8s_manifests.py does the same in pytest.

KUBECTL names the kubectl binary (default: `kubectl` on PATH); a standalone `kustomize`
binary works too (KUBECTL=kustomize: `kustomize build`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OVERLAYS = ("dev", "staging", "production")
# The files each overlay's secretGenerator reads, and the committed example of each.
SECRET_FILES = {
    "secrets.env": "../../examples/secrets.env.example",
    "datastores.env": "datastores.env.example",
    "fcm-service-account.json": "../../examples/fcm-service-account.json.example",
}


class KubectlMissing(RuntimeError):
    """Neither kubectl nor kustomize can be run."""


def kubectl() -> list[str]:
    """The command that renders a kustomization directory (its path is appended)."""
    name = os.environ.get("KUBECTL", "kubectl")
    found = shutil.which(name)
    if not found:
        raise KubectlMissing(
            f"{name!r} was not found: rendering the Kubernetes manifests needs kubectl "
            "(or KUBECTL=kustomize). Install it, e.g. `apt-get install kubectl` from the "
            "Kubernetes apt repository, or point KUBECTL at the binary.")
    return [found, "build"] if Path(found).name == "kustomize" else [found, "kustomize"]


def render_overlay(tree: Path, overlay: str) -> str:
    """`kubectl kustomize` of one overlay inside a copied tree (examples filled in)."""
    directory = tree / "overlays" / overlay
    for name, example in SECRET_FILES.items():
        target = directory / name
        if not target.exists():
            shutil.copyfile((directory / example).resolve(), target)
    result = subprocess.run([*kubectl(), str(directory)], capture_output=True, text=True,  # noqa: S603
                            check=False, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"kustomize failed for {overlay}:\n{result.stderr}")
    return result.stdout


def render_all() -> dict[str, str]:
    """{overlay: rendered YAML} for every overlay, from a throwaway copy of deploy/k8s."""
    with tempfile.TemporaryDirectory(prefix="portal-k8s-") as tmp:
        tree = Path(tmp) / "k8s"
        shutil.copytree(HERE, tree, ignore=shutil.ignore_patterns(
            "secrets.env", "datastores.env", "fcm-service-account.json", "__pycache__"))
        return {overlay: render_overlay(tree, overlay) for overlay in OVERLAYS}


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path("build/k8s")
    out.mkdir(parents=True, exist_ok=True)
    try:
        rendered = render_all()
    except KubectlMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for overlay, text in rendered.items():
        (out / f"{overlay}.yaml").write_text(text)
        print(f"{out / overlay}.yaml: {text.count(chr(10) + 'kind: ')} objects")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
