"""Rule select_dataset: thin wrapper around mof.dataset.run."""

from mof.dataset import run
from mof.logs import stage_log

with stage_log(snakemake.log[0]) as say:  # noqa: F821 - injected by Snakemake
    run(snakemake.params.cfg, snakemake.output.table, say=say)  # noqa: F821
