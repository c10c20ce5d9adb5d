"""Claims: spec validation, and verdicts from hand-made measurements (each verdict reachable)."""

import pytest

from fwbench.claims.claim import load_claim
from fwbench.claims.measured import Measurements, Timing
from fwbench.claims.verdict import judge
from fwbench.errors import SpecError
from tests.conftest import REPO_ROOT

JAX_86X = REPO_ROOT / "workloads" / "claims" / "jax-86x.yaml"
XLA_FUSION = REPO_ROOT / "workloads" / "claims" / "xla-fusion.yaml"
FUSED, UNFUSED = 800_000_000, 6_000_000_000


ROUND_SPREAD = (0.99, 1.0, 1.012)  # three rounds a little apart, as real ones are


def timing(seconds, rounds=ROUND_SPREAD, timeit=None, fused=FUSED, unfused=UNFUSED, device_name=None):
    medians = [seconds * factor for factor in rounds]
    return Timing(seconds, min(medians), max(medians), timeit, fused, unfused, device_name, round_medians_s=medians,
                  round_numbers=list(range(1, len(medians) + 1)), run_id="run")


def speedup_measurements(devices, jax_seconds, rounds=ROUND_SPREAD):
    """NumPy at 0.33 s on the CPU; JAX jit at the given seconds per device."""
    timings = {("numpy/eager", "cpu"): timing(0.33, timeit=0.325, device_name="EPYC")}
    for device, seconds in jax_seconds.items():
        timings[("jax/jit", device)] = timing(seconds, rounds=rounds[::-1], timeit=seconds * 0.99)
    return Measurements(timings=timings, bandwidth_gbytes_per_s={"cpu": 6.5, "tpu": 800.0},
                        devices_present=devices, by_size={"n=10000": timings}, cpu_name="EPYC", num_threads=2)


def test_cpu_only_is_not_testable_and_says_the_claim_used_a_tpu():
    verdict = judge(load_claim(JAX_86X), speedup_measurements(["cpu"], {"cpu": 0.13}))
    assert verdict.verdict == "not testable here"
    assert "TPU" in verdict.explanation and "no TPU" in verdict.explanation
    assert "2.54x (95% interval" in verdict.explanation  # 0.33 / 0.13, computed, with its interval
    assert "6.5 GB/s" in verdict.explanation
    ratio = verdict.numbers["ratios"]["cpu"]
    assert ratio["fwbench"] == pytest.approx(0.33 / 0.13)
    assert ratio["low"] < 0.33 / 0.13 < ratio["high"]
    assert verdict.numbers["bound_fraction"]["numpy/eager@cpu"] == pytest.approx(0.8 / 6.5 / 0.33)


def test_tpu_within_tolerance_is_reproduced_and_the_verdict_line_quotes_the_interval():
    verdict = judge(load_claim(JAX_86X), speedup_measurements(["cpu", "tpu"], {"cpu": 0.13, "tpu": 0.33 / 80}))
    assert verdict.verdict == "reproduced"
    assert "the claimed pairing gives 80x (95% interval 7" in verdict.explanation
    assert "reaches the claimed 86x" in verdict.explanation


def test_tpu_faster_by_another_factor_holds_in_direction():
    verdict = judge(load_claim(JAX_86X), speedup_measurements(["cpu", "tpu"], {"cpu": 0.13, "tpu": 0.33 / 20}))
    assert verdict.verdict == "holds in direction"
    assert "the claimed pairing gives 20x (95% interval" in verdict.explanation


def test_tpu_slower_is_not_reproduced():
    verdict = judge(load_claim(JAX_86X), speedup_measurements(["cpu", "tpu"], {"cpu": 0.13, "tpu": 0.5}))
    assert verdict.verdict == "not reproduced"


@pytest.mark.parametrize("device", ["gpu", "tpu"])
def test_a_ratio_above_one_whose_interval_reaches_below_one_is_undecided(device):
    noisy = (0.2, 1.0, 5.0)  # rounds that disagree by 25x: the interval straddles 1 and reaches 86x
    verdict = judge(load_claim(JAX_86X), speedup_measurements(["cpu", device], {"cpu": 0.13, device: 0.033},
                                                              rounds=noisy))
    assert verdict.numbers["ratios"][device]["fwbench"] == pytest.approx(10)
    assert verdict.numbers["ratios"][device]["low"] < 1 < 86 < verdict.numbers["ratios"][device]["high"]
    assert verdict.verdict == "undecided", verdict.explanation
    assert "cannot tell whether jax/jit is faster" in verdict.explanation


def test_a_ratio_whose_interval_ends_below_the_claimed_band_is_not_reproduced():
    verdict = judge(load_claim(JAX_86X), speedup_measurements(["cpu", "tpu"], {"cpu": 0.13, "tpu": 0.33}))
    assert verdict.numbers["ratios"]["tpu"]["low"] < 1 < verdict.numbers["ratios"]["tpu"]["high"]
    assert verdict.verdict == "not reproduced", verdict.explanation


