"""Published claims: their files (claim), what a run measured for them (measured), their verdicts (verdict),
and re-running them here (reproduce).
"""
