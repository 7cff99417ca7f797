# Stage 6: assemble sampled coarse MOFs back to atoms (CIFs with bonds).


rule assemble_mofs:
    input:
        coarse=rules.sample_coarse.output.coarse,
        blocks=rules.preprocess.output.blocks,
        instances=rules.preprocess.output.instances,
    output:
        table="results/assemble/{run}/assembled.parquet",
        cifs=directory("results/assemble/{run}/cif"),
    params:
        cfg=config["assemble"],
    log:
        "logs/assemble/{run}/assemble_mofs.log",
    conda:
        "../envs/mofgen.yaml"
    script:
        "../workflow/scripts/assemble_mofs.py"
