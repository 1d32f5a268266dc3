"""Running the study: `matrix` resolves the command line into cells and hands them to an executor (`executors/`),
which runs each `cell` (benchmark items -> frozen encoder or `features` cache -> connector -> frozen LLM -> `train`
-> `generate` -> metrics -> one results file) while `progress` shows the matrix live."""
