# Stage 4: train the IGA coarse diffusion model with DDP (torchrun): NCCL on GPUs, gloo on CPU.
# The number of processes is the number of GPUs the job was given (resources.gpu, set in the
# profile), or 1 process on CPU.
import json


rule train_diffusion:
    input:
        mofs=rules.preprocess.output.mofs,
        embeddings=rules.embed_building_blocks.output.embeddings,
    output:
        model="results/train/denoiser.pt",
        loss="results/train/loss.csv",
        plot=report(
            "results/train/loss.png",
            caption="../workflow/report/train_loss.rst",
            category="Training",
            labels={"figure": "diffusion loss"},
        ),
        metrics="results/train/metrics.json",
    params:
        cfg=json.dumps(config["train"]),
    log:
        "logs/train/train_diffusion.log",
    resources:
        gpu=0,
    conda:
        "../envs/mofgen.yaml"
    shell:
        "NPROC=$(( {resources.gpu} > 0 ? {resources.gpu} : 1 )); "
        "python -m torch.distributed.run --standalone --nproc_per_node $NPROC "
        "-m model.train --mofs {input.mofs} --embeddings {input.embeddings} "
        "--config-json {params.cfg:q} --model {output.model} --loss {output.loss} "
        "--plot {output.plot} --metrics {output.metrics} --threads {threads} --log-file {log}"
