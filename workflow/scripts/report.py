"""Rule report: thin wrapper around mof.report.run."""

from pathlib import Path

from mof.logs import stage_log
from mof.report import run

with stage_log(snakemake.log[0]) as say:  # noqa: F821 - injected by Snakemake
    run(
        dict(snakemake.input.items()),  # noqa: F821
        str(Path(snakemake.output.tables).parent),  # noqa: F821
        snakemake.wildcards.run,  # noqa: F821
        validate_cfg=snakemake.params.validate,  # noqa: F821
        say=say,
    )
