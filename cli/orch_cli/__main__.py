from orch_cli.main import app

app()
