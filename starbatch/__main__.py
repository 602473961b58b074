from starbatch.cli import app

app(prog_name="starbatch")
