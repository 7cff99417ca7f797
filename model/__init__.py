"""Neural side of the pipeline: Gaussians, Invariant Gaussian Attention, diffusion, encoder,
training and sampling. Filled in by the embedding and diffusion stages."""
