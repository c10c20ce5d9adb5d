"""What a run writes and reads back: the result records of cells and rounds, run directories,
CSV and the pandas frame (results).
"""
