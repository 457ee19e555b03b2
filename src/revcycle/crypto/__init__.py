"""Field-level encryption of PHI at rest: keyring, sealed column types, blind indexes, rotation.

See docs/phi-encryption.md.
"""
