"""Rule preprocess: thin wrapper around mof.preprocess.run."""

from mof.logs import stage_log
from mof.preprocess import run

with stage_log(snakemake.log[0]) as say:  # noqa: F821 - injected by Snakemake
    run(
        snakemake.input.table,  # noqa: F821
        dict(snakemake.output.items()),  # noqa: F821
        snakemake.params.cfg,  # noqa: F821
        processes=snakemake.threads,  # noqa: F821
        say=say,
    )
