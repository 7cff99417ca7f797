# Stage 8: MOFChecker checks and zeo++ porosity of every relaxed CIF (relaxed, not_converged,
# topology_changed: the report counts both MOFDiff's definition and the strict one).


rule validate_mofs:
    input:
        table=rules.relax_uff.output.table,
        cifs=rules.relax_uff.output.cifs,
    output:
        table="results/validate/{run}/validation.parquet",
    params:
        stage="mof.validate",
        cfg=config["validate"],
    log:
        "logs/validate/{run}/validate_mofs.log",
    conda:
        "../envs/mofgen.yaml"
    script:
        "../workflow/scripts/run_stage.py"
