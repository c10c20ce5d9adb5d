"""The expression language of ``kind: expression`` workloads: parsing (expression), code for each
framework (expression_code) and the FLOPs and bytes an expression moves (expression_cost).
"""
