"""Where results live: `results` (the long-format parquet schema, one file per run, tolerant reads) and `atomic`
(the one temp-file-and-rename write every writer of the project uses). Imports no torch."""
