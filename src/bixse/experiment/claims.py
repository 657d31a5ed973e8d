"""The experiment's claims, tested: one verdict and one plain sentence each.

A claim (``claims:`` in the experiment file) says "arm beats against" on the pooled primary
measure. Its test is the report's paired test of the two arms (same seeds, same collections:
a two-level bootstrap over seeds and queries, and a sign-flip randomisation test), Holm-corrected
across the claims. The verdict:

- **holds**: the difference is positive and significant (both tests, after Holm);
- **does not hold at this scale**: it is significantly negative, or its 95% interval lies below
  the claim's ``min_effect`` (the data exclude a gain worth the name);
- **inconclusive**: neither; **not run yet**: an arm has no finished cell, or none on a shared seed.
"""

from __future__ import annotations

from typing import Any

from bixse.evaluation.significance import holm_correction
from bixse.experiment.aggregate import ALPHA, arm_id, common_ground, group_arms, paired_test
from bixse.experiment.config import SELECTOR_KEYS, Claim

RULE = ("holds = the difference is positive and significant by both tests after Holm across the claims; "
        "does not hold at this scale = significantly negative, or its 95% interval excludes a gain of the "
        "claim's min_effect (0.01 unless stated); inconclusive = neither")
HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, NOT_RUN = ("holds", "does not hold at this scale", "inconclusive",
                                               "not run yet")


def _arm_name(arm: tuple[Any, ...]) -> str:
    return arm_id(dict(zip(SELECTOR_KEYS, arm)))


def _contrast(claim: Claim) -> str:
    """"bixse − infonce (nfcorpus-human, flip0.1)": the fields that differ, then those shared."""
    differ = [(mine, theirs) for mine, theirs in zip(claim.arm, claim.against) if mine != theirs]
    shared = [str(value) for value, other in zip(claim.arm[:3], claim.against[:3]) if value == other]
    left = " · ".join(str(mine) for mine, _ in differ)
    right = " · ".join(str(theirs) for _, theirs in differ)
    return f"{left} − {right}" + (f" ({', '.join(shared)})" if shared else "")


def _cells_of(by_arm: dict[str, dict[int, dict[str, Any]]], arm: tuple[Any, ...]) -> dict[int, dict[str, Any]]:
    """The arm's finished cells (the first evaluation set, where a grid evaluates it elsewhere too)."""
    return by_arm.get(_arm_name(arm), {})


def evaluate_claims(results: list[dict[str, Any]], claims: tuple[Claim, ...], measure: str,
                n_resamples: int = 2_000) -> list[dict[str, Any]]:
    """Each claim with its difference, interval, Holm-adjusted p-values, verdict and sentence."""
    by_arm, _ = group_arms(results)
    records = []
    for claim in claims:
        record: dict[str, Any] = {"claim": claim.text, "paper": claim.paper, "arm": _arm_name(claim.arm),
                                  "against": _arm_name(claim.against), "contrast": _contrast(claim),
                                  "measure": measure, "min_effect": claim.min_effect}
        cells, base_cells = _cells_of(by_arm, claim.arm), _cells_of(by_arm, claim.against)
        seeds, targets = common_ground(cells, base_cells)
        if targets:
            record.update(seeds=seeds, collections=len(targets),
                          **paired_test(cells, base_cells, seeds, targets, measure, n_resamples))
        records.append(record)
    tested = [r for r in records if "delta" in r]
    for test, key in (("boot_p", "boot_p_holm"), ("rand_p", "rand_p_holm")):
        for record, adjusted in zip(tested, holm_correction([r[test] for r in tested])):
            record[key] = adjusted
    for record in records:
        record["verdict"] = claim_verdict(record)
        record["sentence"] = claim_sentence(record)
    return records


def claim_verdict(record: dict[str, Any]) -> str:
    if "delta" not in record:
        return NOT_RUN
    significant = record["boot_p_holm"] < ALPHA and record["rand_p_holm"] < ALPHA
    if significant and record["delta"] > 0:
        return HOLDS
    if (significant and record["delta"] < 0) or record["ci"][1] < record["min_effect"]:
        return DOES_NOT_HOLD
    return INCONCLUSIVE


def _signed(value: float) -> str:
    return f"{value:+.3f}".replace("-", "−")


def claim_sentence(record: dict[str, Any]) -> str:
    """One markdown line: the claim, its source's figures, the verdict and the interval behind it."""
    paper = f" ({record['paper']})" if record["paper"] else ""
    head = f"**{record['claim']}**{paper}: {record['verdict']}"
    if "delta" not in record:
        return f"{head} ({record['contrast']})."
    seeds = len(record["seeds"])
    reason = ""
    if record["verdict"] == DOES_NOT_HOLD:
        reason = ("; the difference is significantly negative" if record["delta"] < 0 and
                  record["boot_p_holm"] < ALPHA and record["rand_p_holm"] < ALPHA
                  else f"; the interval excludes a gain of {record['min_effect']:g}")
    collections = record["collections"]
    provisional = " Provisional: one seed, so the interval covers queries only." if seeds == 1 else ""
    return (f"{head}: {record['contrast']} = {_signed(record['delta'])} "
            f"[{_signed(record['ci'][0])}, {_signed(record['ci'][1])}] pooled {record['measure']} over "
            f"{collections} collection{'s' if collections > 1 else ''}, {seeds} seed{'s' if seeds > 1 else ''} "
            f"(Holm p {record['boot_p_holm']:.2g} boot / {record['rand_p_holm']:.2g} rand){reason}.{provisional}")
