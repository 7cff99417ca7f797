# Stage 1: choose the structures (CoRE MOF from the core-mof wheel, or a folder of CIFs).


rule select_dataset:
    output:
        table="results/dataset/structures.parquet",
        excluded="results/dataset/excluded.parquet",
    params:
        stage="mof.dataset",
        cfg=config["dataset"],
    log:
        "logs/dataset/select_dataset.log",
    conda:
        "../envs/mofgen.yaml"
    script:
        "../workflow/scripts/run_stage.py"
