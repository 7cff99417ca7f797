# Stage 3: contrastive building-block embedding (SE(3)-invariant encoder, ECFP4 positives).


rule embed_building_blocks:
    input:
        instances=rules.preprocess.output.instances,
        blocks=rules.preprocess.output.blocks,
    output:
        encoder="results/embed/encoder.pt",
        embeddings="results/embed/embeddings.parquet",
        instances="results/embed/instance_embeddings.parquet",
        loss="results/embed/loss.csv",
        plot=report(
            "results/embed/loss.png",
            caption="../workflow/report/embed_loss.rst",
            category="Training",
            labels={"figure": "embedding loss"},
        ),
        metrics="results/embed/metrics.json",
        # the decoding library's blocks with the geometry of a training instance
        library="results/embed/library_blocks.parquet",
    params:
        stage="model.embed",
        cfg=config["embed"],
    log:
        "logs/embed/embed_building_blocks.log",
    resources:
        gpu=0,
    conda:
        "../envs/mofgen.yaml"
    script:
        "../workflow/scripts/run_stage.py"
