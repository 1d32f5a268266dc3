"""Connector methods: extraction, mapping, injection and fine-tuning blocks (Figure 1) and the presets built from them."""
