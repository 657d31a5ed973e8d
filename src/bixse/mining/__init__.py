"""Candidate mining: which (query, document) pairs to spend judging on.

>>> from bixse.collections import load
>>> from bixse.mining import mine_candidates, write_candidates
>>> candidates = mine_candidates(load("cranfield"), "train", "bm25", top_k=20)
>>> write_candidates("candidates.jsonl", candidates)            # doctest: +SKIP
"""

from bixse.mining.candidates import Candidate, read_candidates, read_run_candidates, with_texts, write_candidates
from bixse.mining.mine import mine_candidates, mine_to_file

__all__ = ["Candidate", "mine_candidates", "mine_to_file", "read_candidates", "read_run_candidates", "with_texts", "write_candidates"]
