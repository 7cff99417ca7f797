"""Rule relax_uff: thin wrapper around mof.relax.run."""

from mof.logs import stage_log
from mof.relax import run

with stage_log(snakemake.log[0]) as say:  # noqa: F821 - injected by Snakemake
    run(
        snakemake.input.table,  # noqa: F821
        snakemake.input.cifs,  # noqa: F821
        snakemake.output.table,  # noqa: F821
        snakemake.output.cifs,  # noqa: F821
        snakemake.params.cfg,  # noqa: F821
        processes=snakemake.threads,  # noqa: F821
        say=say,
    )
