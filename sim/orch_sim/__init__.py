"""`orch sim`: a ComfyUI-compatible test server (ComfyUI 0.3.64's HTTP routes, websocket messages, binary
preview frames and validation errors, as recorded in the shared fixtures).

Run it with `python -m orch_sim --port 8188 --data-dir DIR` or `orch sim …`; tests start it through
`tests.helpers.sim.start_sim`. Layout:

    cli            options → SimConfig → uvicorn
    app            the ASGI app: routes under /x and /api/x, origin check or CORS, the web frontend
    app_state      SimServer: one process's config, dirs, catalogue, queue, clients, worker, logs
    comfy_routes   ComfyUI's core routes and /ws          frontend   editor support (/userdata, /settings, …)
    control        /sim/* (state, faults, restart, GPU)   gpu        the fake GPU (utilisation, VRAM, temperature)
    validation     POST /prompt verdicts                  graph      execution order and cache keys
    runner         the worker and its message sequence    hub        websocket clients and routing
    prompt_queue   queue and history                      files      /view and uploads
    nodeset        the seam to the node implementations in `orch_sim.nodes`

Errors: the sim answers HTTP errors with ComfyUI's statuses and bodies rather than raising; inside it

    FileError(status)        a /view or upload request refused (400 / 403 / 404), answered with an empty body
    ValueError               a bad start-up option or /sim/faults value (CLI usage error / HTTP 400)
    node exceptions          any exception an executor raises becomes `execution_error`
                             (`SimInterrupted` becomes `execution_interrupted`)
"""
