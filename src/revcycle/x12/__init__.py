"""X12 5010 EDI as pure code: the streaming tokenizer and envelope checks (core), the writer,
code tables, eligibility 270/271 (eligibility) and the payer simulator (simulator).

See docs/x12.md. Nothing here touches the database, the clock or the network.
"""
