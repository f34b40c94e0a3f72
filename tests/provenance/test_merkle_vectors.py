"""Golden vectors: every transparency-dev/merkle inclusion and consistency case in ../shared."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from provenance.exceptions import ProofError
from provenance.ledger import verify_consistency_proof, verify_inclusion_proof

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "test-vectors" / "merkle"


def _cases(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(case: dict) -> list[bytes]:
    return [_b64(h) for h in case["proof"] or []]


def _id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def test_the_vector_folders_hold_every_published_case(shared_dir: Path) -> None:
    assert (shared_dir / "test-vectors" / "merkle").resolve() == VECTORS.resolve()
    inclusion, consistency = _cases("inclusion"), _cases("consistency")
    assert len(inclusion) >= 90 and len(consistency) >= 90
    wants = [json.loads(p.read_text())["wantErr"] for p in inclusion + consistency]
    assert wants.count(False) >= 10 and wants.count(True) >= 150


@pytest.mark.parametrize("path", _cases("inclusion"), ids=_id)
def test_inclusion_vector_is_accepted_or_rejected_as_published(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), _proof(case))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion_proof(*args, _b64(case["root"]))
    else:
        verify_inclusion_proof(*args, _b64(case["root"]))


@pytest.mark.parametrize("path", _cases("consistency"), ids=_id)
def test_consistency_vector_is_accepted_or_rejected_as_published(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (case["size1"], case["size2"], _proof(case), _b64(case["root1"]), _b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency_proof(*args)
    else:
        verify_consistency_proof(*args)


def test_rejections_say_what_was_got_and_what_was_wanted() -> None:
    case = json.loads((VECTORS / "inclusion" / "3" / "happy-path.json").read_text())
    leaf, root = _b64(case["leafHash"]), _b64(case["root"])
    with pytest.raises(ProofError) as short:
        verify_inclusion_proof(case["leafIdx"], case["treeSize"], leaf, [], root)
    assert (short.value.got, short.value.want) == (0, 1)
    assert "want 1" in str(short.value)
    with pytest.raises(ProofError) as wrong_root:
        verify_inclusion_proof(case["leafIdx"], case["treeSize"], leaf, _proof(case), bytes(32))
    assert wrong_root.value.want == bytes(32) and wrong_root.value.got == root
