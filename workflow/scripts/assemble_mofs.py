"""Rule assemble_mofs: thin wrapper around mof.assemble.run."""

from mof.assemble import run
from mof.logs import stage_log

with stage_log(snakemake.log[0]) as say:  # noqa: F821 - injected by Snakemake
    run(
        snakemake.input.coarse,  # noqa: F821
        snakemake.input.blocks,  # noqa: F821
        snakemake.output.table,  # noqa: F821
        snakemake.output.cifs,  # noqa: F821
        snakemake.params.cfg,  # noqa: F821
        processes=snakemake.threads,  # noqa: F821
        say=say,
        instances_path=snakemake.input.instances,  # noqa: F821
    )
