"""Text side of LGM-CL: molecule descriptions (rdkit, LLM or imported) and randomised SMILES."""
