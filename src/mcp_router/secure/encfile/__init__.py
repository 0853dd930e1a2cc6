"""The encrypted token file: its byte format (:mod:`.format`), its cryptography
(:mod:`.crypto`) and the machine identity its key is derived from (:mod:`.machine`)."""
