# Stage 2: decompose every structure into metal nodes and organic linkers with Gaussians.


rule preprocess:
    input:
        table=rules.select_dataset.output.table,
    output:
        mofs="results/preprocess/mofs.parquet",
        instances="results/preprocess/block_instances.parquet",
        blocks="results/preprocess/building_blocks.parquet",
        rejects="results/preprocess/rejects.parquet",
    params:
        stage="mof.preprocess",
        cfg=config["preprocess"],
    log:
        "logs/preprocess/preprocess.log",
    conda:
        "../envs/mofgen.yaml"
    script:
        "../workflow/scripts/run_stage.py"
