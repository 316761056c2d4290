"""Text side of LGM-CL: descriptions (rdkit, LLM or imported), randomised SMILES, the augment step, the tokenizer."""
