"""Pulled images in stacks (pure planning): `images.<key>.pull` with its digest pinned, a
tag that moved shows `pull image ... digest old -> new` and the members it replaces; the
loader refuses what a stack cannot name."""

from __future__ import annotations

import pytest

from rocker.errors import SpecError
from rocker.plan import DesiredImage, DesiredState, ObservedImage, plan
from rocker.plan.model import PullImage
from rocker.plan.render import render_text
from tests.unit.test_plan import IMG_ID, NO_CHANGES, STACK, dc, observed, running

REF = "127.0.0.1:5000/app:1"
OLD = "sha256:" + "b" * 64
NEW = "sha256:" + "c" * 64


def desired_pull(digest: str, *containers) -> DesiredState:
    img = DesiredImage(name="app", ref=REF, source=REF, digest=digest, pull=REF)
    return DesiredState(stack=STACK, images=(img,), containers=tuple(containers),
                        source="s.yaml")


def test_a_new_pull_is_planned_with_its_digest():
    web = dc("s-web-1", "web", image=REF)
    p = plan(desired_pull(NEW, web), observed(image=False))
    assert isinstance(p.actions[0], PullImage) and p.actions[0].kind == "pull"
    text = render_text(p)
    assert f"pull image {REF}" in text and NEW[7:19] in text


def test_the_same_digest_is_current_and_a_moved_tag_replaces_the_members():
    web = dc("s-web-1", "web", image=REF)
    obs_img = {REF: ObservedImage(REF, IMG_ID, OLD, NO_CHANGES)}
    cur = running(web, image_identity=(OLD, NO_CHANGES))
    assert plan(desired_pull(OLD, web), observed(cur, image=False, images=obs_img)).actions \
        == ()
    p = plan(desired_pull(NEW, web), observed(cur, image=False, images=obs_img))
    pull = p.actions[0]
    assert isinstance(pull, PullImage) and pull.old_digest == OLD
    assert pull.reason == "the tag now points at a new digest"
    assert [a.kind for a in p.actions] == ["pull", "replace"]
    text = render_text(p)
    assert "~ pull image" in text and "forces replacement" in text and "pulled at" in text


def _load(tmp_path, body: str):
    from rocker.stackfile.loader import load_desired
    f = tmp_path / "s.yaml"
    f.write_text(body)
    return load_desired(str(f))


def test_loader_pins_a_given_digest_without_asking_anyone(tmp_path, monkeypatch):
    monkeypatch.setenv("ROCKER_REGISTRY_LOOPBACK_ONLY", "1")
    d = _load(tmp_path, f"images:\n  app:\n    pull: {REF}@{NEW}\ncontainers:\n"
                        "  web:\n    image: app\n    command: [true]\n")
    assert d.images[0].digest == NEW and d.images[0].pull == REF
    assert d.containers[0].image_ref == REF


@pytest.mark.parametrize("body,match", [
    (f"images:\n  app:\n    pull: 127.0.0.1:5000/app@{NEW}\n", "by tag"),
    (f"images:\n  app:\n    pull: {REF}\n    tag: x\n", "go with `import`"),
    ("images:\n  app:\n    pull: Bad//ref\n", "invalid reference"),
    ("images:\n  app:\n    tag: x\n", "import: TAR"),
    ("images:\n  app:\n    pull: busybox\n    pull_policy: always\n", "127.0.0.0/8"),
])
def test_loader_refusals(tmp_path, monkeypatch, body, match):
    monkeypatch.setenv("ROCKER_REGISTRY_LOOPBACK_ONLY", "1")
    with pytest.raises(SpecError, match=match):
        _load(tmp_path, body)


def test_import_and_pull_together_are_refused(tmp_path):
    with pytest.raises(SpecError, match="either import or pull"):
        _load(tmp_path, f"images:\n  app:\n    import: x.tar\n    pull: {REF}\n")
