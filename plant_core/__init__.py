"""PLANT Coder's library: ICD-10-CM codes, corpora, and the PLANT / LANT label-attention models.

Importing the package is cheap (no torch); the inference API lives in `plant_core.coder`.
"""

__version__ = "0.1.0"
