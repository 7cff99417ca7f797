# Stage 5: batched sampling of coarse MOFs from the trained model, decoded to library blocks.


rule sample_coarse:
    input:
        model=rules.train_diffusion.output.model,
        embeddings=rules.embed_building_blocks.output.embeddings,
        blocks=rules.embed_building_blocks.output.library,
        instances=rules.preprocess.output.instances,
        mofs=rules.preprocess.output.mofs,
    output:
        coarse="results/sample/{run}/coarse.parquet",
    params:
        stage="model.sample",
        cfg=config["sample"],
    log:
        "logs/sample/{run}/sample_coarse.log",
    resources:
        gpu=0,
    conda:
        "../envs/mofgen.yaml"
    script:
        "../workflow/scripts/run_stage.py"
