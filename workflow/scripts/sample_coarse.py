"""Rule sample_coarse: thin wrapper around model.sample.run."""

from model.sample import run
from mof.logs import stage_log

with stage_log(snakemake.log[0]) as say:  # noqa: F821 - injected by Snakemake
    run(
        snakemake.input.model,  # noqa: F821
        snakemake.input.embeddings,  # noqa: F821
        snakemake.input.blocks,  # noqa: F821
        snakemake.output.coarse,  # noqa: F821
        snakemake.params.cfg,  # noqa: F821
        run_name=snakemake.wildcards.run,  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
        say=say,
    )
