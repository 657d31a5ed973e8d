"""Shared batches for the loss tests: one labelled batch every layout can read, and a tiny dataset."""

from __future__ import annotations

import pytest
import torch

from bixse.losses.batch import EMPTY_SLOT

# Rows of a batch in the common layout (M = 3) that every loss layout can read: slot 0 is a graded
# positive (>= 0.5, so multi-positive losses see it), some rows have a second positive, hard
# negatives carry their own graded scores (teacher scores for scored_list), -1 marks empty slots.
GENERIC_LABELS = torch.tensor([
    [1.0, 0.25, 0.0],
    [0.75, 0.5, 0.0],
    [1.0, 0.0, -1.0],
    [0.5, 0.75, 0.25],
    [EMPTY_SLOT, 0.75, 0.0],  # no document_0: pointwise/contrastive losses skip this row, so the
    [0.75, 0.0, 0.25],        # two halves of the batch count different numbers of rows
])


def make_generic_batch(dim: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(query (B, d), documents (B, M, d), labels (B, M), doc_keys (B, M)), float64, with one duplicate:
    row 3's slot 2 carries row 0's document_0, so it must be masked for row 0 (and row 0's slot 0 for row 3)."""
    generator = torch.Generator().manual_seed(seed)
    rows, slots = GENERIC_LABELS.shape
    query = torch.randn(rows, dim, generator=generator, dtype=torch.float64)
    docs = torch.randn(rows, slots, dim, generator=generator, dtype=torch.float64)
    docs[3, 2] = docs[0, 0]
    keys = torch.arange(rows * slots).reshape(rows, slots)
    keys[3, 2] = keys[0, 0]
    return query, docs, GENERIC_LABELS.clone().double(), keys


@pytest.fixture()
def generic_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return make_generic_batch()


QUERY_TOPICS = [
    ("supersonic wing drag", "Wave drag of swept wings rises sharply near Mach one.",
     "Wings of subsonic gliders are long and thin.", "The recipe needs two cups of flour."),
    ("boundary layer transition", "Laminar boundary layers become turbulent at high Reynolds number.",
     "Turbulence in pipes depends on the Reynolds number.", "The cat slept on the warm windowsill."),
    ("heat transfer at hypersonic speed", "Stagnation point heating grows with flight speed cubed.",
     "Conduction in metal plates follows Fourier's law.", "Tickets for the concert sold out quickly."),
    ("shock wave reflection", "An oblique shock reflects from a wall as a weaker shock.",
     "Sound waves reflect from canyon walls as echoes.", "She planted tomatoes in the garden."),
    ("buckling of thin cylinders", "Axially compressed thin cylindrical shells buckle below theory.",
     "Columns under load can fail by bending.", "The train to the coast leaves at noon."),
    ("flutter of aircraft panels", "Supersonic panel flutter is a self-excited oscillation of skins.",
     "Flags flutter in the wind.", "Chess openings reward careful study."),
    ("jet noise reduction", "Chevron nozzles mix the exhaust and lower jet noise.",
     "Mufflers quiet car engines.", ""),
    ("slip flow in rarefied gas", "At high Knudsen numbers gas slips along the wall.",
     "Thin air at altitude lowers engine power.", "The museum opens on Sundays."),
]
QUERY_LABELS = [
    [1.0, 0.5, 0.0], [1.0, 0.25, 0.0], [0.75, 0.5, 0.0], [1.0, 0.5, 0.0],
    [0.75, 0.25, 0.0], [1.0, 0.0, 0.0], [1.0, 0.25, -1.0], [0.75, 0.5, 0.0],
]


@pytest.fixture()
def tiny_training_dataset():
    """8 rows in the common layout (M = 3): a graded positive, a partly relevant document, an unrelated one."""
    from datasets import Dataset

    columns: dict[str, list] = {"query": [], "document_0": [], "document_1": [], "document_2": [], "label": []}
    for (query, *documents), labels in zip(QUERY_TOPICS, QUERY_LABELS):
        columns["query"].append(query)
        for slot, document in enumerate(documents):
            columns[f"document_{slot}"].append(document)
        columns["label"].append(labels)
    return Dataset.from_dict(columns)
