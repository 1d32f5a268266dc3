"""Loaders of the paper's eight datasets in their published file formats (Table 2, Sec. 4.1)."""