def test_one_round_cannot_decide():
    verdict = judge(load_claim(JAX_86X), speedup_measurements(["cpu", "tpu"], {"cpu": 0.13, "tpu": 0.33 / 80},
                                                              rounds=(1.0,)))
    assert verdict.verdict == "undecided"
    assert "one round cannot decide" in verdict.explanation


def test_a_gpu_instead_of_the_tpu_holds_in_direction_at_most():
    verdict = judge(load_claim(JAX_86X), speedup_measurements(["cpu", "gpu"], {"cpu": 0.13, "gpu": 0.33 / 86}))
    assert verdict.verdict == "holds in direction"
    assert "no TPU" in verdict.explanation and "GPU" in verdict.explanation


def fusion_measurements(xla_seconds, eager_seconds=0.2, noisy=False):
    sizes = {}
    for n, scale in ((1048576, 1 / 16), (16777216, 1.0)):
        xla, eager = xla_seconds * scale, eager_seconds * scale
        xla_rounds = (0.2, 1.0, 5.0) if noisy else (1.01, 0.99, 1.0)
        sizes[f"n={n}"] = {
            ("tensorflow/eager", "cpu"): timing(eager, fused=4 * n * 3 + 4, unfused=4 * n * 8),
            ("tensorflow/xla", "cpu"): timing(xla, rounds=xla_rounds, fused=4 * n * 3 + 4, unfused=4 * n * 8),
        }
    return Measurements(timings=sizes["n=16777216"], bandwidth_gbytes_per_s={"cpu": 6.5}, devices_present=["cpu"],
                        by_size=sizes)


@pytest.mark.parametrize("xla_seconds, noisy, expected", [
    (0.03, False, "reproduced"),           # faster than moving the unfused 537 MB at 6.5 GB/s (83 ms): fused
    (0.15, False, "holds in direction"),   # faster than eager, but slower than the unfused bound
    (0.03, True, "undecided"),             # faster by the medians, but the rounds' interval straddles 1
    (0.30, False, "not reproduced"),
])
def test_fusion_verdicts(xla_seconds, noisy, expected):
    verdict = judge(load_claim(XLA_FUSION), fusion_measurements(xla_seconds, noisy=noisy))
    assert verdict.verdict == expected, verdict.explanation
    # the explanation quotes this measurement: XLA's time and the speed-up over eager at the largest size
    assert f"tensorflow/xla takes {xla_seconds * 1000:g} ms and tensorflow/eager 200 ms" in verdict.explanation
    assert f": {0.2 / xla_seconds:.3g}x (95% interval" in verdict.explanation
    # and sets it against the 82.6 ms that moving the unfused bytes at 6.5 GB/s takes
    assert f"tensorflow/xla is {'below' if xla_seconds < 0.0826 else 'above'} t" in verdict.explanation


def test_fusion_not_testable_without_tensorflow():
    verdict = judge(load_claim(XLA_FUSION), Measurements(devices_present=["cpu"]))
    assert verdict.verdict == "not testable here"


CLAIM = """
version: 1
claim:
  id: c
  statement: "X is faster"
  {source}
  evaluation: speedup
  workload: w
  baseline: {{series: numpy/eager, device: cpu}}
  subject: {{series: jax/jit, device: cpu}}
  ratio: 2
workloads:
  - name: w
    kind: expression
    expr: "x * 2"
    inputs:
      x: {{shape: [4]}}
"""


def test_a_claim_without_a_source_is_an_error(write_spec):
    with pytest.raises(SpecError, match="field 'claim.source': the required key 'source' is missing"):
        load_claim(write_spec(CLAIM.format(source="")))


def test_a_claim_source_needs_title_and_url(write_spec):
    with pytest.raises(SpecError, match="claim.source.url"):
        load_claim(write_spec(CLAIM.format(source="source: {title: Somewhere}")))
    with pytest.raises(SpecError, match="non-empty title and url"):
        load_claim(write_spec(CLAIM.format(source="source: {title: '', url: ''}")))


def test_a_claim_must_name_one_of_its_workloads(write_spec):
    text = CLAIM.format(source="source: {title: T, url: 'https://example.org'}").replace("workload: w", "workload: v")
    with pytest.raises(SpecError, match="expected one of this file's workloads: w"):
        load_claim(write_spec(text))


def test_unknown_claim_keys_are_listed(write_spec):
    text = CLAIM.format(source="source: {title: T, url: 'https://example.org'}").replace("ratio: 2", "ratioo: 2")
    with pytest.raises(SpecError, match="unknown key 'ratioo'.*did you mean 'ratio'"):
        load_claim(write_spec(text))


def test_shipped_claims_are_valid():
    assert load_claim(JAX_86X).ratio == 86
    assert load_claim(XLA_FUSION).evaluation == "fusion"
