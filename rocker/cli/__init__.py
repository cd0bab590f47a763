"""The command line: click commands that parse, call one library function, and render.

Commands are registered in rocker.cli.main.COMMANDS and imported only when invoked, so that
`rocker run` never pays for the imports of `rocker apply` (pydantic, yaml) or networking.
"""
