"""The ComfyUI protocol: wire models (``wire``), binary frames (``binary``), errors (``errors``),
the async client (``client``), the object_info cache (``object_info_cache``) and prompt
reconciliation (``reconcile``). Import from the submodules; this package imports nothing, so the
simulator can use ``wire`` and ``binary`` without pulling in the client.
"""
