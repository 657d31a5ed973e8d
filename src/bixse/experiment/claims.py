"""The experiment's claims, tested: one verdict and one plain sentence each.

A claim (``claims:`` in the experiment file) says "arm beats against" on the pooled primary
measure. Its tests are the report's paired tests of the two arms (same seeds, shared
collections): a two-level bootstrap over seeds and queries and a sign-flip randomisation test of
"difference = 0", and a one-sided bootstrap test of "difference >= min_effect"; each is
Holm-corrected across the claims tested so far (a family of its own: the tables' Holm runs over
their comparisons with the baseline loss). The verdict:

- **holds**: the difference is positive and significant by both tests;
- **does not hold at this scale**: it is significantly negative by both tests, or a gain of
  ``min_effect`` or more is rejected (the smallest difference the claim would need to matter) at
  one-sided level ALPHA / 2, so that a rejected gain lies above the 95% interval the sentence prints;
- **inconclusive**: neither; **not run yet**: an arm has no finished cell on a shared seed.

One seed makes a verdict provisional: its interval covers queries only, not training's variance.
"""

from __future__ import annotations

from typing import Any

from bixse.evaluation.significance import holm_correction
from bixse.experiment.aggregate import ALPHA, arm_id, common_ground, difference_matrices, group_arms, paired_test
from bixse.experiment.config import SELECTOR_KEYS, Claim
from bixse.experiment.statistics import bootstrap_p_at_least

RULE = ("holds = the difference is positive and significant by both tests; does not hold at this scale = "
        "significantly negative, or a gain of the claim's min_effect (0.01 unless stated) rejected by a "
        "one-sided bootstrap test at 2.5% (above the 95% interval); inconclusive = neither; every p-value Holm-corrected across the claims "
        "tested")
HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, NOT_RUN = ("holds", "does not hold at this scale", "inconclusive",
                                               "not run yet")
_ADJUSTED = (("boot_p", "boot_p_holm"), ("rand_p", "rand_p_holm"), ("at_least_p", "at_least_p_holm"))


def _arm_name(arm: tuple[Any, ...]) -> str:
    return arm_id(dict(zip(SELECTOR_KEYS, arm)))


def _shown(name: str, value: Any) -> str:
    return {"batch_size": f"b{value}", "max_steps": f"n{value}"}.get(name, str(value))


def _contrast(claim: Claim) -> str:
    """"bixse − infonce (nfcorpus-human, flip0.1)": the fields that differ, then the labels and
    transform they share, and the batch or budget where the claim's arm names them (to tell it
    from an arm that differs only there)."""
    fields = list(zip(SELECTOR_KEYS, claim.arm, claim.against))
    left = " · ".join(_shown(name, mine) for name, mine, theirs in fields if mine != theirs)
    right = " · ".join(_shown(name, theirs) for name, mine, theirs in fields if mine != theirs)
    shared = [_shown(name, mine) for index, (name, mine, theirs) in enumerate(fields)
              if mine == theirs and (index < 3 or name in claim.named)]
    return f"{left} − {right}" + (f" ({', '.join(shared)})" if shared else "")


def _test(claim: Claim, by_arm: dict[str, dict[int, dict[str, Any]]], measure: str,
          n_resamples: int) -> dict[str, Any]:
    record: dict[str, Any] = {"claim": claim.text, "paper": claim.paper, "arm": _arm_name(claim.arm),
                              "against": _arm_name(claim.against), "contrast": _contrast(claim),
                              "measure": measure, "min_effect": claim.min_effect}
    # The config refuses claimed arms evaluated on two collection sets, so the plain arm id is the one.
    cells, base_cells = by_arm.get(record["arm"], {}), by_arm.get(record["against"], {})
    seeds, targets = common_ground(cells, base_cells)
    if targets:
        differences = difference_matrices(cells, base_cells, seeds, targets, measure)
        record.update(seeds=seeds, collections=len(targets),
                      **paired_test(cells, base_cells, seeds, targets, measure, n_resamples),
                      at_least_p=bootstrap_p_at_least(differences, claim.min_effect, n_resamples))
    return record


def evaluate_claims(results: list[dict[str, Any]], claims: tuple[Claim, ...], measure: str,
                    n_resamples: int = 2_000) -> list[dict[str, Any]]:
    """Each claim with its difference, interval, Holm-adjusted p-values, verdict and sentence."""
    by_arm, _ = group_arms(results)
    records = [_test(claim, by_arm, measure, n_resamples) for claim in claims]
    tested = [r for r in records if "delta" in r]
    for test, key in _ADJUSTED:
        for record, adjusted in zip(tested, holm_correction([r[test] for r in tested])):
            record[key] = adjusted
    for record in records:
        record["family"] = len(tested)
        record["verdict"], record["reason"] = claim_verdict(record)
        record["sentence"] = claim_sentence(record)
    return records


def claim_verdict(record: dict[str, Any]) -> tuple[str, str]:
    """The verdict on a tested claim and the reason behind it (see the module docstring)."""
    if "delta" not in record:
        return NOT_RUN, ""
    significant = record["boot_p_holm"] < ALPHA and record["rand_p_holm"] < ALPHA
    # At ALPHA / 2: a one-sided test at ALPHA could reject a gain the printed 95% interval still holds.
    small = record["at_least_p_holm"] < ALPHA / 2
    effect = f"{record['min_effect']:g}"
    if significant and record["delta"] > 0:
        return HOLDS, f"a gain, though one of {effect} or more is rejected" if small else ""
    if significant and record["delta"] < 0:
        return DOES_NOT_HOLD, "the difference is significantly negative"
    if small:
        return DOES_NOT_HOLD, (f"a gain of {effect} or more is rejected "
                               f"(one-sided p {record['at_least_p_holm']:.2g})")
    return INCONCLUSIVE, ""


def _signed(value: float) -> str:
    return f"{value:+.3f}".replace("-", "−")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def claim_sentence(record: dict[str, Any]) -> str:
    """One markdown line: the claim, its source's figures, the verdict and the interval behind it."""
    paper = f" ({record['paper']})" if record["paper"] else ""
    if "delta" not in record:
        return f"**{record['claim']}**{paper}: {NOT_RUN} ({record['contrast']})."
    seeds = len(record["seeds"])
    provisional = " (provisional: one seed)" if seeds == 1 else ""
    reason = f"; {record['reason']}" if record["reason"] else ""
    return (f"**{record['claim']}**{paper}: {record['verdict']}{provisional}: {record['contrast']} = "
            f"{_signed(record['delta'])} [{_signed(record['ci'][0])}, {_signed(record['ci'][1])}] pooled "
            f"{record['measure']} over {_plural(record['collections'], 'collection')}, {_plural(seeds, 'seed')} "
            f"(p {record['boot_p_holm']:.2g} bootstrap / {record['rand_p_holm']:.2g} randomisation, Holm over "
            f"{_plural(record['family'], 'tested claim')}){reason}.")
