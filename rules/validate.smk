# Stage 7: MOFChecker checks and zeo++ porosity of the assembled structures.
# (The UFF relaxation stage, rule relax_uff, will sit between assembly and validation.)


rule validate_mofs:
    input:
        table=rules.assemble_mofs.output.table,
        cifs=rules.assemble_mofs.output.cifs,
    output:
        table="results/validate/{run}/validation.parquet",
    params:
        cfg=config["validate"],
    log:
        "logs/validate/{run}/validate_mofs.log",
    conda:
        "../envs/mofgen.yaml"
    script:
        "../workflow/scripts/validate_mofs.py"
