"""What the sandbox runs on: its clock, quota table, fault injection and request log.

A leaf room: imports nothing of the sandbox's other rooms.
"""
