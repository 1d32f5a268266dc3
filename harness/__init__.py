"""The harness around the methods and benchmarks; its folders follow Figure 1's pipeline from command to table:

    cli.py           the command line of run_matrix.py (flags -> a mode)
    config/          a run as typed, hashed settings (RunConfig) and the named profiles that fill them
    runner/          the matrix of cells -> one cell (encoder or feature cache -> connector -> frozen LLM ->
                     training -> generation -> metrics) on an executor (inline, local processes, SLURM)
    backbones/       the frozen encoders and LLMs behind one registry
    store/           the results rows (parquet schema, atomic writes, tolerant reads)
    report/          results rows -> selected cells -> ranks and scores -> tables (Markdown, LaTeX, CSV)
    doctor.py        environment checks (Java, metrics jars, backbones, data, SLURM, GPUs)
    errors.py        exception types shared across the layers

Dependencies point one way: cli -> runner -> methods, backbones, benchmarks, store; report reads the store and the
benchmark registry and imports no torch (tests/test_architecture.py checks it).
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
