"""Host facts: one frozen record, built in one place, written as the mapping every run and record carries."""

import dataclasses
import json

import pytest

from fwbench.machine.envinfo import HostFacts, host_info, usable_cores
from fwbench.machine.host import labelled_facts


def test_host_facts_are_frozen_and_written_as_plain_json():
    facts = HostFacts.collect()
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.hostname = "elsewhere"
    written = facts.as_dict()
    assert list(written) == [item.name for item in dataclasses.fields(HostFacts)]
    assert written["usable_cores"] == len(usable_cores()) and "cpu" in written["device_kinds"]
    assert json.loads(json.dumps(written)) == written  # lists and dicts only: what results.jsonl holds


def test_host_info_is_the_facts_mapping_that_machine_comparisons_read():
    found = host_info()
    assert set(found) == {item.name for item in dataclasses.fields(HostFacts)}
    assert labelled_facts(found)  # fwbench.machine.host reads the same mapping
