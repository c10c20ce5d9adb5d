"""Statistics of timings: the sampler and its stopping rule (timing), intervals and their quantiles
(intervals), variances pooled across a run's cells (pooling), and paired ratios and verdicts (ratios).
"""
