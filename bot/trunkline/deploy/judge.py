"""Kayenta-style latency judge: is the canary slower than stable? (pure)

Two conditions, both needed for ``fail``:

* **significance** — a two-sided Mann-Whitney U test of canary against stable latencies gives
  p < ``alpha`` (exact without ties for small samples, tie-corrected normal approximation otherwise:
  :mod:`trunkline.perf.stats`), and the canary is the slower side;
* **effect size** — the canary's median is at least ``min_effect`` times stable's median **and** at
  least ``min_delta_ms`` above it. A significant 3 % or 0.4 ms difference is noise on a shared host,
  not a regression. Cliff's delta (the common-language effect size, rescaled to [-1, 1]) is reported
  alongside.

``nodata`` when either side has fewer than ``min_samples`` latencies: never counted as a pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, Protocol

from trunkline.perf.stats import cliffs_delta, mann_whitney, median

JudgeResult = Literal["pass", "fail", "nodata"]


class LatencySettings(Protocol):
    alpha: float
    min_effect: float
    min_delta_ms: float
    min_samples: int


def judge_latency(canary_ms: Sequence[float], stable_ms: Sequence[float],
                  spec: LatencySettings) -> tuple[JudgeResult, str]:
    """``("pass" | "fail" | "nodata", detail)`` for canary against stable latencies (milliseconds)."""
    canary = [float(v) for v in canary_ms if v is not None and math.isfinite(v)]
    stable = [float(v) for v in stable_ms if v is not None and math.isfinite(v)]
    if len(canary) < spec.min_samples or len(stable) < spec.min_samples:
        return "nodata", (f"too few latency samples ({len(canary)} canary, {len(stable)} stable; "
                          f"need {spec.min_samples} each)")
    test = mann_whitney(canary, stable)
    delta = cliffs_delta(canary, stable)
    canary_median, stable_median = median(canary), median(stable)
    ratio = canary_median / stable_median if stable_median > 0 else (math.inf if canary_median > 0 else 1.0)
    shown_ratio = "inf" if math.isinf(ratio) else f"{ratio:.2f}x"
    figures = (f"canary median {canary_median:.1f} ms vs stable {stable_median:.1f} ms ({shown_ratio}), "
               f"p = {test.p_value:.3g}, Cliff's delta {delta:+.2f}, n = {len(canary)}/{len(stable)}")
    slower = canary_median > stable_median and delta > 0
    significant = test.p_value < spec.alpha
    big = ratio >= spec.min_effect and canary_median - stable_median >= spec.min_delta_ms
    if slower and significant and big:
        return "fail", f"canary is slower: {figures}"
    if not slower:
        return "pass", f"canary is not slower: {figures}"
    if not significant:
        return "pass", f"no significant difference (p >= {spec.alpha:g}): {figures}"
    return "pass", (f"significant but below the effect floor ({spec.min_effect:g}x and "
                    f"+{spec.min_delta_ms:g} ms): {figures}")


__all__ = ["JudgeResult", "LatencySettings", "judge_latency"]
