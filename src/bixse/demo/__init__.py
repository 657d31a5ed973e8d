"""The demo: BiXSE vs InfoNCE vs multi-positive losses on the embedded collection, end to end.

>>> from bixse.demo import PRESETS, run_demo
>>> result = run_demo(PRESETS["cpu"])                      # doctest: +SKIP
>>> result.report                                          # doctest: +SKIP
PosixPath('bixse-demo/report.md')
"""

from bixse.demo.config import PRESETS, DemoConfig
from bixse.demo.pipeline import DemoResult, run_demo

__all__ = ["PRESETS", "DemoConfig", "DemoResult", "run_demo"]
