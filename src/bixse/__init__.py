"""bixse: train dense retrievers from graded relevance labels (BiXSE) and measure the result."""

__version__ = "0.1.0"
