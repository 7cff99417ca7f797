# Stage 9: the paper tables: funnel, novelty/uniqueness, failed checks, property distributions.


rule report:
    input:
        coarse=rules.sample_coarse.output.coarse,
        assembled=rules.assemble_mofs.output.table,
        relaxed=rules.relax_uff.output.table,
        cifs=rules.relax_uff.output.cifs,
        validation=rules.validate_mofs.output.table,
        structures=rules.select_dataset.output.table,
        mofs=rules.preprocess.output.mofs,
    output:
        tables="results/report/{run}/tables.md",
        funnel=report(
            "results/report/{run}/funnel.csv",
            caption="../workflow/report/funnel.rst",
            category="Generation report",
            labels={"run": "{run}", "table": "funnel"},
        ),
        relax=report(
            "results/report/{run}/relax.csv",
            caption="../workflow/report/relax.rst",
            category="Generation report",
            labels={"run": "{run}", "table": "relaxation"},
        ),
        checks="results/report/{run}/checks.csv",
        novelty="results/report/{run}/novelty.csv",
        plot=report(
            "results/report/{run}/properties.png",
            caption="../workflow/report/properties.rst",
            category="Generation report",
            labels={"run": "{run}", "figure": "property histograms"},
        ),
    params:
        stage="mof.report",
        # min_pld, named in the tables; changing it reruns validate_mofs and this rule
        cfg=config["validate"],
    log:
        "logs/report/{run}/report.log",
    conda:
        "../envs/mofgen.yaml"
    script:
        "../workflow/scripts/run_stage.py"
