"""The run engine: a project's graph executed across the fleet, once per sweep item.

model    Run, RunItem, RunNode: what the fold keeps of a run (its document snapshot and job ids)
fold     run events, and JobSubmitted of a run's jobs, folded into `SchedulerState.runs`
decide   the JobSubmitted / JobCancellationRequested a run asks for now (pure)
views    `runs.get` / `runs.list` answers; node and run states derived from the jobs
"""
