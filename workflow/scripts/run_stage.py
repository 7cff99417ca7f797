"""The rule script of every stage but training (one script, one calling convention).

Calls ``run(inputs, outputs, cfg, threads=..., say=...)`` of the module named by the rule's
``stage`` param with the rule's named inputs and outputs (dicts of paths), its ``cfg`` param (a
config section) and its threads, printing to the rule's log; ``run_name`` is the ``{run}``
wildcard for the stages that take one. See :mod:`mof.stage` for the convention.
"""

import importlib
import inspect

from mof.logs import stage_log

sm = snakemake  # noqa: F821 - injected by Snakemake

with stage_log(sm.log[0]) as say:
    run = importlib.import_module(sm.params.stage).run
    extra = {}
    if "run_name" in inspect.signature(run).parameters and "run" in sm.wildcards.keys():
        extra["run_name"] = sm.wildcards.run
    run(
        dict(sm.input.items()),
        dict(sm.output.items()),
        sm.params.cfg,
        threads=sm.threads,
        say=say,
        **extra,
    )
