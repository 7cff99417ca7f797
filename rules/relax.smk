# Stage 7: UFF / UFF4MOF relaxation of the assembled structures with LAMMPS (mof/relax/).


rule relax_uff:
    input:
        table=rules.assemble_mofs.output.table,
        cifs=rules.assemble_mofs.output.cifs,
    output:
        table="results/relax/{run}/relaxed.parquet",
        cifs=directory("results/relax/{run}/cif"),
    params:
        stage="mof.relax",
        cfg=config["relax"],
    log:
        "logs/relax/{run}/relax_uff.log",
    conda:
        "../envs/mofgen.yaml"
    script:
        "../workflow/scripts/run_stage.py"
