# Stage 6: assemble sampled coarse MOFs back to atoms (CIFs with bonds).


rule assemble_mofs:
    input:
        coarse=rules.sample_coarse.output.coarse,
        # library blocks only, with training geometries (the decoder chooses no other)
        blocks=rules.embed_building_blocks.output.library,
        instances=rules.preprocess.output.instances,
    output:
        table="results/assemble/{run}/assembled.parquet",
        cifs=directory("results/assemble/{run}/cif"),
    params:
        stage="mof.assemble",
        cfg=config["assemble"],
    log:
        "logs/assemble/{run}/assemble_mofs.log",
    conda:
        "../envs/mofgen.yaml"
    script:
        "../workflow/scripts/run_stage.py"
