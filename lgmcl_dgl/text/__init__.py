"""Text side: descriptions, SMILES views, the augment step and the tokenizer."""
