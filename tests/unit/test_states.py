"""The lifecycle vocabulary: one transition table, and what each verb accepts."""

import pytest

from rocker import states
from rocker.errors import Conflict


def test_every_status_has_its_transitions():
    assert set(states.TRANSITIONS) == set(states.ALL)
    for old, new in states.TRANSITIONS.items():
        assert new <= set(states.ALL), old
    assert states.TRANSITIONS[states.REMOVING] == frozenset()


def test_an_illegal_transition_names_both_statuses():
    states.check_transition(states.RUNNING, states.PAUSED)
    with pytest.raises(Conflict, match="from removing to running"):
        states.check_transition(states.REMOVING, states.RUNNING)


@pytest.mark.parametrize("verb,status,ok", [
    ("kill", "running", True), ("kill", "paused", True), ("kill", "exited", False),
    ("exec", "running", True), ("exec", "paused", False), ("exec", "created", False),
    ("pause", "running", True), ("pause", "paused", False),
    ("unpause", "paused", True), ("unpause", "running", False),
    ("start", "exited", True), ("start", "created", True), ("start", "running", False),
    ("remove", "exited", True), ("remove", "running", False),
    ("start", "removing", False), ("kill", "removing", False),
])
def test_verbs_consult_one_table(verb, status, ok):
    if ok:
        states.guard(verb, status, "web")
    else:
        with pytest.raises(Conflict, match="web"):
            states.guard(verb, status, "web")


def test_the_errors_say_why():
    with pytest.raises(Conflict, match="is paused: unpause it first"):
        states.guard("exec", states.PAUSED, "web")
    with pytest.raises(Conflict, match="is being removed"):
        states.guard("start", states.REMOVING, "web")
    with pytest.raises(Conflict, match="it is running; stop it first or use -f"):
        states.guard("remove", states.RUNNING, "web")
