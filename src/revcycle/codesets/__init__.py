"""Official code sets loaded from their publishers' release files (ICD-10-CM, ...)."""
