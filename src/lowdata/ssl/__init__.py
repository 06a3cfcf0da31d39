"""Semi-supervised learning: methods that plug into the loop's `ssl=` argument (FixMatch, UDA, GAN-BERT), drivers
around it (self-training), and graph-based propagation over embeddings."""
