"""mpsomics: gene subcommunities in expression data with Matrix Product State classifiers."""

__version__ = "0.1.0"
