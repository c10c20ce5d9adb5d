"""Published claims: their files and verdicts (core) and re-running them here (reproduce).
"""
