"""Rule select_dataset: thin wrapper around mof.dataset.run."""

from mof.dataset import run
from mof.logs import stage_log

with stage_log(snakemake.log[0]) as say:  # noqa: F821 - injected by Snakemake
    run(
        snakemake.params.cfg,  # noqa: F821
        snakemake.output.table,  # noqa: F821
        say=say,
        excluded=snakemake.output.excluded,  # noqa: F821
    )
