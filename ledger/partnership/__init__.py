"""The partnership as a whole: the orchestrators that run every area in order — the period close,
the founding from a charter, the whole-product ``verify``, and the demo's story."""
