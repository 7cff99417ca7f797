"""Rule embed_building_blocks: thin wrapper around model.embed.run."""

from model.embed import run
from mof.logs import stage_log

with stage_log(snakemake.log[0]) as say:  # noqa: F821 - injected by Snakemake
    run(
        snakemake.input.instances,  # noqa: F821
        dict(snakemake.output.items()),  # noqa: F821
        snakemake.params.cfg,  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
        say=say,
        blocks_path=snakemake.input.blocks,  # noqa: F821
    )
