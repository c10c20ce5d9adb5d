"""Facts about the machine: host and process facts (envinfo), accelerators, calibration (peaks,
stored per machine), memory counters and the roofline fields that calibration gives each row.
"""
